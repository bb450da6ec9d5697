"""Installment plans: validating and setting one up. What happens as the dates pass is in
plan_progress.py.

A plan covers the account's whole undisputed open balance in one currency (overdue or not): its
installments must add up to exactly that. Within the policy's bounds (plans.max_installments,
plans.min_installment_amount, plans.max_months) anyone may set one up, the customer included;
outside them only a person through the API, saying so with `outside_policy`.
"""

from __future__ import annotations

import calendar as months
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts, notices, promises
from dunning.cases.models import ESCALATED
from dunning.clock import Clock
from dunning.errors import Conflict, InvalidInput, row_error
from dunning.events.publish import publish
from dunning.ledger.models import Customer
from dunning.money import as_string, display, to_minor
from dunning.outbox.models import Message
from dunning.policies import service as policy_service
from dunning.policies.document import PlanRules
from dunning.records.arrangements import Installment, InstallmentPlan, Promise
from dunning.words import plural

REASON = "plan"


@dataclass(frozen=True)
class Proposed:
    due_on: date
    amount_minor: int


@dataclass
class Created:
    plan: InstallmentPlan
    installments: list[Installment]
    paused: bool
    confirmation: Message | None = None


def add_months(day: date, count: int) -> date:
    month = day.month - 1 + count
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, months.monthrange(year, month)[1]))


def check(
    proposed: list[Proposed], *, covered_minor: int, currency: str, today: date, rules: PlanRules, within_policy: bool
) -> list[dict]:
    """Every problem with a proposed plan, each naming its installment (index) and field."""
    errors = []
    if len(proposed) < 2:
        errors.append(row_error(None, "installments", "a plan has at least two installments (one is a promise to pay)"))
    for i, p in enumerate(proposed):
        if p.amount_minor <= 0:
            errors.append(row_error(i, "amount", "must be more than zero"))
        if p.due_on < today:
            errors.append(row_error(i, "due_on", f"{p.due_on.isoformat()} is in the past"))
        if i and p.due_on <= proposed[i - 1].due_on:
            errors.append(row_error(i, "due_on", "installments must be in date order, one per day at most"))
    total = sum(p.amount_minor for p in proposed)
    if proposed and total != covered_minor:
        errors.append(
            row_error(
                None,
                "installments",
                f"the installments add up to {display(total, currency)} but the balance to cover is"
                f" {display(covered_minor, currency)}",
            )
        )
    if within_policy and proposed:
        if len(proposed) > rules.max_installments:
            errors.append(
                row_error(
                    None,
                    "installments",
                    f"{plural(len(proposed), 'installment')}; the policy allows at most {rules.max_installments}",
                )
            )
        minimum = rules.min_installment_amount.get(currency)
        if minimum is not None:
            floor = to_minor(minimum, currency)
            for i, p in enumerate(proposed):
                if 0 < p.amount_minor < floor:
                    errors.append(
                        row_error(i, "amount", f"below the policy's minimum installment of {display(floor, currency)}")
                    )
        last_allowed = add_months(today, rules.max_months)
        if proposed[-1].due_on > last_allowed:
            errors.append(
                row_error(
                    len(proposed) - 1,
                    "due_on",
                    f"the plan may run {rules.max_months} months at most: until {last_allowed.isoformat()}",
                )
            )
    return errors


