"""The cycle looks only at cases something touched; whatever a writer changes is looked at again."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from dunning.cases.models import Case
from dunning.contacts import opt_out
from dunning.ledger.models import Customer
from tests.builders import customer, invoice, payment
from tests.outbox.support import cycle, dispatch


def seed(client, n=3):
    client.post("/v1/customers/bulk", json={"customers": [customer(f"C{i}") for i in range(n)]})
    client.post(
        "/v1/invoices/bulk",
        json={"invoices": [invoice(f"I{i}", f"C{i}", due=date(2026, 2, 20), total="300.00") for i in range(n)]},
    )


def settle(db, clock, settings):
    """Cycle until nothing is looked at, an hour apart each time (as the scheduler would)."""
    for _ in range(5):
        clock.advance(hours=1)
        if not cycle(db, clock, settings).counts["looked_at"]:
            return
        dispatch(db, clock, settings)
    raise AssertionError("the cycle keeps looking at unchanged cases")


def customer_id(db, external_id):
    with db.session() as s:
        return s.execute(select(Customer.id).where(Customer.external_id == external_id)).scalar_one()


def test_unchanged_cases_are_not_looked_at_and_each_kind_of_change_is(client, db, clock, settings):
    seed(client)
    assert cycle(db, clock, settings).counts["looked_at"] == 3
    dispatch(db, clock, settings)
    settle(db, clock, settings)

    client.post("/v1/invoices/bulk", json={"invoices": [invoice("NEW", "C0", due=date(2026, 2, 25))]})
    assert cycle(db, clock, settings).counts["looked_at"] == 1  # a pushed invoice
    settle(db, clock, settings)

    client.post("/v1/payments/bulk", json={"payments": [payment("P1", "C1", amount="10.00")]})
    assert cycle(db, clock, settings).counts["looked_at"] == 1  # a payment (allocated through the ORM)
    settle(db, clock, settings)

    client.patch("/v1/customers/C2/dunning", json={"excluded": True})
    assert cycle(db, clock, settings).counts["looked_at"] == 1  # the team's settings
    settle(db, clock, settings)

    with db.session() as s:
        opt_out(s, clock, customer_id(db, "C0"), "sms", "portal")
    assert cycle(db, clock, settings).counts["looked_at"] == 1  # an opt-out
    settle(db, clock, settings)

    [case] = client.get("/v1/customers/C1/case").json()
    client.post(f"/v1/cases/{case['id']}/pause", json={})
    assert cycle(db, clock, settings).counts["looked_at"] == 1  # a pause
    settle(db, clock, settings)


def test_every_case_is_looked_at_again_each_day(client, db, clock, settings):
    seed(client)
    cycle(db, clock, settings)
    settle(db, clock, settings)
    clock.advance(days=1)
    assert cycle(db, clock, settings).counts["looked_at"] == 3


def test_a_closed_account_owing_again_is_found_without_being_touched(client, db, clock, settings):
    seed(client, 1)
    cycle(db, clock, settings)
    client.post("/v1/payments/bulk", json={"payments": [payment("P1", "C0", amount="300.00")]})
    cycle(db, clock, settings)
    with db.session() as s:
        assert s.execute(select(Case.state)).scalar_one() == "closed"
    # an invoice falls due later, with no write at that moment: the time alone makes it owing
    client.post(
        "/v1/invoices/bulk", json={"invoices": [invoice("LATER", "C0", due=clock.now().date() + timedelta(days=10))]}
    )
    cycle(db, clock, settings)
    settle(db, clock, settings)
    clock.advance(days=11)
    report = cycle(db, clock, settings)
    assert report.counts["reopened"] == 1
