"""Every bad field of a row in one answer (issue 14): a row with a bad date, currency "EURO" and
total "abc" names all three, from the bulk API and the CSV import alike, and the message counts
rows in words ("1 of the invoices was refused")."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from dunning.ledger.csv_import import import_file
from dunning.ledger.models import Invoice, Payment
from dunning.words import agree, plural, refused
from tests.builders import customer, invoice, payment


def fields_by_row(body: dict) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for e in body["errors"]:
        out.setdefault(e["index"], []).append(e["field"])
    return out


def test_a_row_with_three_bad_fields_names_all_three_in_one_answer(client):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    r = client.post(
        "/v1/invoices/bulk",
        json={"invoices": [invoice("ok"), invoice("bad", issued_on="2026-02-30", currency="EURO", total="abc")]},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == "1 of the invoices was refused; nothing was written"
    assert fields_by_row(body) == {1: ["currency", "issued_on", "total"]}
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert "'EURO' is not an ISO 4217 currency code" in messages["currency"]
    assert "'abc' is not an amount" in messages["total"]


def test_every_kind_of_row_says_everything_at_once(client, db):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1")]})
    r = client.post(
        "/v1/invoices/bulk",
        json={
            "invoices": [
                invoice("a", due_on="not a date", total="12.345"),  # EUR has 2 decimal places
                invoice("b", issued_on=None, balance="-1.00"),
                invoice("c", voided="perhaps", currency="JPY", total="10.5"),
            ]
        },
    )
    assert fields_by_row(r.json()) == {0: ["due_on", "total"], 1: ["balance", "issued_on"], 2: ["total", "voided"]}
    assert r.json()["message"] == "3 of the invoices were refused; nothing was written"
    r = client.post(
        "/v1/payments/bulk",
        json={"payments": [payment("P1", received_on="yesterday", currency="EURO", amount="1,000")]},
    )
    assert fields_by_row(r.json()) == {0: ["amount", "currency", "received_on"]}
    r = client.post(
        "/v1/credit-notes/bulk",
        json={
            "credit_notes": [
                {"external_id": "CN1", "customer_external_id": "C1", "currency": "EUR", "amount": "1e3", "issued_on": 7}
            ]
        },
    )
    assert fields_by_row(r.json()) == {0: ["amount", "issued_on"]}
    r = client.post(
        "/v1/customers/bulk",
        json={
            "customers": [
                customer("C2", email="not an address", phone="12"),
                customer("C3", country="XX", phone="06 12 34 56 78"),
            ]
        },
    )  # no country to read a national number by
    assert fields_by_row(r.json()) == {0: ["email", "phone"], 1: ["country"]}
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Invoice)).scalar() == 1
        assert s.execute(select(func.count()).select_from(Payment)).scalar() == 0


def test_the_csv_import_reports_every_bad_field_of_a_line(db, clock, tmp_path: Path):
    db_customers = tmp_path / "customers.csv"
    db_customers.write_text("external_id,name\nK1,Kim\n")
    assert not import_file(db, clock, db_customers, "customers", mapping={}).errors
    path = tmp_path / "invoices.csv"
    path.write_text(
        "external_id,customer_external_id,number,currency,total,issued_on,due_on\n"
        "X1,K1,X1,EUR,12.50,2026-02-01,2026-03-01\n"
        "X2,K1,X2,EURO,abc,2026-02-30,2026-03-01\n"
    )
    report = import_file(db, clock, path, "invoices", mapping={})
    assert sorted((e["line"], e["field"]) for e in report.errors) == [(3, "currency"), (3, "issued_on"), (3, "total")]
    assert report.result.created == 0


def test_counts_in_words():
    assert [plural(n, "invoice") for n in (0, 1, 2, 1200)] == [
        "0 invoices",
        "1 invoice",
        "2 invoices",
        "1,200 invoices",
    ]
    assert plural(3, "reply", "replies") == "3 replies" and plural(1, "reply", "replies") == "1 reply"
    assert (agree(1, "was", "were"), agree(2, "was", "were"), agree(0, "was", "were")) == ("was", "were", "were")
    assert refused(1, "customers") == "1 of the customers was refused; nothing was written"
    assert refused(2, "customers") == "2 of the customers were refused; nothing was written"