def create(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    currency: str,
    proposed: list[Proposed],
    source: str,
    actor: str,
    outside_policy: bool = False,
    notify: str | None = None,
) -> Created:
    today = accounts.local_today(clock, customer)
    policy = policy_service.policy_for(session, customer.policy_name)
    covered = accounts.open_invoices(session, customer.id, currency)
    covered_minor = sum(i.balance_minor for i in covered)
    if covered_minor == 0:
        raise InvalidInput(f"nothing undisputed is owed in {currency}: there is nothing to plan")
    errors = check(
        proposed,
        covered_minor=covered_minor,
        currency=currency,
        today=today,
        rules=policy.plans,
        within_policy=not outside_policy,
    )
    if errors:
        raise InvalidInput(
            "the plan is not valid: "
            + "; ".join(
                (f"installment {e['index'] + 1} {e['field']}: " if e["index"] is not None else "") + e["message"]
                for e in errors
            ),
            detail=errors,
        )
    active = session.execute(
        select(col(InstallmentPlan.id)).where(
            col(InstallmentPlan.customer_id) == customer.id,
            col(InstallmentPlan.currency) == currency,
            col(InstallmentPlan.status) == "active",
        )
    ).scalar()
    if active is not None:
        raise Conflict(f"plan {active} is already running for this customer in {currency}")
    case = accounts.open_case(session, customer.id, currency)
    if case is not None and case.state == ESCALATED:
        raise Conflict("the case is with the collection agency: arrange a plan with them")

    plan = InstallmentPlan(
        customer_id=customer.id,
        case_id=case.id if case else None,
        currency=currency,
        total_minor=covered_minor,
        source=source,
        channel=notify,
        outside_policy=outside_policy,
        invoice_ids=[i.id for i in covered],
        counted_from=today,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(plan)
    session.flush()
    rows = [
        Installment(plan_id=plan.id, number=n, due_on=p.due_on, amount_minor=p.amount_minor)
        for n, p in enumerate(proposed, start=1)
    ]
    session.add_all(rows)
    # A plan replaces any promise on the account: its installments are the dates now.
    for open_promise in session.execute(
        select(Promise).where(
            col(Promise.customer_id) == customer.id, col(Promise.currency) == currency, col(Promise.status) == "open"
        )
    ).scalars():
        open_promise.status, open_promise.settled_at = "cancelled", clock.now()
        session.add(open_promise)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action="plan.created",
        subject_type="customer",
        subject_id=customer.external_id,
        plan_id=plan.id,
        currency=currency,
        total_minor=covered_minor,
        installments=[[r.due_on.isoformat(), r.amount_minor] for r in rows],
        source=source,
        outside_policy=outside_policy,
    )
    publish(
        session,
        clock,
        "plan.created",
        customer_id=customer.id,
        case_id=plan.case_id,
        customer=customer.external_id,
        plan_id=plan.id,
        currency=currency,
        total=as_string(covered_minor, currency),
        installments=[
            {"number": r.number, "due_on": r.due_on, "amount": as_string(r.amount_minor, currency)} for r in rows
        ],
        source=source,
        by=actor,
    )

    result = Created(plan, rows, paused=False)
    if case is not None:
        result.paused = accounts.pause_case(
            session, clock, case, reason=REASON, until=None, actor=actor, replaces=(promises.REASON, "payment_check")
        )
    channel = notices.pick_channel(session, customer, notify) if notify else None
    if channel == notify and channel is not None:
        result.confirmation = notices.queue(
            session,
            clock,
            dedupe_key=f"plan:{plan.id}:confirmation:{channel}",
            customer=customer,
            case=case,
            currency=currency,
            channel=channel,
            template="plan_confirmation",
            extra={"installments": [installment_extra(r) for r in rows], "installment_count": len(rows)},
            amount_minor=covered_minor,
        )
    return result


def installment_extra(row: Installment) -> dict:
    return {"number": row.number, "due_on": row.due_on.isoformat(), "amount_minor": row.amount_minor}


def list_for(session: Session, customer_id: int) -> list[tuple[InstallmentPlan, list[Installment]]]:
    plans = (
        session.execute(
            select(InstallmentPlan)
            .where(col(InstallmentPlan.customer_id) == customer_id)
            .order_by(col(InstallmentPlan.created_at).desc(), col(InstallmentPlan.id).desc())
        )
        .scalars()
        .all()
    )
    return [(p, installments_of(session, p.id)) for p in plans]


def installments_of(session: Session, plan_id: int) -> list[Installment]:
    return list(
        session.execute(
            select(Installment).where(col(Installment.plan_id) == plan_id).order_by(col(Installment.number))
        ).scalars()
    )
