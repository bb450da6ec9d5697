"""The cash forecast at the desk: in headless Chromium (a table per currency, the promised week,
beyond the horizon and the disputed amount apart, the horizon switched), and the page's bounds."""

from __future__ import annotations

from datetime import date

import pytest

from dunning.app import create_app
from dunning.policies import service as policy_service
from dunning.tasks import service as task_service
from tests.builders import customer, invoice
from tests.forecast.support import dispute, predict, promise, seed
from tests.server import serving
from tests.web.support import desk, make_user, sign_in_page
from tests.web.test_browser import CHROMIUM, browser, shot, violations, watched  # noqa: F401 (fixture)

sync_api = pytest.importorskip("playwright.sync_api")

LEDGER = (
    [customer("ACME", name="Acme"), customer("DELTA", name="Delta"), customer("UK1", name="Eagle Ltd")],
    [
        invoice("A1", "ACME", due=date(2026, 2, 20), total="1000.00"),
        invoice("A2", "ACME", due=date(2026, 3, 30), total="250.00"),  # new: no prediction yet
        invoice("D1", "DELTA", due=date(2026, 2, 1), total="200.00"),
        invoice("G1", "UK1", due=date(2026, 4, 1), total="640.00", currency="GBP"),
    ],
)


def load(db, clock) -> None:
    ids = seed(db, clock, *LEDGER)
    predict(db, clock, {"A1": (0, 5, 20), "D1": (0, 10, 40), "G1": (-3, 60, 200)})
    promise(db, clock, ids["ACME"], 40000, date(2026, 3, 11))  # Wednesday of week 2
    dispute(db, clock, "D1")


def test_the_page_shows_each_currency_with_its_weeks(app, db, clock):
    load(db, clock)
    agent, _ = desk(app, db, clock, "agent")
    page = agent.get("/desk/forecast?weeks=4").text
    assert 'id="forecast-EUR" data-open="145000"' in page and 'id="forecast-GBP" data-open="64000"' in page
    assert '<tr data-disputed="20000">' in page
    assert 'data-promised="40000">€400.00<' in page
    assert "1 invoice new since the last rescore is spread by the portfolio" in page
    assert "2 · Mon 9 Mar 2026 – Sun 15 Mar 2026" in page
    for weeks in (0, 53, "x"):
        assert agent.get(f"/desk/forecast?weeks={weeks}").status_code == 422


@pytest.mark.browser
@pytest.mark.committed
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_forecast_in_a_browser(committed_db, clock, settings, browser):  # noqa: F811
    db = committed_db
    with db.session() as session:
        policy_service.ensure_default(session, clock)
    load(db, clock)
    with db.session() as session:
        task_service.create(
            session,
            clock,
            kind="call",
            title="Call Acme",
            detail=None,
            customer="ACME",
            due_at=None,
            assignee=None,
            actor="test",
        )
    make_user(db, clock, "manager", "maria@example.com")
    app = create_app(settings, database=db, clock=clock, embedded_worker=False)
    with serving(app) as base:
        page = watched(browser, viewport={"width": 1280, "height": 900})
        sign_in_page(page, base, "maria@example.com")
        page.wait_for_selector("#currency-EUR")
        page.click("nav >> text=Cash forecast")
        page.wait_for_selector("#forecast-EUR table")
        assert page.locator("#forecast-EUR tbody tr").count() == 13
        assert page.locator("#forecast-GBP tbody tr").count() == 13
        assert page.inner_text("#forecast-EUR tr[data-week='2'] [data-promised]") == "€400.00"
        assert page.inner_text("#forecast-EUR tr[data-disputed] strong") == "€200.00"
        assert "Beyond the horizon" in page.inner_text("#forecast-GBP tfoot")
        # what the rows say adds up to the open balance, to the cent
        for currency in ("EUR", "GBP"):
            card = page.locator(f"#forecast-{currency}")
            weeks = sum(int(v) for v in card.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.expected)"))
            beyond = int(card.locator("tr[data-beyond]").get_attribute("data-beyond"))
            disputed = int(card.locator("tr[data-disputed]").get_attribute("data-disputed"))
            assert weeks + beyond + disputed == int(card.get_attribute("data-open"))
        shot(page, "13-cash-forecast")
        page.click("#horizon [data-weeks='4']")
        page.wait_for_selector("#horizon [data-weeks='4'].active")
        assert page.locator("#forecast-EUR tbody tr").count() == 4
        page.goto(f"{base}/desk/worklist")
        page.wait_for_selector("#sort [data-order='at_stake'].active")
        assert "at risk: 2 invoices" in page.inner_text("#tasks [data-at-risk]")
        assert "€400.00 promised" in page.inner_text("#tasks [data-at-risk]")
        shot(page, "14-worklist-at-stake")
        assert violations(page) == []
