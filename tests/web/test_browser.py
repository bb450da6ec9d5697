"""The desk and the portal in headless Chromium, against the app served by uvicorn on loopback.

A manager signs in, sees the aging chart and approves a registered letter from the worklist; a
customer opens the portal link of an email the cycle and the dispatcher really sent, promises a
date, and the desk shows the case paused; a tampered link is refused. Screenshots of every page
go to test-artifacts/browser/.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from dunning.app import create_app
from dunning.policies import service as policies
from tests.builders import customer, invoice
from tests.outbox.support import REMINDER_THEN_REGISTERED, cycle, dispatch, messages, seed, use_policy
from tests.server import serving
from tests.web.support import PASSWORD, make_user

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.committed,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
              pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")]
sync_api = pytest.importorskip("playwright.sync_api")

POLICY = REMINDER_THEN_REGISTERED


@pytest.fixture
def world(committed_db, clock, settings, request):
    """Acme's registered letter waits for approval; Dupont was emailed a reminder with its portal link."""
    db = committed_db
    with db.session() as session:
        policies.ensure_default(session, clock)
    use_policy(db, clock, POLICY)
    ids = seed(db, clock, [customer("UK1", name="Acme Widgets Ltd", language="en", country="GB", timezone="Europe/London",
                              phone="+447911123456", address="Unit 4, Riverside Park\nLeeds LS1 4AB"),
                     customer("FR1", name="Dupont SARL", address=None)],
         [*(invoice(f"A{i}", "UK1", due=date(2026, 2, 20) + timedelta(days=i), currency="GBP", total="400.00")
            for i in range(3)),
          invoice("D1", "FR1", due=date(2026, 3, 1), total="1250.00"),
          invoice("D2", "FR1", due=date(2026, 3, 25), total="310.00")])
    make_user(db, clock, "manager", "maria@example.com")
    app = create_app(settings, database=db, clock=clock, embedded_worker=False)
    with serving(app) as base:
        # the links in the messages must point at this server
        app.state.settings = settings = settings.model_copy(update={"public_url": base})
        cycle(db, clock, settings)
        assert dispatch(db, clock, settings)["sent"] == 2
        clock.advance(days=1)
        cycle(db, clock, settings)
        yield base, db, ids


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_desk_and_the_portal_in_a_browser(world, browser):
    base, db, ids = world
    letter = messages(db, step_key="reg", channel="letter")[0]
    assert letter.status == "awaiting_approval"
    email = messages(db, customer_id=ids["FR1"], channel="email")[0]  # Dupont's reminder, as sent
    portal_url = re.search(r"http://127\.0\.0\.1:\d+/portal/[\w.\-]+", email.body_text).group(0)

    desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    desk.set_default_timeout(10_000)
    desk.goto(f"{base}/desk")
    desk.wait_for_selector("form#login")
    shot(desk, "01-login")
    desk.fill("#email", "maria@example.com")
    desk.fill("#password", PASSWORD)
    desk.click("form#login button[type=submit]")

    # the overview, with the aging chart of each currency
    desk.wait_for_selector("#currency-GBP svg.aging")
    assert desk.locator("#currency-GBP [data-bucket=d1_30] rect").get_attribute("height") != "0"
    assert desk.locator("#currency-EUR svg.aging").is_visible()
    shot(desk, "02-overview")

    # the registered letter waits in the worklist; approving it queues it
    desk.click("nav >> text=Worklist")
    row = desk.locator(f"tr[data-approval='{letter.id}']")
    row.wait_for()
    assert "Acme Widgets Ltd" in row.inner_text()
    shot(desk, "03-worklist")
    row.locator("button[data-action=approve]").click()
    desk.wait_for_selector(".flash.ok >> text=Approved")
    assert desk.locator(f"tr[data-approval='{letter.id}']").count() == 0
    assert messages(db, id=letter.id)[0].status == "queued"
    desk.goto(f"{base}/desk/outbox?status=queued")
    desk.wait_for_selector(f"tr[data-message='{letter.id}'] >> text=queued")
    shot(desk, "04-outbox-queued")

    # the customer follows the link of the email they received, and promises a date
    customer = browser.new_context(viewport={"width": 1000, "height": 900}, locale="fr-FR").new_page()
    customer.set_default_timeout(10_000)
    customer.goto(portal_url)
    customer.wait_for_selector("#account-EUR")
    assert customer.locator("[data-invoice=N-D1]").is_visible()
    shot(customer, "05-portal")
    promised = (date(2026, 3, 3) + timedelta(days=7)).isoformat()
    customer.fill("#promised-EUR", promised)
    customer.click("#promise-EUR button[type=submit]")
    customer.wait_for_selector("#done")
    assert "promesse est enregistrée" in customer.inner_text("#done")
    shot(customer, "06-portal-promised")

    # ... and the desk shows the case paused
    desk.goto(f"{base}/desk/customers/FR1")
    desk.wait_for_selector("#case-EUR[data-state=paused]")
    assert "promise" in desk.inner_text("#case-EUR")
    assert desk.locator("#timeline [data-kind=promise]").count() == 1
    shot(desk, "07-customer-paused")

    # a tampered link shows a plain refusal and nothing of the customer
    tampered = portal_url[:-3] + ("xyz" if not portal_url.endswith("xyz") else "abc")
    response = customer.goto(tampered)
    assert response.status == 403
    customer.wait_for_selector("#refusal")
    assert "Dupont" not in customer.content() and "N-D1" not in customer.content()
    shot(customer, "08-portal-refused")
