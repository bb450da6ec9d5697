"""What a customer can do from the portal. Each action takes the customer the signed link names;
an invoice id from a form is looked up among that customer's invoices only."""

from __future__ import annotations

from datetime import date

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit, contacts, links
from dunning.arrangements import accounts, disputes, plans, promises
from dunning.clock import Clock
from dunning.config import Settings
from dunning.errors import InvalidInput, NotFound
from dunning.ledger import contact_rows
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.service import normalise_phone
from dunning.money import display
from dunning.policies import service as policy_service
from dunning.tasks.service import open_task
from dunning.web import installments
from dunning.web.portal.statement import CHANNELS
from dunning.web.portal.strings import REASONS, Words


def actor(customer: Customer) -> str:
    return f"customer:{customer.external_id}"


def _owed_currency(session: Session, customer: Customer, currency: str) -> str:
    owed = set(
        session.execute(
            select(col(Invoice.currency)).where(
                col(Invoice.customer_id) == customer.id, col(Invoice.balance_minor) > 0, col(Invoice.voided).is_(False)
            )
        ).scalars()
    )
    if currency not in owed:
        raise InvalidInput(f"nothing is owed in {currency}")
    return currency


def _not_past(customer: Customer, clock: Clock, day: date, words: Words) -> None:
    if day < accounts.local_today(clock, customer):
        raise InvalidInput(words("past"))


def promise(session: Session, clock: Clock, customer: Customer, currency: str, promised_on: date, words: Words) -> str:
    _not_past(customer, clock, promised_on, words)
    recorded = promises.record(
        session,
        clock,
        customer=customer,
        currency=_owed_currency(session, customer, currency),
        promised_on=promised_on,
        amount_minor=None,
        source="portal",
        actor=actor(customer),
    )
    return "promise" if not recorded.over_limit else "promise_noted"


def plan(
    session: Session, clock: Clock, customer: Customer, currency: str, count: int, first_due: date, words: Words
) -> str:
    """Within the policy's bounds the plan is granted at once; outside them it is a request for the team."""
    currency = _owed_currency(session, customer, currency)
    _not_past(customer, clock, first_due, words)
    if not 2 <= count <= installments.MAX_OFFERED:
        raise InvalidInput(f"choose between 2 and {installments.MAX_OFFERED} payments")
    today = accounts.local_today(clock, customer)
    rules = policy_service.policy_for(session, customer.policy_name).plans
    covered = sum(i.balance_minor for i in accounts.open_invoices(session, customer.id, currency))
    bounds = dict(currency=currency, today=today, rules=rules)
    if not installments.policy_problems(covered, count, first_due, **bounds):
        plans.create(
            session,
            clock,
            customer=customer,
            currency=currency,
            source="portal",
            actor=actor(customer),
            proposed=installments.monthly(covered, count, first_due),
        )
        return "plan"
    problems = installments.blocking_problems(covered, count, first_due, **bounds)
    if problems:
        raise InvalidInput("; ".join(p["message"] for p in problems))
    open_task(
        session,
        clock,
        kind="review",
        key=f"plan_request:{customer.id}:{currency}:{count}:{first_due}",
        customer_id=customer.id,
        case_id=getattr(accounts.open_case(session, customer.id, currency), "id", None),
        title=f"{customer.name} asks for {count} monthly payments of {display(covered, currency)}",
        detail=f"First payment on {first_due.isoformat()}, asked on the portal. This is outside the policy's "
        f"bounds (at most {rules.max_installments} payments over {rules.max_months} months): set it up "
        "from the customer's page if you agree.",
    )
    audit.record(
        session,
        clock,
        actor=actor(customer),
        action="plan.requested",
        subject_type="customer",
        subject_id=customer.external_id,
        currency=currency,
        count=count,
        first_due=first_due.isoformat(),
    )
    return "plan_request"


def dispute(
    session: Session,
    clock: Clock,
    settings: Settings,
    customer: Customer,
    invoice_id: int,
    reason: str,
    text: str,
    words: Words,
) -> str:
    invoice = session.execute(
        select(Invoice).where(col(Invoice.id) == invoice_id, col(Invoice.customer_id) == customer.id)
    ).scalar_one_or_none()
    if invoice is None:  # someone else's invoice, or none: the same answer, so ids cannot be probed
        raise NotFound(words("not_yours"))
    disputes.open_dispute(
        session,
        clock,
        settings,
        invoice=invoice,
        reason_code=reason if reason in REASONS else "other",
        text=text.strip() or None,
        source="portal",
        actor=actor(customer),
        existing_ok=True,
    )  # a second click, or a second tab: the dispute on record
    return "dispute"


def update_contact(session: Session, clock: Clock, customer: Customer, email: str, phone: str, words: Words) -> str:
    changes: dict[str, str | None] = {}
    email, phone = email.strip(), phone.strip()
    if email and email != customer.email:
        try:
            changes["email"] = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            raise InvalidInput(words("bad_email")) from None
    if phone and phone != customer.phone:
        try:
            changes["phone"] = normalise_phone(phone, customer.country)
        except ValueError:
            raise InvalidInput(words("bad_phone")) from None
    if not changes:
        return "contact"
    before = {k: getattr(customer, k) for k in changes}
    for key, value in changes.items():
        setattr(customer, key, value)
    customer.updated_at = clock.now()
    session.add(customer)
    # the primary contact follows; a new address is worth trying again even if the old one bounced
    contact_rows.write(
        session, clock, contact_rows.primaries([customer.model_dump()], {customer.external_id: customer.id})
    )
    audit.record(
        session,
        clock,
        actor=actor(customer),
        action="contact.updated",
        subject_type="customer",
        subject_id=customer.external_id,
        before=before,
        after=changes,
    )
    links.revoke(session, clock, customer, actor(customer), "new contact details")
    # The accounting system owns these fields and its next change to this customer would overwrite
    # them: the team carries the change over there.
    open_task(
        session,
        clock,
        kind="review",
        customer_id=customer.id,
        title=f"{customer.name} changed their contact details on the portal",
        detail="Update the accounting system, or its next push will bring the old details back: "
        + ", ".join(f"{k}: {before[k] or '—'} → {v}" for k, v in changes.items()),
    )
    return "contact"


def set_channel(session: Session, clock: Clock, customer: Customer, channel: str, wanted: bool) -> str:
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}")
    changed = (
        contacts.opt_in(session, customer.id, channel)
        if wanted
        else contacts.opt_out(session, clock, customer.id, channel, "portal")
    )
    if changed:
        audit.record(
            session,
            clock,
            actor=actor(customer),
            action="contact.opt_in" if wanted else "contact.opt_out",
            subject_type="customer",
            subject_id=customer.external_id,
            channel=channel,
            source="portal",
        )
    return "channel"
