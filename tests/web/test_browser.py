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
from urllib.parse import urlsplit

import pytest

from dunning.app import create_app
from dunning.policies import service as policy_service
from tests.builders import customer, invoice
from tests.outbox.support import REMINDER_THEN_REGISTERED, cycle, dispatch, messages, seed, use_policy
from tests.server import serving
from tests.web.support import PASSWORD, make_user, sign_in_page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.committed,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning"),
]
sync_api = pytest.importorskip("playwright.sync_api")

POLICY = REMINDER_THEN_REGISTERED


@pytest.fixture
def world(committed_db, clock, settings, request):
    """Acme's registered letter waits for approval; Dupont was emailed a reminder with its portal link."""
    db = committed_db
    with db.session() as session:
        policy_service.ensure_default(session, clock)
    use_policy(db, clock, POLICY)
    ids = seed(
        db,
        clock,
        [
            customer(
                "UK1",
                name="Acme Widgets Ltd",
                language="en",
                country="GB",
                timezone="Europe/London",
                phone="+447911123456",
                address="Unit 4, Riverside Park\nLeeds LS1 4AB",
            ),
            customer("FR1", name="Dupont SARL", address=None),
        ],
        [
            *(
                invoice(f"A{i}", "UK1", due=date(2026, 2, 20) + timedelta(days=i), currency="GBP", total="400.00")
                for i in range(3)
            ),
            invoice("D1", "FR1", due=date(2026, 3, 1), total="1250.00"),
            invoice("D2", "FR1", due=date(2026, 3, 25), total="310.00"),
        ],
    )
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


def watched(browser, **options):
    """A page that can reach nothing but this machine, and that records every CSP violation and
    console error it meets."""
    context = browser.new_context(**options)
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost") else route.abort()
        ),
    )
    # runs before the page's own scripts and is not subject to its policy
    context.add_init_script(
        "window.__violations = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    return page


def violations(page) -> list[str]:
    return page.evaluate("window.__violations") + page.errors


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


# The second reminder falls due on a Sunday; business days only: it goes on the Monday.
TEXTS = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, name: First reminder, after_days: 1, kind: reminder, channels: [email, sms]}
      - {key: r2, name: Second reminder, after_days: 7, kind: reminder, channels: [email]}
contact: {business_days_only: true, min_days_between_contacts: 1}
"""


@pytest.fixture
def texts_world(committed_db, clock, settings):
    """Dupont was reminded by email and text of an invoice due on Sunday 1 March; Martin's
    reminder, a day later, waits in the queue. (Dispatch runs before the browser starts: both
    want the thread's event loop.)"""
    db = committed_db
    with db.session() as session:
        policy_service.ensure_default(session, clock)
    use_policy(db, clock, TEXTS)
    seed(
        db,
        clock,
        [customer("FR1", name="Dupont SARL"), customer("FR2", name="Martin et Fils")],
        [invoice("D1", "FR1", due=date(2026, 3, 1), total="2048.71"), invoice("M1", "FR2", due=date(2026, 3, 2))],
    )
    make_user(db, clock, "manager", "maria@example.com")
    app = create_app(settings, database=db, clock=clock, embedded_worker=False)
    with serving(app) as base:
        app.state.settings = settings = settings.model_copy(update={"public_url": base})
        cycle(db, clock, settings)
        assert dispatch(db, clock, settings)["sent"] == 2  # Dupont's first reminder, by email and text
        clock.advance(days=1)
        cycle(db, clock, settings)  # Martin's, queued
        yield base, db


def test_the_portal_and_the_desk_keep_their_own_policy(texts_world, browser):
    """No inline style or script anywhere: the pages pass the CSP they are sent with, and look as
    designed (the spacing the inline styles used to give comes from the stylesheet)."""
    base, db = texts_world
    [sent_text] = messages(db, channel="sms", status="sent")
    email = messages(db, customer_id=sent_text.customer_id, channel="email")[0]
    portal_url = re.search(r"http://127\.0\.0\.1:\d+/portal/[\w.\-]+", email.body_text).group(0)

    customer_page = watched(browser, viewport={"width": 1000, "height": 900}, locale="fr-FR")
    customer_page.goto(portal_url)
    customer_page.wait_for_selector("#account-EUR")
    assert (
        customer_page.evaluate("getComputedStyle(document.querySelector('#account-EUR .card-foot')).paddingLeft")
        == "18.75px"
    )
    assert customer_page.evaluate("document.querySelector('link[rel=icon]').href") == f"{base}/favicon.ico"
    shot(customer_page, "09-portal-own-policy")
    assert violations(customer_page) == []

    desk = watched(browser, viewport={"width": 1280, "height": 900})
    sign_in_page(desk, base, "maria@example.com")
    desk.wait_for_selector("#currency-EUR svg.aging")
    # Dupont's page: the next step by its name, on the Monday it goes out
    desk.goto(f"{base}/desk/customers/FR1")
    assert desk.inner_text("[data-next-step]") == "Second reminder"
    assert desk.inner_text("[data-next-day]") == "Mon 9 Mar 2026"
    assert "[not_due]" not in desk.inner_text("#case-EUR")
    shot(desk, "10-customer-next-step")
    # Martin's queued text: to whom, how to stop them, and the long portal link kept in its box
    [queued] = [m for m in messages(db, channel="sms") if m.status == "queued"]
    desk.goto(f"{base}/desk/outbox/{queued.id}")
    assert desk.inner_text("#recipient") == "+33612345678"
    assert desk.inner_text("#sms-body").rstrip().endswith("Répondez STOP pour vous désabonner")
    assert desk.evaluate("(b => b.scrollWidth <= b.clientWidth)(document.querySelector('#sms-body'))")
    shot(desk, "11-sms-preview")
    # Dupont's email as sent, in its frame: styled by its own inline styles, nothing refused
    desk.goto(f"{base}/desk/outbox/{email.id}")
    frame = desk.frame_locator("#html-body")
    frame.locator("body").wait_for()
    assert frame.locator("body").evaluate("b => b.getAttribute('style') !== null")
    shot(desk, "12-email-framed")
    for page in ("/desk/worklist", "/desk/customers", "/desk/outbox", "/desk/policies/default"):
        desk.goto(base + page)
    assert violations(desk) == []
