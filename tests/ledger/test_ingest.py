from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from dunning.ledger.models import Customer, Invoice
from dunning.tables import metadata
from tests.builders import customer, invoice, payment


def dump(db) -> dict:
    """Every row of every ledger table, to compare database states."""
    with db.session() as s:
        return {
            t.name: sorted(map(tuple, s.execute(select(t)).all()), key=repr)
            for t in metadata.sorted_tables
            if t.name in ("customer", "invoice", "payment", "allocation")
        }


def test_customers_are_created_updated_and_left_alone(client):
    r = client.post("/v1/customers/bulk", json={"customers": [customer("A"), customer("B")]})
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0, "unchanged": 0}
    r = client.post("/v1/customers/bulk", json={"customers": [customer("A", name="Renamed"), customer("B")]})
    assert r.json() == {"created": 0, "updated": 1, "unchanged": 1}
    detail = client.get("/v1/customers/A").json()
    assert detail["name"] == "Renamed"
    assert detail["phone"] == "+33612345678"


def test_phone_is_normalised_to_e164_with_the_customer_country(client):
    client.post(
        "/v1/customers/bulk",
        json={
            "customers": [
                customer("A", phone="06 12 34 56 78", country="FR"),
                customer("B", phone="(415) 555-2671", country="US"),
            ]
        },
    )
    assert client.get("/v1/customers/A").json()["phone"] == "+33612345678"
    assert client.get("/v1/customers/B").json()["phone"] == "+14155552671"


def test_replaying_a_batch_ten_times_changes_nothing(client, db, clock):
    batch = {"invoices": [invoice(f"I{i}", due=date(2026, 1, i + 1)) for i in range(5)]}
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    first = client.post("/v1/invoices/bulk", json=batch).json()
    assert first == {"created": 5, "updated": 0, "unchanged": 0}
    client.post("/v1/payments/bulk", json={"payments": [payment("P1", amount="150.00")]})
    after_first = dump(db)
    for _ in range(10):
        clock.advance(hours=1)
        assert client.post("/v1/invoices/bulk", json=batch).json() == {"created": 0, "updated": 0, "unchanged": 5}
        assert (
            client.post("/v1/payments/bulk", json={"payments": [payment("P1", amount="150.00")]}).json()["unchanged"]
            == 1
        )
    assert dump(db) == after_first


def test_invoice_balance_defaults(client, db):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    r = client.post(
        "/v1/invoices/bulk",
        json={
            "invoices": [
                invoice("open"),
                invoice("paid", paid_on="2026-01-20"),
                invoice("part", balance="40.5"),
                invoice("void", voided=True),
            ]
        },
    )
    assert r.status_code == 200, r.text
    with db.session() as s:
        balances = dict(s.execute(select(Invoice.external_id, Invoice.balance_minor)).all())
    assert balances == {"open": 10000, "paid": 0, "part": 4050, "void": 0}


BAD_ROWS = [
    ({"customer_external_id": "nobody"}, "customer_external_id", "unknown customer"),
    ({"currency": "XYZ"}, "currency", "ISO 4217"),
    ({"total": "10.123"}, "total", "decimal places"),
    ({"total": "-5"}, "total", "negative"),
    ({"due_on": "2025-01-01"}, "due_on", "before the issue date"),
    ({"balance": "200"}, "balance", "larger than the invoice total"),
    ({"total": "abc"}, "total", "not an amount"),
    ({"issued_on": "31/01/2026"}, "issued_on", "date"),
    ({"number": ""}, "number", "at least 1"),
]


@pytest.mark.parametrize("change,field,words", BAD_ROWS)
def test_a_bad_invoice_row_refuses_the_whole_batch(client, db, change, field, words):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    rows = [invoice("good1"), invoice("bad", **change), invoice("good2")]
    r = client.post("/v1/invoices/bulk", json={"invoices": rows})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, field)]
    assert words in errors[0]["message"]
    with db.session() as s:
        assert s.execute(select(Invoice)).first() is None


@pytest.mark.parametrize(
    "change,field,words",
    [
        ({"timezone": "Europe/Atlantis"}, "timezone", "IANA time zone"),
        ({"phone": "12"}, "phone", "can't be a phone number"),
        ({"email": "not-an-email"}, "email", "not an email address"),
        ({"country": "XX"}, "country", "ISO 3166"),
        ({"kind": "alien"}, "kind", "business"),
        ({"language": "zz-QQ"}, "language", "language code"),
        ({"language": "pt-BR"}, "language", "a language we write to customers in: en, de, es, fr, it, nl"),
    ],
)
def test_a_bad_customer_row_is_named(client, db, change, field, words):
    r = client.post("/v1/customers/bulk", json={"customers": [customer("A"), customer("B", **change)]})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, field)]
    assert words in errors[0]["message"]
    with db.session() as s:
        assert s.execute(select(Customer)).first() is None


def test_every_bad_row_is_listed(client):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    rows = [invoice("a", currency="EURO"), invoice("b"), invoice("c", total="1.001"), invoice("b")]
    errors = client.post("/v1/invoices/bulk", json={"invoices": rows}).json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {(0, "currency"), (2, "total"), (3, "external_id")}


def test_malformed_json_is_a_clear_422(client):
    r = client.post("/v1/invoices/bulk", content=b'{"invoices": [', headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert "malformed JSON" in r.json()["errors"][0]["message"]


def test_more_than_ten_thousand_items_is_413_with_the_limit(client):
    r = client.post("/v1/customers/bulk", json={"customers": [customer(f"C{i}") for i in range(10_001)]})
    assert r.status_code == 413
    assert "10000" in r.json()["message"]


def test_amounts_follow_the_currency_decimals(client):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    ok = client.post("/v1/invoices/bulk", json={"invoices": [invoice("jpy", currency="JPY", total=1500)]})
    assert ok.status_code == 200, ok.text
    bad = client.post("/v1/invoices/bulk", json={"invoices": [invoice("jpy2", currency="JPY", total="1500.5")]})
    assert bad.status_code == 422
    assert client.get("/v1/invoices?customer=C1").json()["items"][0]["total"] == "1500"


def test_text_a_database_cannot_store_is_refused_not_crashed_on(client):
    r = client.post("/v1/customers/bulk", json={"customers": [customer("A", name="Bad\x00name")]})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"index": 0, "field": "name", "message": "must not contain NUL characters"}]
    assert client.get("/v1/customers/A%00B").status_code == 422
    assert client.get("/v1/invoices", params={"customer": "A\x00"}).status_code == 422


@pytest.mark.parametrize(
    "path, key, row",
    [
        ("/v1/invoices/bulk", "invoices", invoice("I1", customer_external_id="C\x00")),
        ("/v1/payments/bulk", "payments", payment("P1", "C\x00", "10.00")),
    ],
)
def test_a_nul_in_a_key_is_refused_before_any_lookup(client, path, key, row):
    # the keys are looked up before the batch is refused: PostgreSQL would reject the NUL there
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    r = client.post(path, json={key: [row]})
    assert r.status_code == 422, r.text
    assert {"index": 0, "field": "customer_external_id", "message": "must not contain NUL characters"} in r.json()[
        "errors"
    ]
