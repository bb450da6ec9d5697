"""Bounds at the door of the bulk API and the CSV import: each refused value of issue 11 is named
with its row and field, and a refused batch writes nothing."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from dunning.cases.cycle import run_cycle
from dunning.ledger.csv_import import import_file
from dunning.ledger.models import Customer, Invoice
from tests.builders import customer, invoice, payment

JSON = {"Content-Type": "application/json"}


def refused(response) -> list[tuple[int | None, str, str]]:
    assert response.status_code == 422, response.text
    return [(e["index"], e["field"], e["message"]) for e in response.json()["errors"]]


def nothing_written(db, model=Invoice) -> bool:
    with db.session() as s:
        return s.execute(select(model)).first() is None


@pytest.fixture
def c1(client):
    assert client.post("/v1/customers/bulk", json={"customers": [customer("C1")]}).status_code == 200


@pytest.mark.parametrize("field", ["issued_on", "due_on", "paid_on"])
@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"])
def test_dates_no_business_document_carries_are_refused(client, db, c1, field, day):
    row = invoice("I1", **{"issued_on": "1900-01-01", "due_on": "2200-12-31", field: day})
    errors = refused(client.post("/v1/invoices/bulk", json={"invoices": [invoice("ok"), row]}))
    assert (1, field, f"{day} is out of range: dates run from 1900-01-01 to 2200-12-31") in errors
    assert nothing_written(db)


def test_the_edges_of_the_window_are_taken(client, c1):
    r = client.post(
        "/v1/invoices/bulk", json={"invoices": [invoice("I1", issued_on="1900-01-01", due_on="2200-12-31")]}
    )
    assert r.status_code == 200, r.text


def test_a_zero_date_no_longer_stops_the_cycle(client, db, clock, settings, c1):
    # the finding: "0001-01-01", a common empty date, was accepted and every later cycle died
    refused(
        client.post(
            "/v1/invoices/bulk", json={"invoices": [invoice("I0", issued_on="0001-01-01", due_on="0001-01-01")]}
        )
    )
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1")]})
    with db.session() as session:
        assert run_cycle(session, clock, settings).planned


def test_payment_dates_are_bounded_too(client, c1):
    errors = refused(client.post("/v1/payments/bulk", json={"payments": [payment(received_on="9999-12-31")]}))
    assert [(i, f) for i, f, _ in errors] == [(0, "received_on")]


AMOUNTS = [  # (text, words of the refusal)
    ("1e999990", "is not an amount"),
    ("1e999999", "is not an amount"),
    ("+1.00000000000000000000000000001", "is not an amount"),
    ("1.00000000000000000000000000001", "decimal places"),
    ("1_000", "is not an amount"),
    ("１０", "is not an amount"),
    ("1,000.00", "is not an amount"),
    ("1 000", "is not an amount"),
    ("0x10", "is not an amount"),
    ("NaN", "is not an amount"),
    ("Infinity", "is not an amount"),
    (".5", "is not an amount"),
    ("10000000000000.00", "too large"),
    ("9" * 200, "too long"),
]


@pytest.mark.parametrize("text, words", AMOUNTS)
def test_amounts_follow_one_strict_grammar(client, db, c1, text, words):
    started = time.perf_counter()
    errors = refused(client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1", total=text)]}))
    assert time.perf_counter() - started < 2  # "1e999990" held the process for 51 s
    assert len(errors) == 1 and errors[0][:2] == (0, "total") and words in errors[0][2], errors
    assert nothing_written(db)


def test_a_json_number_is_read_as_written_not_as_a_float(client, db, c1):
    # JSON 10.000000000000000001 used to become the float 10.0, then 10.00: a rounding
    body = (
        b'{"invoices": [{"external_id": "I1", "customer_external_id": "C1", "number": "N", "currency": "EUR",'
        b' "total": 10.000000000000000001, "issued_on": "2026-01-01", "due_on": "2026-02-01"}]}'
    )
    errors = refused(client.post("/v1/invoices/bulk", content=body, headers=JSON))
    assert errors == [(0, "total", "EUR has 2 decimal places; '10.000000000000000001' has more")]
    assert nothing_written(db)
    exact = body.replace(b"10.000000000000000001", b"10.50")
    assert client.post("/v1/invoices/bulk", content=exact, headers=JSON).status_code == 200
    assert client.get("/v1/invoices").json()["items"][0]["total"] == "10.50"


@pytest.mark.parametrize(
    "number, words",
    [
        (b"1e999999", "is not an amount"),
        (b"1E+3", "is not an amount"),
        (b"10.0e0", "is not an amount"),
        (b"-0.001", "decimal places"),
    ],
)
def test_json_numbers_follow_the_grammar_as_written(client, c1, number, words):
    body = (
        b'{"invoices": [{"external_id": "I1", "customer_external_id": "C1", "number": "N", "currency": "EUR",'
        b' "total": ' + number + b', "issued_on": "2026-01-01", "due_on": "2026-02-01"}]}'
    )
    errors = refused(client.post("/v1/invoices/bulk", content=body, headers=JSON))
    assert errors[0][:2] == (0, "total") and words in errors[0][2] and number.decode() in errors[0][2]


def test_a_thousand_deep_body_is_a_quick_422(client):
    # the finding: RecursionError (500) from the standard JSON parser
    for body in (b'{"invoices": ' + b"[" * 1000 + b"]" * 1000 + b"}", b"[" * 100_000):
        started = time.perf_counter()
        errors = refused(client.post("/v1/invoices/bulk", content=body, headers=JSON))
        assert time.perf_counter() - started < 1
        assert errors[0][:2] == (None, "body") and "malformed JSON" in errors[0][2]


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("name", "Dupont\r\nBcc: everyone@example.com", "one line"),
        ("name", "Dupont\nSARL", "one line"),
        ("name", "Dupont\u2028SARL", "one line"),
        ("name", "Dupont\tSARL", "control characters (U+0009"),
        ("name", "Dupont\x07", "control characters (U+0007"),
        ("name", "Dupont\x85SARL", "control characters (U+0085"),
        ("external_id", "C\x00", "NUL"),
        ("external_id", "C\n2", "one line"),
        ("phone", "+33 6 12\r\n34 56 78", "one line"),
        ("address", "1 rue\x00", "NUL"),
        ("address", "1 rue\x1b[31m", "control characters (U+001B"),
    ],
)
def test_text_with_control_characters_is_refused(client, db, field, value, words):
    # the finding: a name with CR/LF was accepted, and then every email to it failed
    bad = {**customer("B"), field: value}
    errors = refused(client.post("/v1/customers/bulk", json={"customers": [customer("A"), bad]}))
    assert len(errors) == 1 and errors[0][:2] == (1, field) and words in errors[0][2], errors
    assert nothing_written(db, Customer)


def test_free_text_keeps_its_line_breaks(client):
    r = client.post(
        "/v1/customers/bulk", json={"customers": [customer("A", address="1 rue de la Paix\r\n75002\tParis")]}
    )
    assert r.status_code == 200, r.text


def test_a_lone_surrogate_is_malformed_json(client, db):
    errors = refused(
        client.post(
            "/v1/customers/bulk", content=b'{"customers": [{"external_id": "\\ud800", "name": "x"}]}', headers=JSON
        )
    )
    assert errors[0][:2] == (None, "body")
    assert nothing_written(db, Customer)


@pytest.mark.parametrize(
    "field, value",
    [("language", "x" * 10_000), ("timezone", "x" * 10_000), ("country", "x" * 10_000), ("tags", ["x"] * 51)],
)
def test_every_customer_field_is_bounded(client, field, value):
    errors = refused(client.post("/v1/customers/bulk", json={"customers": [customer("A", **{field: value})]}))
    assert [(i, f.split(".")[0]) for i, f, _ in errors] == [(0, field)]


def test_the_csv_import_applies_the_same_bounds(db, clock, tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_text(
        "external_id,customer_external_id,number,currency,total,issued_on,due_on\n"
        "I1,C1,N1,EUR,10.00,2026-01-01,2026-02-01\n"
        "I2,C1,N2,EUR,1e999990,2026-01-01,2026-02-01\n"
        "I3,C1,N3,EUR,10.00,01/01/0001,2026-02-01\n"
        'I4,C1,"N\n4",EUR,10.00,2026-01-01,2026-02-01\n',
        encoding="utf-8",
    )
    report = import_file(db, clock, path, "invoices", mapping={}, create_customers=True)
    assert {(e["line"], e["field"]) for e in report.errors} == {(3, "total"), (4, "issued_on"), (5, "number")}
    assert report.result.created == 0 and nothing_written(db)

    dated = tmp_path / "dated.csv"
    dated.write_text(
        "external_id,customer_external_id,number,currency,total,issued_on,due_on\n"
        "I1,C1,N1,EUR,10.00,01/01/0001,01/02/2026\n",
        encoding="utf-8",
    )
    report = import_file(db, clock, dated, "invoices", mapping={}, date_format="%d/%m/%Y", create_customers=True)
    assert [(e["line"], e["field"]) for e in report.errors] == [(2, "issued_on")]
    assert "0001-01-01 is out of range" in report.errors[0]["message"]


def test_ids_and_query_parameters_are_bounded(client):
    assert client.get("/v1/invoices", params={"customer": "x" * 201}).status_code == 422
    assert client.get("/v1/customers", params={"cursor": "x" * 101}).status_code == 422
    assert client.get("/v1/customers/" + "x" * 201).status_code == 422
    assert client.get("/v1/messages", params={"limit": 10**30}).status_code == 422


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_the_aging_date_is_bounded(client, as_of):
    r = client.get("/v1/reports/aging", params={"as_of": as_of})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "index": None,
            "field": "as_of",
            "message": f"{as_of} is out of range: dates run from 1900-01-01 to 2200-12-31",
        }
    ]
