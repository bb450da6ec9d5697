from __future__ import annotations

from datetime import date

from sqlalchemy import select

from dunning.audit import AuditEvent
from dunning.cases.models import Case
from dunning.tasks.models import Task
from tests.builders import customer, invoice
from tests.outbox.support import ADDRESS, cycle, dispatch, messages

REGISTERED_NO_APPROVAL = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: reg, after_days: 1, kind: registered_letter, channels: [letter], requires_approval: false}
      - {key: agency, after_days: 30, kind: agency_handoff, channels: [letter], requires_approval: false}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def seed(client, kind):
    client.put("/v1/policies/default", content=REGISTERED_NO_APPROVAL, headers={"Content-Type": "application/yaml"})
    client.post("/v1/customers/bulk", json={"customers": [customer("C1", kind=kind, address=ADDRESS)]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1", due=date(2026, 2, 20), total="900.00")]})


def test_a_consumer_registered_letter_waits_for_a_person_whatever_the_policy_says(client, db, clock, settings):
    seed(client, "consumer")
    cycle(db, clock, settings)
    [letter] = messages(db)
    assert letter.status == "awaiting_approval" and letter.kind == "registered_letter"
    waiting = client.get("/v1/approvals").json()
    assert [m["id"] for m in waiting] == [letter.id]
    dispatch(db, clock, settings)
    assert messages(db)[0].status == "awaiting_approval"  # nothing goes out unapproved

    r = client.post(f"/v1/approvals/{letter.id}", json={"decision": "approve", "note": "checked the file"})
    assert r.status_code == 200, r.text
    assert r.json()[0]["status"] == "queued" and r.json()[0]["decided_by"] == "api_key:admin"
    with db.session() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "message.approved")).scalar_one()
    assert event.actor == "api_key:admin" and event.data["note"] == "checked the file"
    dispatch(db, clock, settings)
    assert messages(db)[0].status == "sent"
    assert client.post(f"/v1/approvals/{letter.id}", json={"decision": "approve"}).status_code == 409


def test_a_business_customer_follows_the_policy(client, db, clock, settings):
    seed(client, "business")
    cycle(db, clock, settings)
    assert messages(db)[0].status == "queued"


def test_a_rejected_step_pauses_the_case_for_a_person(client, db, clock, settings):
    seed(client, "consumer")
    cycle(db, clock, settings)
    [letter] = messages(db)
    client.post(f"/v1/approvals/{letter.id}", json={"decision": "reject", "note": "customer in hospital"})
    assert messages(db)[0].status == "rejected"
    with db.session() as s:
        case = s.execute(select(Case)).scalar_one()
        task = s.execute(select(Task).where(Task.kind == "review")).scalar_one()
    assert case.state == "paused" and case.pause_reason == "review"
    assert "customer in hospital" in task.detail
    clock.advance(days=40)
    report = cycle(db, clock, settings)
    assert report.counts["plan"] == 0, report.outcomes  # no sliding on to the agency
    assert client.post(f"/v1/cases/{case.id}/resume").json()["state"] == "active"
    assert cycle(db, clock, settings).counts["plan"] == 1


def test_approvals_need_the_manage_scope(app, db, clock):
    from tests.conftest import make_client, new_key

    reader = make_client(app, new_key(db, clock, ["read"]))
    assert reader.get("/v1/approvals").status_code == 403
