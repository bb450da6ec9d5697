"""Bounds at the door of the JSON API beyond the bulk routes (cases, arrangements, policies): the
inputs of issue 11 that gave a 500, or a rounding, get a 422 naming the field."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from dunning.cases.models import Case
from dunning.records.arrangements import Promise
from tests.builders import customer, invoice
from tests.outbox.support import cycle, seed

JSON = {"Content-Type": "application/json"}
WINDOW = "is out of range: dates run from 1900-01-01 to 2200-12-31"


@pytest.fixture
def case_id(client, db, clock, settings) -> int:
    seed(db, clock, [customer("C1")], [invoice("I1", "C1", due=date(2026, 2, 1))])
    cycle(db, clock, settings)
    with db.session() as s:
        return s.execute(select(Case.id)).scalar_one()


def errors(response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


def test_a_hold_until_the_year_9999_is_refused_and_the_case_still_reads(client, case_id):
    # the finding: accepted, then the case page and every cycle died in cases/views.py
    r = client.patch("/v1/customers/C1/dunning", json={"hold_until": "9999-12-31"})
    assert errors(r) == [("hold_until", f"9999-12-31 {WINDOW}")]
    assert client.get("/v1/customers/C1/case").status_code == 200
    assert client.patch("/v1/customers/C1/dunning", json={"hold_until": "2200-12-31"}).status_code == 200
    assert client.get("/v1/customers/C1/case").status_code == 200


def test_a_pause_until_a_moment_no_time_zone_survives_is_refused(client, case_id):
    r = client.post(f"/v1/cases/{case_id}/pause", json={"until": "9999-12-31T23:59:59-12:00"})
    assert errors(r) == [("until", f"9999-12-31 {WINDOW}")]
    ok = client.post(f"/v1/cases/{case_id}/pause", json={"until": "2026-03-10T23:59:59-12:00"})
    assert ok.status_code == 200, ok.text


def test_one_line_fields_and_notes(client, case_id):
    assert errors(client.patch("/v1/customers/C1/dunning", json={"policy_name": "a\r\nb"}))[0][0] == "policy_name"
    assert errors(client.patch("/v1/customers/C1/dunning", json={"note": "a\x00b"})) == [
        ("note", "must not contain NUL characters")
    ]
    assert client.patch("/v1/customers/C1/dunning", json={"note": "line one\nline two"}).status_code == 200


def test_a_promise_amount_is_read_as_written(client, db, case_id):
    body = b'{"amount": 10.000000000000000001, "currency": "EUR", "date": "2026-03-10"}'
    r = client.post("/v1/customers/C1/promises", content=body, headers=JSON)
    assert r.status_code == 422 and "EUR has 2 decimal places" in r.json()["message"], r.text
    with db.session() as s:
        assert s.execute(select(Promise)).first() is None
    ok = client.post("/v1/customers/C1/promises", content=body.replace(b"10.000000000000000001", b"10.5"), headers=JSON)
    assert ok.status_code == 201 and ok.json()["amount"] == "10.50", ok.text


@pytest.mark.parametrize("amount", ["1e999990", "1e999999", "+1.00000000000000000000000000001", "1_000", "１０"])
def test_promise_amounts_follow_the_grammar(client, case_id, amount):
    r = client.post("/v1/customers/C1/promises", json={"amount": amount, "currency": "EUR", "date": "2026-03-10"})
    assert r.status_code == 422, r.text


def test_far_dates_in_promises_and_plans(client, case_id):
    r = client.post("/v1/customers/C1/promises", json={"amount": "1.00", "currency": "EUR", "date": "9999-12-31"})
    assert errors(r) == [("date", f"9999-12-31 {WINDOW}")]
    plan = {
        "currency": "EUR",
        "installments": [{"due_on": "2026-04-01", "amount": "50.00"}, {"due_on": "9999-12-01", "amount": "50.00"}],
    }
    r = client.post("/v1/customers/C1/plans", json=plan)
    assert r.status_code == 422 and r.json()["errors"][0]["index"] == 1, r.text
    assert f"9999-12-01 {WINDOW}" in r.json()["errors"][0]["message"]


def test_a_policy_version_past_the_integer_range_is_a_422(client):
    # the finding: 2147483648 reached PostgreSQL's INTEGER column (500)
    r = client.get("/v1/policies/default", params={"version": 2147483648})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "version"
    assert client.get("/v1/policies/default", params={"version": 2147483647}).status_code == 404


def test_a_deep_json_body_is_a_422_on_every_route(client, case_id):
    body = b'{"note": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    r = client.patch("/v1/customers/C1/dunning", content=body, headers=JSON)
    assert errors(r)[0][0] == "body" and "malformed JSON" in errors(r)[0][1]
    r = client.put("/v1/policies/deep", content=b'{"document": ' + b"[" * 5000 + b"]" * 5000 + b"}", headers=JSON)
    assert r.status_code == 422, r.text
