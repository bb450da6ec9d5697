"""Installment plans: validation, a plan paid on time closes the case, a missed installment defaults
the plan and the case resumes at its next formal step."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from dunning.arrangements.jobs import run_once
from dunning.audit import AuditEvent
from tests.builders import payment
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import day, seed, the_case

URL = "/v1/customers/C1/plans"
THREE = [("2026-03-10", "134.00"), ("2026-04-10", "133.00"), ("2026-05-10", "133.00")]


def plan(client, installments=THREE, **over):
    return client.post(
        URL, json={"currency": "EUR", "installments": [{"due_on": d, "amount": a} for d, a in installments], **over}
    )


@pytest.fixture
def started(client, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)


def live_until(client, db, clock, settings, until: date, pay: dict[str, str]) -> None:
    """Day by day: the customer pays on the days in `pay`, the scheduler does its work."""
    n = 0
    while clock.now().date() < until:
        today = clock.now().date().isoformat()
        if today in pay:
            n += 1
            r = client.post(
                "/v1/payments/bulk", json={"payments": [payment(f"P{n}", amount=pay[today], received_on=today)]}
            )
            assert r.status_code == 200, r.text
        day(db, clock, settings)


@pytest.mark.parametrize(
    "installments, outside, message",
    [
        (
            [("2026-03-10", "100.00"), ("2026-04-10", "200.00")],
            False,
            "add up to €300.00 but the balance to cover is €400.00",
        ),
        (
            [("2026-04-10", "200.00"), ("2026-03-10", "200.00")],
            False,
            "installment 2 due_on: installments must be in date order",
        ),
        (
            [("2026-03-01", "200.00"), ("2026-04-10", "200.00")],
            False,
            "installment 1 due_on: 2026-03-01 is in the past",
        ),
        ([("2026-03-10", "400.00")], False, "at least two installments"),
        ([(f"2026-03-{d:02d}", "80.00") for d in range(10, 15)], False, "5 installments; the policy allows at most 4"),
        (
            [("2026-03-10", "360.00"), ("2026-04-10", "40.00")],
            False,
            "installment 2 amount: below the policy's minimum",
        ),
        ([("2026-03-10", "200.00"), ("2026-07-10", "200.00")], False, "may run 3 months at most: until 2026-06-02"),
        ([("2026-03-10", "100.00"), ("2026-04-10", "200.00")], True, "add up to"),  # a person may not change the sum
        ([("2026-03-10", "200.00"), ("2026-04-10", "200.001")], False, "EUR has 2 decimal places"),
    ],
)
def test_a_plan_outside_the_rules_is_refused_with_a_clear_message(client, started, installments, outside, message):
    r = plan(client, installments, outside_policy=outside)
    assert r.status_code == 422, r.text
    assert message in r.json()["message"]
    assert client.get(URL).json() == []


def test_a_person_may_set_the_policy_bounds_aside_and_it_is_recorded(client, db, started):
    r = plan(client, [(f"2026-0{m}-10", "80.00") for m in range(3, 8)], outside_policy=True)
    assert r.status_code == 201, r.text
    assert r.json()["outside_policy"] is True and len(r.json()["installments"]) == 5
    with db.session() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "plan.created")).scalar_one()
    assert event.data["outside_policy"] is True and event.actor == "api_key:admin"


def test_one_running_plan_per_account(client, started):
    assert plan(client).status_code == 201
    r = plan(client)
    assert r.status_code == 409 and "already running" in r.json()["message"]


def test_three_installments_paid_on_time_close_the_case(client, db, clock, settings, started):
    r = plan(client, notify="email")
    assert r.status_code == 201, r.text
    assert [i["status"] for i in r.json()["installments"]] == ["due"] * 3
    case = the_case(db)
    assert case.state == "paused" and case.pause_reason == "plan" and case.paused_until is None

    live_until(client, db, clock, settings, date(2026, 5, 12), pay=dict(THREE))

    [done] = client.get(URL).json()
    assert done["status"] == "completed" and done["paid"] == "400.00"
    assert [(i["status"], i["paid_on"]) for i in done["installments"]] == [
        ("paid", "2026-03-10"),
        ("paid", "2026-04-10"),
        ("paid", "2026-05-10"),
    ]
    assert the_case(db).state == "closed"
    sent = [m for m in messages(db) if m.status == "sent"]
    assert [m.template for m in sent] == ["reminder", "plan_confirmation"] + ["installment_reminder"] * 3
    assert [m.sent_at.date() for m in sent[2:]] == [date(2026, 3, 7), date(2026, 4, 7), date(2026, 5, 7)]
    assert "133,00" in sent[3].body_text and "10 avril 2026" in sent[3].body_text
    assert not tasks(db, kind="plan_default")


def test_a_missed_second_installment_defaults_the_plan_and_escalates(client, db, clock, settings, started):
    assert plan(client).status_code == 201
    live_until(client, db, clock, settings, date(2026, 4, 11), pay={"2026-03-10": "134.00"})
    [missed_notice] = messages(db, template="installment_missed")
    assert missed_notice.status == "sent" and "10 avril 2026" in missed_notice.body_text
    [running] = client.get(URL).json()
    assert running["status"] == "active" and [i["status"] for i in running["installments"]] == ["paid", "missed", "due"]

    live_until(client, db, clock, settings, date(2026, 4, 16), pay={})
    [defaulted] = client.get(URL).json()
    assert defaulted["status"] == "defaulted" and defaulted["paid"] == "134.00"
    [task] = tasks(db, kind="plan_default")
    assert "defaulted on plan" in task.title
    case = the_case(db)
    assert case.state == "active"
    # the courteous reminders left on the path (r2, r3) are passed over, on the record
    with db.session() as s:
        passed = s.execute(select(AuditEvent).where(AuditEvent.action == "case.steps_passed")).scalar_one()
    assert passed.data["passed"] == ["r2", "r3"] and passed.data["next_step"] == "notice"
    [notice] = [m for m in messages(db) if m.path_name is not None and m.step_key != "r1"]
    assert notice.kind == "formal_notice" and notice.step_key == "notice"


def test_the_job_is_safe_to_run_twice(client, db, clock, settings, started):
    plan(client)
    clock.advance(days=9)  # 11 March: the first installment is missed, its reminder is due
    first = run_once(db, clock, settings)
    assert first == {}  # nothing decided yet, but the notices are queued
    queued = [(m.dedupe_key, m.status) for m in messages(db)]
    assert run_once(db, clock, settings) == {}
    assert [(m.dedupe_key, m.status) for m in messages(db)] == queued
    assert [m.template for m in messages(db) if m.template.startswith("installment")] == ["installment_missed"]

    clock.advance(days=5)  # past grace: the plan defaults, once
    assert run_once(db, clock, settings)["plan_defaulted"] == 1
    again = run_once(db, clock, settings)
    assert "plan_defaulted" not in again
    assert len(tasks(db, kind="plan_default")) == 1
    with db.session() as s:
        assert len(s.execute(select(AuditEvent).where(AuditEvent.action == "case.steps_passed")).all()) == 1


def test_a_promise_while_a_plan_runs_is_refused_the_installments_are_the_dates(client, started):
    plan(client)
    r = client.post("/v1/customers/C1/promises", json={"amount": "133.00", "currency": "EUR", "date": "2026-04-12"})
    assert r.status_code == 409 and "installments are the payment dates" in r.json()["message"]


def test_a_reminder_found_at_night_waits_for_the_contact_window(client, db, clock, settings, started):
    plan(client)
    clock.set(datetime(2026, 3, 6, 23, 30, tzinfo=UTC))  # 00:30 on the 7th in Paris: 3 days before
    run_once(db, clock, settings)
    [reminder] = messages(db, template="installment_reminder")
    assert reminder.send_after == datetime(2026, 3, 7, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    dispatch(db, clock, settings)
    [reminder] = messages(db, template="installment_reminder")
    assert reminder.status == "queued"
