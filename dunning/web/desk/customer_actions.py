"""The customer page's actions, each checked against the customer the page is about: a case or a
dispute id from a form must be that customer's, whatever the form says."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from dunning.arrangements import accounts, disputes, plans, promises
from dunning.cases import service as case_service
from dunning.cases.models import Case
from dunning.cases.schemas import DunningSettingsIn
from dunning.clock import Clock
from dunning.errors import InvalidInput, NotFound
from dunning.ledger.models import Customer, Invoice
from dunning.money import check_currency, to_minor
from dunning.policies import calendar
from dunning.records.arrangements import Dispute
from dunning.web import installments


def case_of(session: Session, customer: Customer, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None or case.customer_id != customer.id:
        raise NotFound(f"{customer.name} has no case {case_id}")
    return case


def hold(session: Session, clock: Clock, customer: Customer, case_id: int, until: date | None, actor: str) -> Case:
    """Held through `until` (the customer's local day), or until someone resumes the case."""
    case_of(session, customer, case_id)
    if until is not None and until < accounts.local_today(clock, customer):
        raise InvalidInput("the hold would end in the past")
    end = calendar.start_of_day(until + timedelta(days=1), customer.timezone) if until else None
    return case_service.pause(session, clock, case_id, reason="hold", until=end, actor=actor)


def resume(session: Session, clock: Clock, customer: Customer, case_id: int, actor: str) -> Case:
    case_of(session, customer, case_id)
    return case_service.resume(session, clock, case_id, actor=actor, why="resumed at the desk")


def set_policy(session: Session, clock: Clock, customer: Customer, name: str | None, actor: str) -> Customer:
    return case_service.update_settings(
        session, clock, customer.external_id, DunningSettingsIn(policy_name=name or None), actor
    )


def _currency(code: str) -> str:
    try:
        return check_currency(code)
    except ValueError as e:
        raise InvalidInput(str(e)) from None


def promise(
    session: Session, clock: Clock, customer: Customer, currency: str, promised_on: date, amount: str | None, actor: str
) -> promises.Recorded:
    currency = _currency(currency)
    try:
        amount_minor = to_minor(amount, currency) if amount else None  # none given: what is overdue now
    except ValueError as e:
        raise InvalidInput(f"amount: {e}") from None
    return promises.record(
        session,
        clock,
        customer=customer,
        currency=currency,
        promised_on=promised_on,
        amount_minor=amount_minor,
        source="desk",
        actor=actor,
    )


def plan(
    session: Session,
    clock: Clock,
    customer: Customer,
    currency: str,
    count: int,
    first_due: date,
    *,
    outside_policy: bool,
    actor: str,
) -> plans.Created:
    currency = _currency(currency)
    if not 2 <= count <= 60:
        raise InvalidInput("a plan has between 2 and 60 payments")
    covered = sum(i.balance_minor for i in accounts.open_invoices(session, customer.id, currency))
    return plans.create(
        session,
        clock,
        customer=customer,
        currency=currency,
        proposed=installments.monthly(covered, count, first_due),
        source="desk",
        actor=actor,
        outside_policy=outside_policy,
    )


def resolve_dispute(
    session: Session, clock: Clock, customer: Customer, dispute_id: int, outcome: str, note: str | None, actor: str
) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or dispute.customer_id != customer.id:
        raise NotFound(f"{customer.name} has no dispute {dispute_id}")
    return disputes.resolve(
        session, clock, invoice=session.get(Invoice, dispute.invoice_id), outcome=outcome, note=note, actor=actor
    )
