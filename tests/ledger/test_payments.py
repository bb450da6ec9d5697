from __future__ import annotations

from datetime import date

from sqlalchemy import select

from dunning.ledger.models import Invoice, Payment
from tests.builders import customer, invoice, payment


def balances(db) -> dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(Invoice.external_id, Invoice.balance_minor)).all())


def setup_three(client):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1"), customer("C2")]})
    r = client.post(
        "/v1/invoices/bulk",
        json={
            "invoices": [
                invoice("old", due=date(2026, 1, 1)),
                invoice("mid", due=date(2026, 1, 15)),
                invoice("new", due=date(2026, 2, 1)),
            ]
        },
    )
    assert r.status_code == 200, r.text


def test_payment_without_invoice_goes_to_the_oldest_first(client, db):
    setup_three(client)
    assert client.post("/v1/payments/bulk", json={"payments": [payment(amount="150.00")]}).status_code == 200
    assert balances(db) == {"old": 0, "mid": 5000, "new": 10000}
    with db.session() as s:
        assert s.execute(select(Invoice.paid_on).where(Invoice.external_id == "old")).scalar() == date(2026, 2, 15)


def test_payment_goes_to_the_named_invoice_first_then_oldest(client, db):
    setup_three(client)
    client.post("/v1/payments/bulk", json={"payments": [payment(amount="130.00", invoice_external_id="new")]})
    assert balances(db) == {"old": 7000, "mid": 10000, "new": 0}


def test_a_changed_payment_is_reallocated_not_added(client, db):
    setup_three(client)
    client.post("/v1/payments/bulk", json={"payments": [payment(amount="150.00")]})
    r = client.post("/v1/payments/bulk", json={"payments": [payment(amount="20.00")]})
    assert r.json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert balances(db) == {"old": 8000, "mid": 10000, "new": 10000}


def test_overpayment_stays_as_unallocated_credit(client, db):
    setup_three(client)
    client.post("/v1/payments/bulk", json={"payments": [payment(amount="350.00")]})
    assert set(balances(db).values()) == {0}
    with db.session() as s:
        assert s.execute(select(Payment.unallocated_minor)).scalar() == 5000


def test_credit_note_reduces_the_named_invoice(client, db):
    setup_three(client)
    r = client.post(
        "/v1/credit-notes/bulk",
        json={
            "credit_notes": [
                {
                    "external_id": "CN1",
                    "customer_external_id": "C1",
                    "invoice_external_id": "mid",
                    "currency": "EUR",
                    "amount": "25.00",
                    "issued_on": "2026-02-10",
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert balances(db)["mid"] == 7500


def test_a_repushed_invoice_does_not_count_a_payment_twice(client, db):
    """The sender's balance may already include our payment: the smaller view wins."""
    setup_three(client)
    client.post("/v1/payments/bulk", json={"payments": [payment(amount="40.00", invoice_external_id="old")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("old", due=date(2026, 1, 1), balance="60.00")]})
    assert balances(db)["old"] == 6000
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("old", due=date(2026, 1, 1), balance="100.00")]})
    assert balances(db)["old"] == 6000


def test_payment_rows_are_checked(client, db):
    setup_three(client)
    r = client.post(
        "/v1/payments/bulk",
        json={
            "payments": [
                payment("a", customer_external_id="ghost"),
                payment("b", invoice_external_id="nope"),
                payment("c", customer_external_id="C2", invoice_external_id="old"),
                payment("d", currency="USD", invoice_external_id="old"),
                payment("e", amount="0"),
            ]
        },
    )
    assert r.status_code == 422
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [
        (0, "customer_external_id"),
        (1, "invoice_external_id"),
        (2, "invoice_external_id"),
        (3, "currency"),
        (4, "amount"),
    ]
    assert set(balances(db).values()) == {10000}
