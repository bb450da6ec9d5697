"""Bounds at the door of the desk's and the portal's forms: what gave a 500 (finding 8) is a form
page saying what is wrong, and nothing is written."""

from __future__ import annotations

from datetime import date, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dunning.cases.models import Case
from dunning.ledger.models import Customer, Invoice
from dunning.policies.service import default_document
from dunning.records.arrangements import Dispute, InstallmentPlan, Promise
from dunning.tasks.service import open_task
from tests.builders import customer, invoice
from tests.outbox.support import cycle, seed
from tests.web.support import desk, form_token, portal

WINDOW = "is out of range: dates run from 1900-01-01 to 2200-12-31"


@pytest.fixture
def ids(db, clock, settings):
    found = seed(db, clock, [customer("C1")], [invoice("I1", "C1", due=date(2026, 2, 1), total="300.00")])
    cycle(db, clock, settings)
    return found


def refused(response, *words: str) -> str:
    assert response.status_code == 422, response.text[:500]
    text = unescape(response.text)
    for word in words:
        assert word in text, text[:2000]
    return text


def count(db, model) -> int:
    with db.session() as s:
        return len(s.execute(select(model)).all())


def test_portal_forms(app, db, clock, settings, ids):
    client, path, token = portal(app, settings, ids["C1"])
    with db.session() as s:
        invoice_id = s.execute(select(Invoice.id)).scalar_one()
    # NUL in the dispute text, and an invoice id past the database's integer range: both were 500s
    refused(
        client.post(
            f"{path}/dispute",
            data={"invoice_id": invoice_id, "reason": "quality", "text": "broken\x00", "csrf_token": token},
        ),
        "NUL",
    )
    refused(
        client.post(
            f"{path}/dispute", data={"invoice_id": str(2**64), "reason": "quality", "text": "x", "csrf_token": token}
        ),
        "invoice_id",
    )
    refused(
        client.post(
            f"{path}/dispute",
            data={"invoice_id": invoice_id, "reason": "quality\r\nx", "text": "x", "csrf_token": token},
        ),
        "one line",
    )
    # a plan starting in the year 9999 (date arithmetic overflowed) and a promise as far
    refused(
        client.post(
            f"{path}/plan", data={"currency": "EUR", "count": "3", "first_due": "9999-12-01", "csrf_token": token}
        ),
        f"9999-12-01 {WINDOW}",
    )
    refused(
        client.post(f"{path}/promise", data={"currency": "EUR", "promised_on": "0001-01-01", "csrf_token": token}),
        f"0001-01-01 {WINDOW}",
    )
    refused(
        client.post(
            f"{path}/plan",
            data={"currency": "EUR", "count": str(10**30), "first_due": "2026-04-01", "csrf_token": token},
        ),
        "count",
    )
    refused(
        client.post(f"{path}/contact", data={"email": "", "phone": "+33 6\n12 34 56 78", "csrf_token": token}),
        "one line",
    )
    refused(
        client.post(
            f"{path}/channels", data={"channel": "sms", "wanted": "false", "note": "\x00", "csrf_token": token}
        ),
        "note: must not contain NUL",
    )
    assert (count(db, Dispute), count(db, InstallmentPlan), count(db, Promise)) == (0, 0, 0)
    # free text keeps its line breaks
    ok = client.post(
        f"{path}/dispute",
        data={"invoice_id": invoice_id, "reason": "quality", "text": "first line\r\nsecond line", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text[:500]


def test_desk_forms(app, db, clock, ids):
    client, token = desk(app, db, clock, "manager")
    with db.session() as s:
        case_id = s.execute(select(Case.id)).scalar_one()
    # NUL in a policy name was a 500 (the settings model refused it inside the action)
    refused(client.post("/desk/customers/C1/policy", data={"policy_name": "x\x00", "csrf_token": token}), "NUL")
    refused(
        client.post("/desk/customers/C1/hold", data={"case_id": case_id, "until": "9999-12-31", "csrf_token": token}),
        f"9999-12-31 {WINDOW}",
    )
    refused(client.post("/desk/customers/C1/hold", data={"case_id": str(2**64), "csrf_token": token}), "case_id")
    refused(
        client.post(
            "/desk/customers/C1/plan",
            data={"currency": "EUR", "count": "3", "first_due": "9999-12-01", "csrf_token": token},
        ),
        f"9999-12-01 {WINDOW}",
    )
    refused(
        client.post(
            "/desk/customers/C1/promise",
            data={"currency": "EUR", "promised_on": "2026-03-10", "amount": "1" * 100, "csrf_token": token},
        ),
        "amount",
    )
    with db.session() as s:
        task_id = open_task(s, clock, kind="call", title="Call C1", customer_id=ids["C1"]).id
    refused(client.post(f"/desk/tasks/{task_id}/note", data={"text": "\x00", "csrf_token": token}), "NUL")
    # a field whose own type would take any text still meets the net every desk form passes
    refused(
        client.post("/desk/customers/C1/policy", data={"policy_name": "", "extra": "\x00", "csrf_token": token}),
        "extra: must not contain NUL characters",
    )
    with db.session() as s:
        assert s.get(Customer, ids["C1"]).policy_name is None
        assert s.get(Case, case_id).state != "paused"
    # an amount outside the grammar is refused by the action, quickly, as a message on the page
    day = (clock.now() + timedelta(days=5)).date().isoformat()
    r = client.post(
        "/desk/customers/C1/promise",
        data={"currency": "EUR", "promised_on": day, "amount": "1e999990", "csrf_token": token},
    )
    assert "is not an amount" in unescape(r.text)
    assert count(db, Promise) == 0


def test_a_nul_in_the_sign_in_email_is_refused(app):
    # PostgreSQL refuses a NUL even as a query parameter: the sign-in was a 500 there
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/desk/login")
    refused(
        client.post(
            "/desk/login", data={"email": "ada\x00@example.com", "password": "x", "csrf_token": form_token(page.text)}
        ),
        "NUL",
    )


def test_the_policy_editor_shows_a_stray_control_character_at_its_line(app, db, clock):
    client, token = desk(app, db, clock, "manager")
    document = default_document().replace("description:", "description: \x07", 1)
    page = client.post("/desk/policies/default", data={"document": document, "action": "preview", "csrf_token": token})
    text = refused(page, "must not contain control characters (U+0007")
    assert f'data-line="{document[: document.index(chr(7))].count(chr(10)) + 1}"' in text


def test_desk_search_and_filters_are_bounded(app, db, clock, ids):
    client, _ = desk(app, db, clock, "manager")
    assert client.get("/desk/customers", params={"q": "x" * 201}).status_code == 422
    assert client.get("/desk/policies", params={"new": "x" * 101}).status_code == 422
    assert client.get("/desk/outbox", params={"status": "x" * 21}).status_code == 422
