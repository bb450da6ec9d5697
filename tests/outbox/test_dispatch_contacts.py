"""Steps that write to roles: a formal notice to the legal contact with billing in copy over SMTP
to aiosmtpd on loopback, a text to billing's phone through the twilio library, a letter to the
legal address, a refused copy that marks only its contact, and the preview naming them all."""

from __future__ import annotations

from datetime import date

import pytest

from tests.builders import customer, invoice
from tests.fakes.smtp import smtp_server
from tests.fakes.twilio_api import FakeTwilio
from tests.outbox.support import contact_row, cycle, dispatch, messages, outbox_settings, seed, smtp, tasks, use_policy

SID, TOKEN = "AC" + "5" * 32, "fake-token"
BILLING = {
    "external_id": "ap",
    "name": "Accounts Payable",
    "email": "ap@acme.example",
    "phone": "+33698765432",
    "roles": ["billing"],
}
LEGAL = {
    "external_id": "law",
    "name": "Maître Durand",
    "email": "legal@acme.example",
    "address": "3 quai Voltaire\n75007 Paris\nFrance",
    "roles": ["legal"],
}
BUYER = {"external_id": "buy", "name": "Buyer", "email": "buyer@acme.example", "roles": ["buyer"]}
# A text to billing, then the formal notice to legal with billing in copy, and a letter to legal.
BY_ROLE = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: t1, after_days: 1, kind: reminder, channels: [sms], to: [billing]}
      - {key: fn, after_days: 3, kind: formal_notice, channels: [email, letter], to: [legal], cc: [billing]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


@pytest.fixture
def server():
    with smtp_server() as running:
        yield running


@pytest.fixture
def twilio():
    with FakeTwilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
def role_settings(settings, server, twilio):
    return outbox_settings(
        settings,
        **smtp(server.port),
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number="+33700000000",
        twilio_api_base=twilio.url,
        http_timeout_seconds=5,
    )


def seeded(db, clock, *contacts: dict) -> dict[str, int]:
    use_policy(db, clock, BY_ROLE)
    return seed(db, clock, [customer("C1", contacts=list(contacts))], [invoice("I1", due=date(2026, 2, 20))])


def test_the_text_goes_to_billing_and_the_notice_to_legal_with_billing_in_copy(
    db, clock, role_settings, server, twilio
):
    ids = seeded(db, clock, BILLING, LEGAL, BUYER)
    assert [o.step_key for o in cycle(db, clock, role_settings).planned] == ["t1"]
    assert dispatch(db, clock, role_settings)["sent"] == 1
    assert [m["To"] for m in twilio.messages] == ["+33698765432"]  # not the customer's own +33612345678

    clock.advance(days=3)
    assert [o.step_key for o in cycle(db, clock, role_settings).planned] == ["fn"]
    assert dispatch(db, clock, role_settings)["sent"] == 2
    [got] = server.handler.received
    assert got.rcpt_tos == ["legal@acme.example", "ap@acme.example"]  # the buyer and the primary are not written to
    mail = got.message()
    assert mail["To"] == "Maître Durand <legal@acme.example>" and mail["Cc"] == "Accounts Payable <ap@acme.example>"

    law, ap = contact_row(db, ids["C1"], "law"), contact_row(db, ids["C1"], "ap")
    sms, email, letter = messages(db)
    assert sms.recipients == [{"contact_id": ap.id, "name": "Accounts Payable", "address": "+33698765432", "as": "to"}]
    assert email.recipient == "legal@acme.example"
    assert [(r["contact_id"], r["as"]) for r in email.recipients] == [(law.id, "to"), (ap.id, "cc")]
    # the letter goes to the legal address, the contact's name under the customer's
    assert letter.recipient == "Customer C1\nMaître Durand\n3 quai Voltaire\n75007 Paris\nFrance"
    assert [(r["contact_id"], r["as"]) for r in letter.recipients] == [(law.id, "to")]


def test_a_refused_copy_marks_only_its_contact(db, clock, role_settings, server):
    ids = seeded(db, clock, BILLING, LEGAL)
    server.handler.rcpt_replies["ap@acme.example"] = "550 5.1.1 no such user"
    cycle(db, clock, role_settings)
    dispatch(db, clock, role_settings)  # the text
    clock.advance(days=3)
    cycle(db, clock, role_settings)
    dispatch(db, clock, role_settings)
    [failed] = [m for m in messages(db) if m.channel == "email"]
    assert failed.status == "failed" and "ap@acme.example" in failed.last_error
    assert contact_row(db, ids["C1"], "ap").invalid_channels == ["email"]
    assert contact_row(db, ids["C1"], "law").invalid_channels == []
    assert contact_row(db, ids["C1"], "primary").invalid_channels == []
    [task] = tasks(db, kind="contact_invalid")
    assert "Accounts Payable" in task.title


def test_without_a_legal_contact_the_notice_goes_to_the_primary_and_the_preview_says_so(
    client, db, clock, role_settings
):
    use_policy(db, clock, BY_ROLE)
    seed(
        db,
        clock,
        [customer("C1", contacts=[BILLING]), customer("C2", contacts=[LEGAL, BUYER])],
        [invoice("I1", due=date(2026, 2, 20)), invoice("I2", "C2", due=date(2026, 2, 20))],
    )
    r = client.post("/v1/policies/default/preview", json={"days": 10})
    assert r.status_code == 200, r.text
    rows = {(row["customer_external_id"], row["step"]): (row["to"], row["cc"]) for row in r.json()}
    assert rows[("C1", "t1")] == (["Accounts Payable"], [])
    assert rows[("C1", "fn")] == (["Customer C1"], ["Accounts Payable"])  # no legal contact: the primary
    assert rows[("C2", "t1")] == (["Customer C2"], [])  # no billing contact: the primary's phone
    assert rows[("C2", "fn")] == (["Maître Durand"], [])


def test_a_policy_names_only_known_roles(client):
    document = BY_ROLE.replace("cc: [billing]", "cc: [accounting]")
    r = client.put("/v1/policies/default", content=document, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 422
    assert any("cc" in e["field"] for e in r.json()["errors"]), r.json()
