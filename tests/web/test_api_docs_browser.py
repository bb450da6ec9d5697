"""/docs and /redoc in headless Chromium with every request off this machine aborted: the pages
render the API's operations from the service's own assets, and ask nothing of a CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from dunning.app import create_app
from dunning.config import Settings
from tests.server import serving
from tests.web.test_browser import ARGS, CHROMIUM, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# ReDoc's sidebar always asks its CDN for its own logo; offline the image fails and is hidden. It is
# the one request off the machine either page makes.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def site(tmp_path):
    app = create_app(
        Settings(_env_file=None, database_url="sqlite://", var_dir=tmp_path / "var"), embedded_worker=False
    )
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    with serving(app) as base:
        yield base, operations


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.outside, page.errors = [], []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def test_swagger_ui_renders_every_operation_without_leaving_the_machine(site, page):
    base, operations = site
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations
    bulk = page.locator(".opblock-post:has([data-path='/v1/invoices/bulk'])")
    assert bulk.count() == 1 and "POST" in bulk.inner_text()
    shot(page, "api-docs")
    assert page.outside == [] and page.errors == []


def test_redoc_renders_the_operations_without_leaving_the_machine(site, page):
    base, operations = site
    page.goto(f"{base}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", state="attached")
    assert page.locator("[data-section-id^='operation/']").count() == operations
    assert any(
        "/v1/invoices/bulk" in text for text in page.locator("[data-section-id^='operation/']").all_inner_texts()
    )
    assert set(page.outside) <= {REDOC_LOGO} and page.errors == []
