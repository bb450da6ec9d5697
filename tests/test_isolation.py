"""One bad case never stops the others: a poison row written straight into the database (as if it
got in before the door was closed) fails its own case in the cycle, dispatch, the arrangements
job and the rescore; the healthy cases are planned and sent; the failure is one open task, one
audit event and one logged traceback however often the job runs."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from sqlalchemy import func, insert, select, update

from dunning.arrangements.jobs import run_once as run_arrangements
from dunning.audit import AuditEvent
from dunning.cases.models import Case
from dunning.contacts.models import Contact
from dunning.ledger.models import Customer, Invoice
from dunning.policies import service as policy_service
from dunning.policies.models import PolicyVersion
from dunning.records.arrangements import Installment, InstallmentPlan
from dunning.scoring import jobs as scoring_jobs
from dunning.scoring.models import Score
from dunning.tasks import service as task_service
from tests.builders import customer, invoice
from tests.outbox.support import cycle, dispatch, messages, seed, tasks, use_policy
from tests.replies.support import policy
from tests.web.support import desk

HEALTHY = ("C0", "C2")


def three_customers(db, clock) -> dict[str, int]:
    # The default policy, entering every case at its first step: the year-1 due date below breaks
    # that step's date (three days before it); entering by age would pass the step over.
    use_policy(
        db, clock, policy_service.default_document().replace("entry:\n  by_age_after_days: 60", "entry: first_step")
    )
    return seed(
        db,
        clock,
        [customer(f"C{i}") for i in range(3)],
        [invoice(f"I{i}", f"C{i}", due=date(2026, 2, 1)) for i in range(3)],
    )


def plant(db, *statements) -> None:
    """Rows as a writer that skipped validation left them."""
    with db.session() as session:
        for statement in statements:
            session.execute(statement)


def failure_tasks(db, job: str):
    return [t for t in tasks(db, kind="failure") if t.data.get("job") == job]


def audit_failures(db) -> list[AuditEvent]:
    with db.session() as session:
        return list(session.execute(select(AuditEvent).where(AuditEvent.action == "job.failed")).scalars())


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dunning.jobs" and r.exc_info]


POISONS = {
    # an ERP's "empty date": the engine's step date runs off the calendar
    "due 0001-01-01": lambda ids: update(Invoice).where(Invoice.external_id == "I1").values(due_on=date(1, 1, 1)),
    # a hold "for ever": the end of the hold is past the last day a datetime holds
    "hold until 9999-12-31": lambda ids: (
        update(Customer).where(Customer.id == ids["C1"]).values(hold_until=date(9999, 12, 31))
    ),
    "a time zone nobody knows": lambda ids: (
        update(Customer).where(Customer.id == ids["C1"]).values(timezone="Mars/Olympus_Mons")
    ),
    "a policy nobody saved": lambda ids: update(Customer).where(Customer.id == ids["C1"]).values(policy_name="gone"),
}


@pytest.mark.parametrize("poison", POISONS)
def test_a_poison_case_fails_alone_and_the_others_are_planned_and_sent(db, clock, settings, caplog, poison):
    ids = three_customers(db, clock)
    plant(db, POISONS[poison](ids))
    caplog.set_level(logging.INFO, logger="dunning.jobs")

    report = cycle(db, clock, settings)
    assert report.counts["failed"] == 1 and report.counts["plan"] == 2
    assert dispatch(db, clock, settings)["sent"] == 2
    sent = {m.customer_id for m in messages(db, status="sent")}
    assert sent == {ids[c] for c in HEALTHY}
    assert not [m for m in messages(db) if m.customer_id == ids["C1"]]

    [task] = failure_tasks(db, "cycle")
    assert task.status == "open" and task.customer_id == ids["C1"]
    assert len(audit_failures(db)) == 1 and len(tracebacks(caplog)) == 1

    for _ in range(2):  # later runs: the same case fails again, nothing more piles up
        clock.advance(hours=1)
        assert cycle(db, clock, settings).counts["failed"] == 1
    assert len(failure_tasks(db, "cycle")) == 1 and len(audit_failures(db)) == 1
    assert len(tracebacks(caplog)) == 1
    assert [r.levelname for r in caplog.records if "still fails" in r.getMessage()] == ["WARNING", "WARNING"]


def test_a_closed_failure_task_opens_again_when_the_case_still_fails(db, clock, settings):
    ids = three_customers(db, clock)
    plant(db, POISONS["due 0001-01-01"](ids))
    cycle(db, clock, settings)
    with db.session() as session:
        task_service.complete(session, clock, failure_tasks(db, "cycle")[0].id, "user:someone", "looked at it")
    clock.advance(hours=1)
    cycle(db, clock, settings)
    [task] = failure_tasks(db, "cycle")
    assert task.status == "open" and len(audit_failures(db)) == 2


def test_the_case_view_and_the_desk_show_the_error_instead_of_failing(client, app, db, clock, settings):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1", "C1", due=date(2026, 2, 1))]})
    cycle(db, clock, settings)
    plant(db, update(Customer).values(hold_until=date(9999, 12, 31)), update(Invoice).values(due_on=date(1, 1, 1)))

    r = client.get("/v1/customers/C1/case")
    assert r.status_code == 200, r.text
    [case] = r.json()
    assert "OverflowError" in case["next"]["error"] and "cannot decide" in case["next"]["why"]

    agent, _ = desk(app, db, clock, "agent")
    page = agent.get("/desk/customers/C1")
    assert page.status_code == 200
    assert "data-case-error" in page.text and "OverflowError" in page.text


def test_dispatch_fails_the_message_whose_case_cannot_be_handled_and_sends_the_rest(db, clock, settings):
    ids = three_customers(db, clock)
    cycle(db, clock, settings)
    # The case follows a policy that is gone, and its customer's address with it: cancelling the
    # message rewinds the case's step, which needs the policy and raises inside the group's
    # transaction. Without isolation the whole group stayed claimed, nobody's message went out.
    plant(
        db,
        update(Case).where(Case.customer_id == ids["C1"]).values(policy_name="gone"),
        update(Customer).where(Customer.id == ids["C1"]).values(email=None),
        update(Contact).where(Contact.customer_id == ids["C1"]).values(email=None),
    )
    counts = dispatch(db, clock, settings)
    assert counts["sent"] == 2 and counts["failed"] == 1
    status = {m.customer_id: m.status for m in messages(db)}
    assert status == {ids["C0"]: "sent", ids["C1"]: "failed", ids["C2"]: "sent"}
    [task] = failure_tasks(db, "dispatch")
    assert task.customer_id == ids["C1"] and task.case_id is not None and "gone" in task.detail


def test_dispatch_reads_the_batch_again_without_a_customer_whose_data_cannot_be_read(db, clock, settings):
    ids = three_customers(db, clock)
    cycle(db, clock, settings)
    # A policy row in a format this version cannot read, for one customer: reading the batch raised
    # for all of it.
    plant(
        db,
        insert(PolicyVersion).values(
            name="odd", version=1, format="toml", document="x = 1", created_by="test", created_at=clock.now()
        ),
        update(Customer).where(Customer.id == ids["C1"]).values(policy_name="odd"),
    )
    counts = dispatch(db, clock, settings)
    assert counts["sent"] == 2 and counts["failed"] == 1
    [failed] = messages(db, status="failed")
    assert failed.customer_id == ids["C1"] and "unknown policy format" in failed.last_error
    assert len(failure_tasks(db, "dispatch")) == 1


def test_the_arrangements_job_judges_the_others_when_one_plan_raises(client, db, clock, settings):
    r = client.put("/v1/policies/default", content=policy("email"), headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    client.post("/v1/customers/bulk", json={"customers": [customer("C1"), customer("C2")]})
    client.post(
        "/v1/invoices/bulk",
        json={
            "invoices": [
                invoice("I1", "C1", due=date(2026, 2, 20), total="400.00"),
                invoice("I2", "C2", due=date(2026, 2, 20), total="400.00"),
            ]
        },
    )
    cycle(db, clock, settings)
    for who in ("C1", "C2"):
        r = client.post(
            f"/v1/customers/{who}/plans",
            json={
                "currency": "EUR",
                "installments": [
                    {"due_on": "2026-03-10", "amount": "200.00"},
                    {"due_on": "2026-04-10", "amount": "200.00"},
                ],
            },
        )
        assert r.status_code == 201, r.text
    with db.session() as session:
        poisoned = session.execute(
            select(InstallmentPlan.id)
            .join(Customer, Customer.id == InstallmentPlan.customer_id)
            .where(Customer.external_id == "C1")
        ).scalar_one()
    plant(
        db,
        update(Installment)
        .where(Installment.plan_id == poisoned, Installment.number == 1)
        .values(due_on=date(9999, 12, 31)),
    )
    clock.advance(days=20)  # past the first installment and its grace days, nothing paid

    counts = run_arrangements(db, clock, settings)
    assert counts["plan_defaulted"] == 1 and counts["failed"] == 1
    with db.session() as session:
        status = dict(
            session.execute(
                select(Customer.external_id, InstallmentPlan.status).join(
                    Customer, Customer.id == InstallmentPlan.customer_id
                )
            ).all()
        )
    assert status == {"C1": "active", "C2": "defaulted"}
    [task] = failure_tasks(db, "arrangements")
    assert task.case_id is not None and "OverflowError" in task.detail
    assert run_arrangements(db, clock, settings)["failed"] == 1 and len(failure_tasks(db, "arrangements")) == 1


def test_the_rescore_scores_the_others_and_names_the_customer_it_cannot_read(db, clock, settings):
    ids = three_customers(db, clock)
    plant(db, POISONS["due 0001-01-01"](ids))
    result = scoring_jobs.rescore(db, clock, settings)
    assert result.customers == 2 and result.written == 2
    with db.session() as session:
        scored = set(session.execute(select(Score.customer_id)).scalars())
        assert session.execute(select(func.count()).select_from(Score)).scalar() == 2
    assert scored == {ids[c] for c in HEALTHY}
    [task] = failure_tasks(db, "rescore")
    assert task.customer_id == ids["C1"] and "before 1680 or after 2260" in task.detail
    clock.advance(days=1)
    scoring_jobs.rescore(db, clock, settings)
    assert len(failure_tasks(db, "rescore")) == 1


def test_a_failing_case_costs_the_cycle_nothing_it_had_planned_for_that_case(db, clock, settings):
    """What the poison case added to the bulk writes before it raised is taken back: no case step
    moved, no message or audit event half-written."""
    ids = three_customers(db, clock)
    plant(db, POISONS["due 0001-01-01"](ids))
    report = cycle(db, clock, settings)
    assert {o.customer_external_id for o in report.outcomes} == set(HEALTHY)
    with db.session() as session:
        case = session.execute(select(Case).where(Case.customer_id == ids["C1"])).scalar_one()
        planned = (
            session.execute(
                select(AuditEvent.subject_id).where(AuditEvent.action.in_(("case.step_planned", "case.step_passed")))
            )
            .scalars()
            .all()
        )
    assert case.step_index == -1 and case.decided_at is None and case.fingerprint is None
    assert str(case.id) not in planned
