"""The desk's pages doing the team's work: approvals, tasks, a customer's actions, policies, the outbox."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from dunning.arrangements import disputes
from dunning.audit import AuditEvent
from dunning.cases.models import Case
from dunning.ledger.models import Customer, Invoice
from dunning.outbox.models import Message
from dunning.policies import service as policy_service
from dunning.records.arrangements import Dispute, InstallmentPlan, Promise
from dunning.tasks.service import open_task
from tests.builders import customer, invoice
from tests.outbox.support import LEEDS, REMINDER_THEN_REGISTERED, cycle, dispatch, messages, seed, tasks, use_policy
from tests.web.support import desk

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

LETTERS = REMINDER_THEN_REGISTERED


@pytest.fixture
def uk1(db, clock, settings):
    """A British customer whose registered letter waits for approval, after a reminder by email."""
    use_policy(db, clock, LETTERS)
    ids = seed(
        db,
        clock,
        [
            customer(
                "UK1",
                name="Acme Widgets Ltd",
                language="en",
                country="GB",
                timezone="Europe/London",
                phone="+447911123456",
                address=LEEDS,
            )
        ],
        [
            invoice(f"I{i}", "UK1", due=date(2026, 2, 20) + timedelta(days=i), currency="GBP", total="400.00")
            for i in range(3)
        ],
    )
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    clock.advance(days=1)
    cycle(db, clock, settings)
    return ids["UK1"]


def letter(db) -> Message:
    return messages(db, step_key="reg")[0]


def test_a_manager_approves_a_letter_from_the_worklist(app, db, clock, uk1):
    client, token = desk(app, db, clock, "manager")
    page = client.get("/desk/worklist")
    waiting = letter(db)
    assert waiting.status == "awaiting_approval"
    assert f'data-approval="{waiting.id}"' in page.text and "Acme Widgets Ltd" in page.text
    r = client.post(f"/desk/approvals/{waiting.id}", data={"decision": "approve", "csrf_token": token})
    assert r.status_code == 200 and "Approved: Registered letter by letter" in r.text  # the flash, after the redirect
    assert letter(db).status == "queued" and letter(db).decided_by == "user:manager@example.com"
    assert f'data-approval="{waiting.id}"' not in client.get("/desk/worklist").text
    # approving again is refused politely, not with a crash
    again = client.post(f"/desk/approvals/{waiting.id}", data={"decision": "approve", "csrf_token": token})
    assert "not awaiting approval" in again.text


def test_an_agent_sees_approvals_but_cannot_decide(app, db, clock, uk1):
    client, token = desk(app, db, clock, "agent")
    page = client.get("/desk/worklist")
    assert "a manager decides" in page.text and 'data-action="approve"' not in page.text
    assert (
        client.post(f"/desk/approvals/{letter(db).id}", data={"decision": "approve", "csrf_token": token}).status_code
        == 403
    )
    assert letter(db).status == "awaiting_approval"


def test_a_rejection_pauses_the_case_for_review(app, db, clock, uk1):
    client, token = desk(app, db, clock, "manager")
    client.post(
        f"/desk/approvals/{letter(db).id}", data={"decision": "reject", "note": "they called", "csrf_token": token}
    )
    assert letter(db).status == "rejected"
    with db.session() as session:
        assert session.get(Case, letter(db).case_id).pause_reason == "review"


def test_tasks_are_assigned_noted_and_done(app, db, clock, uk1):
    client, token = desk(app, db, clock, "agent")
    desk(app, db, clock, "agent", "bob@example.com")
    with db.session() as session:
        task_id = open_task(session, clock, kind="call", title="Call Acme", customer_id=uk1).id
    client.post(f"/desk/tasks/{task_id}/assign", data={"assignee": "bob@example.com", "csrf_token": token})
    client.post(f"/desk/tasks/{task_id}/note", data={"text": "left a voicemail", "csrf_token": token})
    page = client.get("/desk/worklist?who=unassigned")
    assert f'data-task="{task_id}"' not in page.text
    r = client.post(f"/desk/tasks/{task_id}/assign", data={"assignee": "mallory@example.com", "csrf_token": token})
    assert "not an active desk user" in r.text
    client.post(f"/desk/tasks/{task_id}/done", data={"csrf_token": token})
    [task] = tasks(db, id=task_id)
    assert (task.assignee, task.status, task.done_by) == ("bob@example.com", "done", "user:agent@example.com")
    assert task.notes[0]["text"] == "left a voicemail" and task.notes[0]["by"] == "user:agent@example.com"
    assert "left a voicemail" in client.get("/desk/worklist?status=done").text


def test_a_message_in_doubt_is_resolved_from_the_worklist(app, db, clock, uk1):
    client, token = desk(app, db, clock, "manager")
    with db.session() as session:
        message = session.execute(select(Message).where(Message.status == "sent")).scalars().first()
        message.status = "in_doubt"
        open_task(
            session,
            clock,
            kind="in_doubt",
            key=f"in_doubt:{message.id}",
            message_id=message.id,
            customer_id=uk1,
            title="maybe sent",
        )
    assert "It was sent" in client.get("/desk/worklist").text
    client.post(f"/desk/messages/{message.id}/resolve", data={"outcome": "sent", "csrf_token": token})
    assert messages(db, id=message.id)[0].status == "sent"
    assert tasks(db, kind="in_doubt")[0].status == "done"


def test_the_customer_page_shows_invoices_cases_and_the_timeline(app, db, clock, uk1):
    client, _ = desk(app, db, clock, "agent")
    page = client.get("/desk/customers/UK1")
    assert page.status_code == 200
    assert "Acme Widgets Ltd" in page.text and "N-I0" in page.text and "£400.00" in page.text
    email = messages(db, channel="email")[0]
    assert f'href="/desk/outbox/{email.id}"' in page.text and email.subject in page.text  # the message as sent
    assert "letter · Registered letter" in page.text and "case opened" in page.text  # the step by its name
    assert 'data-state="active"' in page.text
    listing = client.get("/desk/customers")
    assert "Acme Widgets Ltd" in listing.text and "£1,200.00" in listing.text
    assert "Acme" in client.get("/desk/customers?q=widgets").text
    assert client.get("/desk/customers/NOPE").status_code == 404


def test_an_agent_records_a_promise_and_the_case_pauses(app, db, clock, uk1):
    client, token = desk(app, db, clock, "agent")
    day = (clock.now() + timedelta(days=5)).date().isoformat()
    r = client.post("/desk/customers/UK1/promise", data={"currency": "GBP", "promised_on": day, "csrf_token": token})
    assert "Promise recorded: the case is paused until then" in r.text
    assert 'data-state="paused"' in r.text
    with db.session() as session:
        promise = session.execute(select(Promise)).scalar_one()
        assert (promise.source, promise.amount_minor, promise.created_by) == ("desk", 120_000, "user:agent@example.com")
    past = client.post(
        "/desk/customers/UK1/promise", data={"currency": "GBP", "promised_on": "2020-01-01", "csrf_token": token}
    )
    assert "is in the past" in past.text


def test_a_manager_holds_resumes_and_changes_the_policy(app, db, clock, uk1):
    with db.session() as session:
        policy_service.save(session, clock, "gentle", LETTERS.replace("name: default", "name: gentle"), "test")
        case_id = session.execute(select(Case.id)).scalar_one()
    client, token = desk(app, db, clock, "manager")
    until = (clock.now() + timedelta(days=10)).date()
    r = client.post(
        "/desk/customers/UK1/hold", data={"case_id": case_id, "until": until.isoformat(), "csrf_token": token}
    )
    assert "Case on hold through" in r.text
    with db.session() as session:
        case = session.get(Case, case_id)
        # held through that day, London time: contact may resume the next morning
        assert (
            case.state == "paused"
            and case.pause_reason == "hold"
            and case.paused_until.date() == until + timedelta(days=1)
        )
    client.post("/desk/customers/UK1/resume", data={"case_id": case_id, "csrf_token": token})
    client.post("/desk/customers/UK1/policy", data={"policy_name": "gentle", "csrf_token": token})
    with db.session() as session:
        assert session.get(Case, case_id).state == "active"
        assert session.execute(select(Customer.policy_name)).scalar_one() == "gentle"
    unknown = client.post("/desk/customers/UK1/policy", data={"policy_name": "nope", "csrf_token": token})
    assert "no policy named" in unknown.text
    # a case id from another customer is not this customer's
    r = client.post("/desk/customers/UK1/hold", data={"case_id": 999, "csrf_token": token})
    assert "has no case 999" in r.text


def test_a_plan_and_a_dispute_from_the_customer_page(app, db, clock, settings, uk1):
    client, token = desk(app, db, clock, "agent")
    with db.session() as session:
        inv = session.execute(select(Invoice).where(Invoice.external_id == "I2")).scalar_one()
        dispute = disputes.open_dispute(
            session, clock, settings, invoice=inv, reason_code="wrong_amount", text=None, source="api", actor="test"
        )
    first = (clock.now() + timedelta(days=7)).date().isoformat()
    r = client.post(
        "/desk/customers/UK1/plan", data={"currency": "GBP", "count": "2", "first_due": first, "csrf_token": token}
    )
    assert "Plan of 2 payments set up" in r.text
    with db.session() as session:
        plan = session.execute(select(InstallmentPlan)).scalar_one()
        assert plan.total_minor == 80_000 and plan.source == "desk"  # the disputed invoice is not in it
    r = client.post(
        f"/desk/customers/UK1/disputes/{dispute.id}/resolve",
        data={"outcome": "rejected", "note": "delivery note signed", "csrf_token": token},
    )
    assert "Dispute rejected" in r.text
    with db.session() as session:
        assert session.get(Dispute, dispute.id).resolved_by == "user:agent@example.com"


def test_the_policy_editor_shows_errors_at_their_line_and_previews_before_saving(app, db, clock):
    use_policy(db, clock, LETTERS)
    seed(db, clock, [customer("P1", name="Preview Co", address=LEEDS)], [invoice("PI1", "P1", due=date(2026, 3, 1))])
    client, token = desk(app, db, clock, "manager")
    page = client.get("/desk/policies/default")
    assert "reg, after_days: 3" in page.text
    broken = LETTERS.replace("after_days: 3,", "after_days: three,")
    r = client.post("/desk/policies/default", data={"document": broken, "action": "preview", "csrf_token": token})
    assert r.status_code == 422
    bad_line = broken.splitlines().index(next(line for line in broken.splitlines() if "three" in line)) + 1
    assert f'data-line="{bad_line}">line {bad_line}</a>' in r.text
    assert f'<span class="bad">{bad_line}</span>' in r.text  # the gutter beside the textarea
    assert "after_days: three" in r.text  # the unsaved text is kept

    r = client.post(
        "/desk/policies/default",
        data={
            "document": LETTERS.replace("after_days: 3,", "after_days: 2,"),
            "action": "preview",
            "csrf_token": token,
        },
    )
    assert r.status_code == 200 and 'id="preview"' in r.text and "Preview Co" in r.text
    assert "Registered letter" in r.text and "needs approval" in r.text  # the step by its name
    assert "€100.00" in r.text and "100.00 EUR" not in r.text  # amounts as people read them
    with db.session() as session:
        assert policy_service.latest(session, "default").document == LETTERS  # a preview saves nothing

    r = client.post(
        "/desk/policies/default",
        data={"document": LETTERS.replace("after_days: 3,", "after_days: 2,"), "action": "save", "csrf_token": token},
    )
    assert "saved as version 3" in r.text  # 1 the shipped default, 2 LETTERS
    assert client.get("/desk/policies").status_code == 200
    new = client.get("/desk/policies?new=Gentle", follow_redirects=True)
    assert "name: gentle" in new.text and "Not saved yet" in new.text


def test_the_outbox_shows_each_message_as_sent(app, db, clock, settings, uk1):
    client, token = desk(app, db, clock, "manager")
    listing = client.get("/desk/outbox?status=awaiting_approval")
    assert f'data-message="{letter(db).id}"' in listing.text
    email = messages(db, channel="email")[0]
    page = client.get(f"/desk/outbox/{email.id}")
    # the stored HTML in a sandboxed frame of its own: never part of the desk's own page, and
    # under a policy that lets its inline styles be and runs nothing
    assert f'<iframe class="frame" sandbox src="/desk/outbox/{email.id}/html"' in page.text
    assert "<body style=" not in page.text
    framed = client.get(f"/desk/outbox/{email.id}/html")
    assert framed.text == email.body_html
    policy = framed.headers["content-security-policy"]
    assert "sandbox" in policy and "style-src 'unsafe-inline'" in policy and "script-src" not in policy
    assert "default-src 'none'" in policy
    assert client.get(f"/desk/outbox/{letter(db).id}/html").text.startswith("<!DOCTYPE html>")  # a letter, before
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]  # the desk's own pages: none

    preview = client.get(f"/desk/outbox/{letter(db).id}")
    assert "a preview rendered now" in preview.text and "Approve the step" in preview.text
    client.post(f"/desk/approvals/{letter(db).id}", data={"decision": "approve", "csrf_token": token})
    dispatch(db, clock, settings)
    sent = letter(db)
    assert sent.status == "sent"
    page = client.get(f"/desk/outbox/{sent.id}")
    assert f'src="/desk/outbox/{sent.id}/pdf"' in page.text
    pdf = client.get(f"/desk/outbox/{sent.id}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/desk/outbox/{email.id}/pdf").status_code == 404


def test_overview_and_users_pages(app, db, clock, uk1):
    client, token = desk(app, db, clock, "admin")
    overview = client.get("/desk")
    assert 'svg class="chart aging"' in overview.text and 'data-bucket="d1_30"' in overview.text
    r = client.post(
        "/desk/users",
        data={"email": "New@Example.com", "role": "manager", "password": "a long enough password", "csrf_token": token},
    )
    assert "new@example.com can now sign in as manager" in r.text
    with db.session() as session:
        assert session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "desk_user.created", AuditEvent.subject_id == "new@example.com"
            )
        ).first()
