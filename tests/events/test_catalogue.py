"""Every event type of the catalogue is published where the change happens, and README "Events"
shows each with the payload the service really sends: one scenario of several customers runs the
whole loop (replies, promises, plans, disputes, approvals, the agency, payments, tasks, failures)
and every payload is compared, key by key, with the README's example of its type."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from dunning.arrangements.jobs import run_once
from dunning.events.catalogue import TYPES
from dunning.ledger import service as ledger_service
from dunning.outbox import service as outbox_service
from dunning.outbox.models import Message
from dunning.tasks import service as task_service
from tests.builders import customer, invoice, payment
from tests.outbox.support import cycle, dispatch, messages
from tests.replies.conftest import anonymous, settings, twilio  # noqa: F401  (fixtures: SMS through a fake Twilio)
from tests.replies.support import PUBLIC_URL, STATUS_PATH, policy, sign, text_in

README = Path(__file__).resolve().parents[2] / "README.md"
HEAVY = """
name: heavy
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: registered, after_days: 1, kind: registered_letter, channels: [letter]}
      - {key: agency, after_days: 2, kind: agency_handoff, channels: [letter]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def readme_examples() -> dict[str, dict]:
    """The JSON example of each type in README's "Events" section."""
    section = re.split(r"\n#{2,3} ", README.read_text().split("\n### Events\n", 1)[1], maxsplit=1)[0]
    examples = {}
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        example = json.loads(block)
        examples[example["type"]] = example
    return examples


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def day(client, db, clock, settings, days: int = 1) -> None:  # noqa: F811 (the fixture imported above)
    clock.advance(days=days)
    run_once(db, clock, settings)
    cycle(db, clock, settings)
    dispatch(db, clock, settings)


@pytest.fixture
def published(client, anonymous, db, clock, settings):  # noqa: F811
    ok(client.put("/v1/policies/default", content=policy("sms"), headers={"Content-Type": "application/yaml"}))
    ok(client.put("/v1/policies/heavy", content=HEAVY, headers={"Content-Type": "application/yaml"}))
    ok(
        client.post(
            "/v1/customers/bulk",
            json={
                "customers": [
                    *(customer(f"C{n}", phone=f"+3361234560{n}") for n in (1, 2, 3, 5)),
                    customer(
                        "C4", kind="consumer", phone="+33612345604", address="12 rue de la Paix\n75002 Paris\nFrance"
                    ),
                ]
            },
        )
    )
    due = clock.now().date() - timedelta(days=10)
    ok(
        client.post(
            "/v1/invoices/bulk",
            json={"invoices": [invoice(f"I{n}", f"C{n}", due=due, total="400.00") for n in range(1, 6)]},
        )
    )
    ok(client.patch("/v1/customers/C4/dunning", json={"policy_name": "heavy"}))
    cycle(db, clock, settings)  # case.opened, case.step_planned, approval.requested (C4's registered letter)
    dispatch(db, clock, settings)  # message.sent (the SMS reminders)

    letter = messages(db, customer_id=_id(db, "C4"))[0]
    ok(client.post(f"/v1/approvals/{letter.id}", json={"decision": "approve", "note": "file checked"}))

    # reply.received, promise.made, case.paused
    assert text_in(anonymous, "je paierai vendredi", sender="+33612345601").status_code == 200
    sms = messages(db, customer_id=_id(db, "C2"), channel="sms")[0]
    form = {
        "MessageSid": sms.provider_id,
        "MessageStatus": "undelivered",
        "ErrorCode": "30007",
        "AccountSid": "AC" + "1" * 32,
    }
    r = anonymous.post(STATUS_PATH, data=form, headers={"X-Twilio-Signature": sign(form, PUBLIC_URL + STATUS_PATH)})
    assert r.status_code == 204  # message.failed

    ok(
        client.post(
            "/v1/customers/C2/promises",
            json={"currency": "EUR", "amount": "400.00", "date": (clock.now().date() + timedelta(days=3)).isoformat()},
        ),
        201,
    )
    ok(
        client.post(
            "/v1/payments/bulk",
            json={"payments": [payment("P2", "C2", amount="400.00", received_on=clock.now().date().isoformat())]},
        )
    )  # payment.received
    start = clock.now().date()
    for name in ("C3", "C5"):
        ok(
            client.post(
                f"/v1/customers/{name}/plans",
                json={
                    "currency": "EUR",
                    "installments": [
                        {"due_on": (start + timedelta(days=7)).isoformat(), "amount": "200.00"},
                        {"due_on": (start + timedelta(days=14)).isoformat(), "amount": "200.00"},
                    ],
                },
            ),
            201,
        )
    ok(
        client.post(
            "/v1/payments/bulk",
            json={"payments": [payment("P3", "C3", amount="400.00", received_on=start.isoformat())]},
        )
    )

    ok(client.post("/v1/invoices/I1/dispute", json={"reason_code": "not_received", "text": "never got it"}), 201)
    ok(client.post("/v1/invoices/I1/dispute/resolve", json={"outcome": "rejected", "note": "signed delivery note"}))

    task = ok(client.post("/v1/tasks", json={"title": "Ring the buyer", "customer": "C1"}), 201)
    ok(client.post(f"/v1/tasks/{task['id']}/assign", json={"assignee": None}))
    ok(client.post(f"/v1/tasks/{task['id']}/notes", json={"text": "no answer"}))
    ok(client.post(f"/v1/tasks/{task['id']}/complete", json={}))
    with db.session() as session:
        task_service.reopen(session, clock, task_service.get(session, task["id"]), "the failure came back")

    in_flight = messages(db, customer_id=_id(db, "C3"))[0]
    with db.session() as session:  # a worker handed this one to its transport and died
        session.get(Message, in_flight.id).status = "queued"
        outbox_service.claim(session, clock, "dead-worker", [in_flight.id])
        outbox_service.hand_over(session, clock, [in_flight.id], "dead-worker")
    clock.advance(hours=1)
    with db.session() as session:
        assert outbox_service.recover_stale(session, clock).in_doubt == [in_flight.id]  # message.in_doubt

    for _ in range(21):  # three weeks: promises judged, plans paid or defaulted, C4's file to the agency
        day(client, db, clock, settings)
        while waiting := ok(client.get("/v1/approvals")):  # one decision takes the whole step
            ok(client.post(f"/v1/approvals/{waiting[0]['id']}", json={"decision": "approve"}))
    items, after = [], 0
    while True:
        page = ok(client.get("/v1/events", params={"after": after, "limit": 1000}))
        items += page["items"]
        after = page["next_after"]
        if not page["has_more"]:
            return items


def _id(db, external_id: str) -> int:
    with db.session() as session:
        return ledger_service.customer_ids(session, [external_id])[external_id]


def test_every_type_is_published_with_the_payload_the_readme_shows(published):
    by_type = {}
    for event in published:
        by_type.setdefault(event["type"], event)
    assert set(by_type) == set(TYPES), set(TYPES) - set(by_type)
    examples = readme_examples()
    assert set(examples) == set(TYPES)
    for event_type, event in by_type.items():
        example = examples[event_type]
        assert set(example) == set(event) == {"id", "type", "timestamp", "data"}
        assert set(example["data"]) == set(event["data"]), (event_type, event["data"])
        same = [e for e in published if e["type"] == event_type]
        assert all(set(e["data"]) == set(event["data"]) for e in same), event_type  # one shape per type
