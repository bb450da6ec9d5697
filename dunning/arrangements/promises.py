"""Promises to pay: recording one (from a reply, the portal or the API), and judging it.

A promise is KEPT when the payments of that customer and currency received from the day it was
made (the customer's local day; credit notes do not count) add up to the promised amount, or
when nothing is owed any more in that currency (a dispute is not a payment). It is BROKEN when
neither is true once the promised day and the policy's grace days are over. A kept promise leaves
the pause to run to its end (the customer was told "no reminders until then"); a broken one
resumes the case at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts, notices
from dunning.cases.models import ESCALATED, PAUSED, Case
from dunning.clock import Clock
from dunning.errors import Conflict, InvalidInput
from dunning.events.publish import publish
from dunning.ledger.models import Customer
from dunning.money import as_string, display
from dunning.outbox.models import Message
from dunning.policies import service as policy_service
from dunning.policies.engine import promise_pause_until, promise_pauses
from dunning.records.arrangements import InstallmentPlan, Promise
from dunning.tasks.service import open_task

REASON = "promise"
MAX_AHEAD_DAYS = 366  # further out is a misreading or a plan, not a promise


@dataclass
class Recorded:
    promise: Promise
    paused: bool  # the case is paused until the promised day plus grace
    over_limit: bool  # too many broken promises: noted, the case goes on, a person calls
    task_id: int | None = None
    confirmation: Message | None = None


def broken_count(session: Session, customer_id: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(Promise)
        .where(col(Promise.customer_id) == customer_id, col(Promise.status) == "broken")
    ).scalar()


def record(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    currency: str,
    promised_on: date,
    amount_minor: int | None,
    source: str,
    actor: str,
    notify: str | None = None,
) -> Recorded:
    """amount_minor None: what is overdue now. notify: the channel of the confirmation, if any."""
    today = accounts.local_today(clock, customer)
    if promised_on < today:
        raise InvalidInput(
            f"the promised date {promised_on.isoformat()} is in the past (today is {today.isoformat()}"
            f" in {customer.timezone})"
        )
    if promised_on > today + timedelta(days=MAX_AHEAD_DAYS):
        raise InvalidInput(f"the promised date {promised_on.isoformat()} is more than a year ahead: set up a plan")
    if amount_minor is None:
        amount_minor = accounts.overdue_minor(session, customer.id, currency, today) or sum(
            i.balance_minor for i in accounts.open_invoices(session, customer.id, currency)
        )
    if amount_minor <= 0:
        raise InvalidInput(
            f"nothing is owed in {currency}: there is nothing to promise"
            if amount_minor == 0
            else "the promised amount must be more than zero"
        )

    # One account's promises are recorded one after the other (a partial unique index keeps one
    # open): the customer's row is locked until the transaction ends, so a promise made at the
    # same moment as another sees it, and replaces it or is the same one.
    session.execute(select(col(Customer.id)).where(col(Customer.id) == customer.id).with_for_update())
    same = session.execute(
        select(Promise).where(
            col(Promise.customer_id) == customer.id,
            col(Promise.currency) == currency,
            col(Promise.status) == "open",
            col(Promise.promised_on) == promised_on,
            col(Promise.amount_minor) == amount_minor,
        )
    ).scalar_one_or_none()
    if same is not None:  # said twice (a double click on the portal, a retried call): the promise on record
        case = session.get(Case, same.case_id) if same.case_id else None
        return Recorded(
            same,
            paused=case is not None and case.state == PAUSED and case.pause_reason == REASON,
            over_limit=not same.pauses_case,
        )

    plan = session.execute(
        select(col(InstallmentPlan.id)).where(
            col(InstallmentPlan.customer_id) == customer.id,
            col(InstallmentPlan.currency) == currency,
            col(InstallmentPlan.status) == "active",
        )
    ).scalar()
    if plan is not None:
        # A date promised during a plan is about an installment: a person sorts out which.
        raise Conflict(f"plan {plan} is running in {currency}: its installments are the payment dates")
    policy = policy_service.policy_for(session, customer.policy_name)
    broken = broken_count(session, customer.id)
    pauses = promise_pauses(policy, broken)
    case = accounts.open_case(session, customer.id, currency)
    _supersede(session, clock, customer.id, currency, actor)

    promise = Promise(
        customer_id=customer.id,
        case_id=case.id if case else None,
        currency=currency,
        amount_minor=amount_minor,
        promised_on=promised_on,
        grace_until=promised_on + timedelta(days=policy.promises.grace_days),
        source=source,
        pauses_case=pauses,
        counted_from=today,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(promise)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action="promise.recorded",
        subject_type="customer",
        subject_id=customer.external_id,
        promise_id=promise.id,
        currency=currency,
        amount_minor=amount_minor,
        promised_on=promised_on.isoformat(),
        source=source,
        pauses_case=pauses,
        broken_before=broken,
    )
    publish(
        session,
        clock,
        "promise.made",
        customer_id=customer.id,
        case_id=promise.case_id,
        customer=customer.external_id,
        promise_id=promise.id,
        currency=currency,
        amount=as_string(amount_minor, currency),
        promised_on=promised_on,
        source=source,
        pauses_case=pauses,
        by=actor,
    )

    result = Recorded(promise, paused=False, over_limit=not pauses)
    if pauses and case is not None and case.state != ESCALATED:
        until = promise_pause_until(policy, promised_on, customer.timezone)
        result.paused = accounts.pause_case(
            session, clock, case, reason=REASON, until=until, actor=actor, replaces=("payment_check",)
        )
    if not pauses:
        # The customer is told a person will call; the team has to know to do it.
        task = open_task(
            session,
            clock,
            kind="call",
            key=f"promise_over_limit:{promise.id}",
            customer_id=customer.id,
            case_id=case.id if case else None,
            title=f"Call {customer.name}: a new promise after {broken} broken",
            detail=f"Promised {display(amount_minor, currency)} on {promised_on.isoformat()} ({source}). "
            "The case was not paused: too many earlier promises were broken.",
        )
        result.task_id = task.id
    if notify and pauses:
        channel = notices.pick_channel(session, customer, notify)
        if channel == notify:  # confirm on the channel asked for, or not at all
            result.confirmation = notices.queue(
                session,
                clock,
                dedupe_key=f"promise:{promise.id}:confirmation:{channel}",
                customer=customer,
                case=case,
                currency=currency,
                channel=channel,
                template="promise_confirmation",
                extra=confirmation_extra(promise),
                amount_minor=amount_minor,
            )
    return result


def confirmation_extra(promise: Promise) -> dict:
    return {"promised_on": promise.promised_on.isoformat(), "promised_minor": promise.amount_minor}


def _supersede(session: Session, clock: Clock, customer_id: int, currency: str, actor: str) -> None:
    # One open promise per account: a new date replaces the old one rather than stacking pauses.
    for old in session.execute(
        select(Promise).where(
            col(Promise.customer_id) == customer_id, col(Promise.currency) == currency, col(Promise.status) == "open"
        )
    ).scalars():
        old.status, old.settled_at = "cancelled", clock.now()
        session.add(old)
        audit.record(
            session, clock, actor=actor, action="promise.superseded", subject_type="promise", subject_id=old.id
        )


def list_for(session: Session, customer_id: int) -> list[Promise]:
    return list(
        session.execute(
            select(Promise)
            .where(col(Promise.customer_id) == customer_id)
            .order_by(col(Promise.created_at).desc(), col(Promise.id).desc())
        ).scalars()
    )


# --------------------------------------------------------------------------- judging (the hourly job)


def judge(session: Session, clock: Clock, promise: Promise) -> str | None:
    """Kept, broken, or still open (None). Re-reads the promise's state: safe to call twice."""
    if promise.status != "open":
        return None
    customer = session.get(Customer, promise.customer_id)
    today = accounts.local_today(clock, customer)
    promise.paid_minor = accounts.paid_since(session, customer.id, promise.currency, promise.counted_from)
    owed = sum(
        i.balance_minor for i in accounts.open_invoices(session, customer.id, promise.currency, undisputed=False)
    )
    if promise.paid_minor >= promise.amount_minor or owed == 0:
        outcome = "kept"
    elif today > promise.grace_until:
        outcome = "broken"
    else:
        session.add(promise)
        return None
    promise.status, promise.settled_at = outcome, clock.now()
    session.add(promise)
    audit.record(
        session,
        clock,
        actor="arrangements",
        action=f"promise.{outcome}",
        subject_type="promise",
        subject_id=promise.id,
        paid_minor=promise.paid_minor,
        amount_minor=promise.amount_minor,
    )
    publish(
        session,
        clock,
        f"promise.{outcome}",
        customer_id=customer.id,
        case_id=promise.case_id,
        customer=customer.external_id,
        promise_id=promise.id,
        currency=promise.currency,
        amount=as_string(promise.amount_minor, promise.currency),
        paid=as_string(promise.paid_minor, promise.currency),
        promised_on=promise.promised_on,
    )
    if outcome == "broken":
        case = session.get(Case, promise.case_id) if promise.case_id else None
        open_task(
            session,
            clock,
            kind="broken_promise",
            key=f"broken_promise:{promise.id}",
            customer_id=customer.id,
            case_id=promise.case_id,
            title=f"{customer.name} broke a promise of {display(promise.amount_minor, promise.currency)}",
            detail=f"Promised on {promise.promised_on.isoformat()} (grace until {promise.grace_until.isoformat()});"
            f" {display(promise.paid_minor, promise.currency)} received since"
            f" {promise.counted_from.isoformat()}. Reminders resume at the next step.",
        )
        if case is not None:
            accounts.resume_case(
                session, clock, case, reason=REASON, actor="arrangements", why=f"promise {promise.id} broken"
            )
    return outcome


def end_pauses(session: Session, clock: Clock) -> list[Case]:
    """Cases still paused for a promise whose pause is over (the promise was kept, or withdrawn)."""
    resumed = []
    stale = session.execute(
        select(Case).where(
            col(Case.state) == PAUSED, col(Case.pause_reason) == REASON, col(Case.paused_until) <= clock.now()
        )
    ).scalars()
    for case in list(stale):
        still_open = session.execute(
            select(col(Promise.id)).where(
                col(Promise.case_id) == case.id, col(Promise.status) == "open", col(Promise.pauses_case).is_(True)
            )
        ).first()
        if still_open is None and accounts.resume_case(
            session, clock, case, reason=REASON, actor="arrangements", why="the promise's pause is over"
        ):
            resumed.append(case)
    return resumed
