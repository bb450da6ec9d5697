"""The cash forecast: every open minor unit lands in one week, beyond the horizon, or disputed;
promised money lands in its week, a broken promise's does not; an invoice the rescore has not
predicted yet is still counted."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from dunning.forecast import service
from dunning.ledger.models import Invoice
from tests.builders import customer, invoice
from tests.conftest import make_client, new_key
from tests.forecast.support import dispute, plan, predict, promise, seed

TODAY = date(2026, 3, 2)  # the clock's Monday


@pytest.fixture
def book(db, clock):
    """EUR: Acme owes 1,000 (promised 400 for Wed 11 Mar), Bistro 500 (its promise broken), Chez
    300 (new, not predicted yet; a promise whose grace ran out), Delta 200 (disputed). GBP: Eagle
    owes 100 on a plan of two installments, one within the horizon."""
    ids = seed(
        db,
        clock,
        [customer(c) for c in ("ACME", "BISTRO", "CHEZ", "DELTA", "EAGLE")],
        [
            invoice("A1", "ACME", due=date(2026, 2, 20), total="1000.00"),
            invoice("B1", "BISTRO", due=date(2026, 3, 5), total="500.00"),
            invoice("C1", "CHEZ", due=date(2026, 3, 10), total="300.00"),
            invoice("D1", "DELTA", due=date(2026, 2, 1), total="200.00"),
            invoice("E1", "EAGLE", due=date(2026, 4, 1), total="100.00", currency="GBP"),
        ],
    )
    predict(db, clock, {"A1": (0, 5, 20), "B1": (-2, 3, 30), "D1": (0, 10, 40), "E1": (-3, 0, 10)})
    promise(db, clock, ids["ACME"], 40000, date(2026, 3, 11))
    promise(db, clock, ids["BISTRO"], 50000, date(2026, 3, 4), status="broken")
    promise(db, clock, ids["CHEZ"], 30000, date(2026, 2, 20))  # grace until the 23rd: as good as broken
    dispute(db, clock, "D1")
    plan(db, clock, ids["EAGLE"], [(date(2026, 3, 20), 5000), (date(2026, 7, 1), 5000)], currency="GBP")
    return ids


def test_the_report_places_promised_money_in_its_week_and_keeps_disputes_apart(client, book):
    body = client.get("/v1/reports/cash-forecast").json()
    assert body["as_of"] == "2026-03-02" and body["weeks"] == 13
    eur, gbp = body["currencies"]
    assert (eur["currency"], eur["open"], eur["disputed"], eur["invoices"]) == ("EUR", "2000.00", "200.00", 4)
    weeks = eur["weeks"]
    assert (weeks[0]["starts_on"], weeks[0]["ends_on"], weeks[1]["starts_on"]) == (
        "2026-03-02",
        "2026-03-08",
        "2026-03-09",
    )
    # Acme's promise in week 2 (9-15 March); Bistro's broken promise and Chez's lapsed one nowhere
    assert [w["promised"] for w in weeks] == ["0.00", "400.00"] + ["0.00"] * 11
    assert eur["beyond"]["promised"] == "0.00"
    assert eur["unpredicted_invoices"] == 1  # Chez's invoice, spread by the fallback, not dropped

    def total(values):
        return sum(Decimal(v) for v in values)

    assert total([w["expected"] for w in weeks]) + Decimal(eur["beyond"]["expected"]) + Decimal(
        eur["disputed"]
    ) == Decimal("2000.00")
    # everything not promised nor disputed is predicted: 1,000 - 400 + 500 + 300
    assert total([w["predicted"] for w in weeks]) + Decimal(eur["beyond"]["predicted"]) == Decimal("1400.00")
    for w in weeks:
        assert Decimal(w["low"]) <= Decimal(w["expected"]) <= Decimal(w["high"])
        assert Decimal(w["expected"]) == Decimal(w["promised"]) + Decimal(w["predicted"])
    assert Decimal(weeks[1]["low"]) >= Decimal("400.00")  # promised money is in the band's floor

    # Eagle's plan: the March installment in week 3, the July one beyond the 13 weeks, nothing else
    assert [w["promised"] for w in gbp["weeks"]][:4] == ["0.00", "0.00", "50.00", "0.00"]
    assert gbp["beyond"] == {"expected": "50.00", "promised": "50.00", "predicted": "0.00"}
    assert total([w["expected"] for w in gbp["weeks"]]) == Decimal("50.00")


def test_an_invoice_long_overdue_is_expected_later_than_its_median(db, clock, book):
    """Acme is 10 days late and was predicted to pay 5 days late: nothing of it falls before today,
    and it is spread from today on, not lost."""
    with db.session() as s:
        eur = service.cash_forecast(s, TODAY, 2).currencies[0]
    assert eur.open == 200000
    assert eur.weeks[0].predicted > 0


def test_weeks_are_bounded(client, book):
    for weeks, status in ((1, 200), (52, 200), (0, 422), (53, 422), (-1, 422), ("x", 422), (10**30, 422)):
        response = client.get("/v1/reports/cash-forecast", params={"weeks": weeks})
        assert response.status_code == status, weeks
    assert len(client.get("/v1/reports/cash-forecast?weeks=52").json()["currencies"][0]["weeks"]) == 52


def test_the_report_needs_the_read_scope(app, db, clock, book):
    assert make_client(app, new_key(db, clock, ["ingest"])).get("/v1/reports/cash-forecast").status_code == 403
    assert make_client(app, None).get("/v1/reports/cash-forecast").status_code == 401


def test_the_report_is_documented(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/reports/cash-forecast"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("CashForecastOut")
    [weeks] = [p for p in operation["parameters"] if p["in"] == "query"]
    assert (weeks["name"], weeks["schema"]["minimum"], weeks["schema"]["maximum"]) == ("weeks", 1, 52)
    assert "week 1 is today and the six days after it" in " ".join(operation["description"].split())


AN_INVOICE = st.tuples(
    st.integers(1, 10**12),  # balance in minor units
    st.integers(-60, 400),  # due date, days from today
    st.sampled_from(["EUR", "GBP", "JPY"]),
    st.one_of(st.none(), st.tuples(st.floats(-30, 30), st.floats(-30, 90), st.floats(-30, 400))),
    st.booleans(),  # disputed
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    invoices=st.lists(AN_INVOICE, min_size=1, max_size=8),
    promised=st.lists(st.tuples(st.integers(1, 10**12), st.integers(-5, 200)), max_size=3),
    weeks=st.integers(1, 52),
)
def test_weeks_beyond_and_disputed_add_up_to_the_open_balance(db, clock, invoices, promised, weeks):
    """Over generated ledgers (examples pile up in the one database, so the sums grow with them)."""
    n = next(COUNTER)
    ids = seed(
        db,
        clock,
        [customer(f"P{n}")],
        [
            invoice(f"P{n}-{i}", f"P{n}", due=TODAY + timedelta(days=due), total=f"{balance}", currency=currency)
            for i, (balance, due, currency, _, _) in enumerate(invoices)
        ],
    )
    predict(db, clock, {f"P{n}-{i}": q for i, (_, _, _, q, _) in enumerate(invoices) if q is not None})
    for i, (*_, disputed) in enumerate(invoices):
        if disputed:
            dispute(db, clock, f"P{n}-{i}")
    for currency in {c for _, _, c, _, _ in invoices}:
        for amount, days in promised[:1]:  # one open promise per account
            promise(db, clock, ids[f"P{n}"], amount, TODAY + timedelta(days=days), currency=currency)
    with db.session() as s:
        forecast = service.cash_forecast(s, TODAY, weeks)
        balances: dict[str, int] = {}
        for currency, balance in s.execute(
            select(col(Invoice.currency), col(Invoice.balance_minor)).where(col(Invoice.balance_minor) > 0)
        ):
            balances[currency] = balances.get(currency, 0) + balance
    assert set(balances) == {c.currency for c in forecast.currencies}
    for c in forecast.currencies:
        assert len(c.weeks) == weeks
        assert sum(w.expected for w in c.weeks) + c.beyond + c.disputed == balances[c.currency]
        assert all(0 <= w.low <= w.expected <= w.high for w in c.weeks)
        assert min(c.beyond_predicted, c.beyond_promised, c.disputed) >= 0


COUNTER = iter(range(10**9))


def test_largest_remainder_is_exact_and_close():
    assert sorted(service.largest_remainder(np.array([1.0, 1.0, 1.0]), 100)) == [33, 33, 34]
    assert service.largest_remainder(np.array([0.26, 0.74]), 10) == [3, 7]
    huge = 10**20 + 7  # beyond what a double holds exactly
    parts = service.largest_remainder(np.array([0.3, 0.3, 0.4]), huge)
    assert sum(parts) == huge and abs(parts[2] / huge - 0.4) < 1e-15  # the weights are doubles
    assert service.largest_remainder(np.array([0.0, 0.0]), 5) == [0, 5]  # nothing to spread by: beyond
