"""What an arrangement needs to know about an account: its case, what it owes, what came in."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import audit
from dunning.cases.events import publish_for_case
from dunning.cases.models import ACTIVE, CLOSED, PAUSED, Case
from dunning.clock import Clock
from dunning.db import exact_sum
from dunning.ledger.models import Customer, Invoice, Payment
from dunning.policies import calendar
from dunning.records.arrangements import Dispute


def local_today(clock: Clock, customer: Customer) -> date:
    return calendar.local_date(clock.now(), customer.timezone)


def open_case(session: Session, customer_id: int, currency: str) -> Case | None:
    """The account's case unless it is closed (an escalated one is returned: callers decide)."""
    case = session.execute(
        select(Case).where(col(Case.customer_id) == customer_id, col(Case.currency) == currency)
    ).scalar_one_or_none()
    return case if case is not None and case.state != CLOSED else None


def open_invoices(session: Session, customer_id: int, currency: str, *, undisputed: bool = True) -> list[Invoice]:
    stmt = (
        select(Invoice)
        .where(
            col(Invoice.customer_id) == customer_id,
            col(Invoice.currency) == currency,
            col(Invoice.balance_minor) > 0,
            col(Invoice.voided).is_(False),
        )
        .order_by(col(Invoice.due_on), col(Invoice.id))
    )
    if undisputed:
        disputed = select(col(Dispute.invoice_id)).where(
            col(Dispute.customer_id) == customer_id, col(Dispute.status) == "open"
        )
        stmt = stmt.where(col(Invoice.id).not_in(disputed))
    return list(session.execute(stmt).scalars())


def overdue_minor(session: Session, customer_id: int, currency: str, today: date) -> int:
    """What the reminders ask for: undisputed open balance already due."""
    return sum(i.balance_minor for i in open_invoices(session, customer_id, currency) if i.due_on < today)


def payments_since(session: Session, customer_id: int, currency: str, since: date) -> list[tuple[date, int]]:
    """Payments (credit notes are not money from the customer) received on or after `since`, in
    the order they came in."""
    rows = session.execute(
        select(col(Payment.received_on), col(Payment.amount_minor))
        .where(
            col(Payment.customer_id) == customer_id,
            col(Payment.currency) == currency,
            col(Payment.kind) == "payment",
            col(Payment.received_on) >= since,
        )
        .order_by(col(Payment.received_on), col(Payment.id))
    ).all()
    return [(r[0], r[1]) for r in rows]


def paid_since(session: Session, customer_id: int, currency: str, since: date) -> int:
    return int(
        session.execute(
            select(func.coalesce(exact_sum(col(Payment.amount_minor)), 0)).where(
                col(Payment.customer_id) == customer_id,
                col(Payment.currency) == currency,
                col(Payment.kind) == "payment",
                col(Payment.received_on) >= since,
            )
        ).scalar()
    )


def pause_case(
    session: Session,
    clock: Clock,
    case: Case,
    *,
    reason: str,
    until: datetime | None,
    actor: str,
    replaces: tuple[str, ...] = (),
) -> bool:
    """Pause for an arrangement. A pause a person chose (a hold, a review) or another arrangement
    not in `replaces` is left alone: the arrangement is recorded, the person's decision stands."""
    if case.state == ACTIVE or (case.state == PAUSED and case.pause_reason in (reason, *replaces)):
        case.state, case.pause_reason, case.paused_until, case.updated_at = PAUSED, reason, until, clock.now()
        session.add(case)
        audit.record(
            session,
            clock,
            actor=actor,
            action="case.paused",
            subject_type="case",
            subject_id=case.id,
            reason=reason,
            until=until.isoformat() if until else None,
        )
        publish_for_case(session, clock, "case.paused", case, reason=reason, until=until, by=actor)
        return True
    return False


def resume_case(session: Session, clock: Clock, case: Case, *, reason: str, actor: str, why: str) -> bool:
    """Lift a pause this arrangement set; any other pause stays."""
    if case.state != PAUSED or case.pause_reason != reason:
        return False
    case.state, case.pause_reason, case.paused_until, case.updated_at = ACTIVE, None, None, clock.now()
    session.add(case)
    audit.record(session, clock, actor=actor, action="case.resumed", subject_type="case", subject_id=case.id, why=why)
    publish_for_case(session, clock, "case.resumed", case, why=why, by=actor)
    return True


def end_pauses(session: Session, clock: Clock, *, reason: str, why: str) -> list[Case]:
    """Resume the cases whose pause for `reason` is over."""
    over = session.execute(
        select(Case).where(
            col(Case.state) == PAUSED, col(Case.pause_reason) == reason, col(Case.paused_until) <= clock.now()
        )
    ).scalars()
    return [
        case for case in list(over) if resume_case(session, clock, case, reason=reason, actor="arrangements", why=why)
    ]
