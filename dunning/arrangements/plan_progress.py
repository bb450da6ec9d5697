"""A running plan as the days pass: payments go to installments in order, a reminder goes before
each one (plans.reminder_days_before), a notice after a missed one, and an installment still
unpaid plans.grace_days after its date defaults the plan. Every step is recomputed from the
ledger and keyed, so the hourly job may run twice (or late) without doing anything twice.

A default resumes the case with escalation: the lighter steps of its path still ahead are passed
over (recorded in the audit log) and the next message is the path's next formal step (formal
notice, registered letter or agency hand-off). The customer was already reminded before each
installment and warned after the missed one; another courteous reminder would only add weeks.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts, notices
from dunning.arrangements.plans import REASON, installment_extra, installments_of
from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.events.publish import publish
from dunning.ledger.models import Customer
from dunning.money import as_string, display
from dunning.outbox.models import CANCELLED, PENDING, Message
from dunning.policies import calendar
from dunning.policies import service as policy_service
from dunning.policies.document import Policy
from dunning.records.arrangements import Installment, InstallmentPlan
from dunning.tasks.service import open_task

FORMAL_KINDS = ("formal_notice", "registered_letter", "agency_handoff")


def allocate(rows: list[Installment], payments: list[tuple[date, int]]) -> None:
    """Payments fill installments in order; an installment is paid on the day the running total
    of payments first covers it and everything before it."""
    received = sum(amount for _, amount in payments)
    due_so_far = 0
    for row in rows:
        row.paid_minor = max(0, min(row.amount_minor, received - due_so_far))
        due_so_far += row.amount_minor
        if row.paid_minor == row.amount_minor:
            running = 0
            for day, amount in payments:
                running += amount
                if running >= due_so_far:
                    row.paid_on = day
                    break
            row.status = "paid"
        elif row.status == "paid":  # a payment was reversed in the ledger
            row.status, row.paid_on = "due", None


def advance(session: Session, clock: Clock, plan: InstallmentPlan) -> str | None:
    """Move one plan along; returns "completed", "defaulted" or None (still running)."""
    if plan.status != "active":
        return None
    customer = session.get(Customer, plan.customer_id)
    policy = policy_service.policy_for(session, customer.policy_name)
    rules = policy.plans
    today = accounts.local_today(clock, customer)
    rows = installments_of(session, plan.id)
    payments = accounts.payments_since(session, customer.id, plan.currency, plan.counted_from)
    allocate(rows, payments)
    plan.paid_minor = min(plan.total_minor, sum(a for _, a in payments))
    session.add_all([plan, *rows])

    # Disputed invoices count here: a dispute is not a payment.
    owed = sum(i.balance_minor for i in accounts.open_invoices(session, customer.id, plan.currency, undisputed=False))
    if all(r.status == "paid" for r in rows) or owed == 0:
        _end(session, clock, plan, "completed", "the plan is paid")
        return "completed"

    case = session.get(Case, plan.case_id) if plan.case_id else None
    channel = notices.pick_channel(session, customer, plan.channel)
    for row in rows:
        if row.status == "paid":
            continue
        if today > row.due_on + timedelta(days=rules.grace_days):
            _default(session, clock, plan, row, customer, case, policy)
            return "defaulted"
        if today > row.due_on:
            row.status = "missed"
            session.add(row)
            _notice(session, clock, plan, row, rows, customer, case, channel, "installment_missed", policy)
        elif today >= row.due_on - timedelta(days=rules.reminder_days_before):
            _notice(session, clock, plan, row, rows, customer, case, channel, "installment_reminder", policy)
    return None


def _notice(
    session: Session,
    clock: Clock,
    plan: InstallmentPlan,
    row: Installment,
    rows: list[Installment],
    customer: Customer,
    case: Case | None,
    channel: str | None,
    template: str,
    policy: Policy,
) -> None:
    if channel is None:
        return  # nowhere to write to: the plan goes on, and the missed installment shows on the plan
    # Transactional messages skip the contact window at dispatch (an answer goes at once); these
    # are not answers, and the job also runs at night, so they wait for the window here.
    contact = policy.contact
    send_after = calendar.next_contact_time(
        clock.now(), customer.timezone, contact.window, contact.business_days_only, customer.country
    )
    notices.queue(
        session,
        clock,
        dedupe_key=f"plan:{plan.id}:{row.number}:{template}",
        customer=customer,
        case=case,
        currency=plan.currency,
        channel=channel,
        template=template,
        extra={"installment": installment_extra(row), "installment_count": len(rows)},
        amount_minor=row.amount_minor - row.paid_minor,
        send_after=send_after,
    )


def _end(session: Session, clock: Clock, plan: InstallmentPlan, status: str, why: str) -> None:
    plan.status, plan.ended_at = status, clock.now()
    session.add(plan)
    notices.cancel_pending(session, clock, f"plan:{plan.id}:", f"plan {plan.id} {status}")
    audit.record(
        session,
        clock,
        actor="arrangements",
        action=f"plan.{status}",
        subject_type="plan",
        subject_id=plan.id,
        paid_minor=plan.paid_minor,
        total_minor=plan.total_minor,
        why=why,
    )
    customer = session.execute(select(col(Customer.external_id)).where(col(Customer.id) == plan.customer_id)).scalar()
    publish(
        session,
        clock,
        f"plan.{status}",
        customer_id=plan.customer_id,
        case_id=plan.case_id,
        customer=customer,
        plan_id=plan.id,
        currency=plan.currency,
        total=as_string(plan.total_minor, plan.currency),
        paid=as_string(plan.paid_minor, plan.currency),
        why=why,
    )
    case = session.get(Case, plan.case_id) if plan.case_id else None
    if case is not None:
        # Completed with nothing owed: the next cycle closes the case. Anything owed besides
        # (invoices issued during the plan) is chased from here on.
        accounts.resume_case(session, clock, case, reason=REASON, actor="arrangements", why=f"plan {plan.id} {status}")


def _default(
    session: Session,
    clock: Clock,
    plan: InstallmentPlan,
    row: Installment,
    customer: Customer,
    case: Case | None,
    policy: Policy,
) -> None:
    _end(session, clock, plan, "defaulted", f"installment {row.number} unpaid past grace")
    left = plan.total_minor - plan.paid_minor
    open_task(
        session,
        clock,
        kind="plan_default",
        key=f"plan_default:{plan.id}",
        customer_id=customer.id,
        case_id=plan.case_id,
        title=f"{customer.name} defaulted on plan {plan.id}",
        detail=f"Installment {row.number} of {display(row.amount_minor, plan.currency)} was due on"
        f" {row.due_on.isoformat()}; {display(left, plan.currency)} of the plan is unpaid."
        " The case resumed at its next formal step.",
    )
    if case is not None and case.state == "active":
        escalate(session, clock, case, policy, why=f"plan {plan.id} defaulted")


def escalate(session: Session, clock: Clock, case: Case, policy: Policy, *, why: str) -> list[str]:
    """Place the case just before the next formal step of its path; returns the step keys passed."""
    resolved = policy.path_for_band(case.band) if case.band else None
    if resolved is None and case.path_name in policy.paths:
        resolved = case.path_name, policy.paths[case.path_name]
    if resolved is None:
        return []
    path_name, path = resolved
    done = (
        case.step_index
        if (case.path_name == path_name and case.policy_version == policy.version)
        else (path.index_of(case.step_key) if case.step_key else None)
    )
    done = -1 if done is None else done
    target = next((i for i in range(done + 1, len(path.steps)) if path.steps[i].kind in FORMAL_KINDS), None)
    if target is None or target == done + 1:
        return []
    passed = [s.key for s in path.steps[done + 1 : target]]
    before = path.steps[target - 1]
    case.path_name, case.policy_version, case.policy_name = path_name, policy.version, policy.name
    case.step_index, case.step_key, case.step_after_days = target - 1, before.key, before.after_days
    case.step_name = before.name
    case.updated_at = clock.now()
    session.add(case)
    # The old step's reminder, held back during the plan, would now go out of order.
    session.execute(
        update(Message)
        .where(col(Message.case_id) == case.id, col(Message.status).in_(PENDING), col(Message.path_name).is_not(None))
        .values(status=CANCELLED, last_error=f"{why}: the case moves on to a formal step", updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        clock,
        actor="arrangements",
        action="case.steps_passed",
        subject_type="case",
        subject_id=case.id,
        passed=passed,
        next_step=path.steps[target].key,
        why=why,
    )
    return passed


def active_plans(session: Session) -> list[InstallmentPlan]:
    return list(
        session.execute(
            select(InstallmentPlan).where(col(InstallmentPlan.status) == "active").order_by(col(InstallmentPlan.id))
        ).scalars()
    )
