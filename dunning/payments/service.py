"""Stripe's events into the ledger: a payment recorded once per PaymentIntent, through the same
service as pushed payments, allocated to the invoices the customer chose; a refund takes it back;
the case moves at once and the customer gets a receipt.

Which payment counts when the accounting system also pushes the money it saw arrive: the one
pushed with `provider_reference` = the PaymentIntent id. Whichever comes first, only one counts:
a push replaces what the webhook recorded (ledger.service.record_payments), and the webhook
records nothing for a PaymentIntent a pushed payment already names.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts, notices
from dunning.cases.cycle import run_cycle
from dunning.clock import Clock
from dunning.config import Settings
from dunning.ledger import service as ledger_service
from dunning.ledger.bulk import lock_rows
from dunning.ledger.models import Customer, Invoice, Payment
from dunning.money import display
from dunning.payments import checkout
from dunning.payments.models import EXPIRED, FAILED, PAID, PROCESSING
from dunning.payments.stripe_api import ChargeObject, CheckoutObject, Event, IntentObject, Ours
from dunning.policies import calendar
from dunning.tasks.service import open_task

log = logging.getLogger(__name__)
SOURCE = "stripe"
RECEIPT = "payment_receipt"


def external_id(reference: str) -> str:
    """Our key for the payment of a PaymentIntent: one row per PaymentIntent, whatever event brings it."""
    return f"stripe:{reference}"


def handle(session: Session, clock: Clock, settings: Settings, event: Event) -> str:
    """What was done with the event, in a word (the webhook's answer)."""
    kind = event.type
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        obj = event.read(CheckoutObject)
        if obj.payment_status != "paid":  # a debit the bank confirms in days: its own event follows
            checkout.mark(session, clock, status=PROCESSING, session_id=obj.id, unless=(PAID,))
            return "processing"
        if not obj.payment_intent or obj.amount_total is None or not obj.currency:
            return "ignored"
        return record(
            session,
            clock,
            settings,
            reference=obj.payment_intent,
            amount_minor=obj.amount_total,
            currency=obj.currency.upper(),
            ours=Ours.read(obj.metadata),
            at=event.created,
            session_id=obj.id,
        )
    if kind == "payment_intent.succeeded":
        obj = event.read(IntentObject)
        return record(
            session,
            clock,
            settings,
            reference=obj.id,
            amount_minor=obj.amount_received,
            currency=obj.currency.upper(),
            ours=Ours.read(obj.metadata),
            at=event.created,
        )
    if kind == "charge.refunded":
        return refund(session, clock, settings, event.read(ChargeObject))
    if kind == "checkout.session.async_payment_failed":
        return payment_failed(session, clock, event.read(CheckoutObject))
    if kind == "checkout.session.expired":
        checkout.mark(session, clock, status=EXPIRED, session_id=event.read(CheckoutObject).id, unless=(PAID,))
        return "expired"
    return "ignored"


def record(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    reference: str,
    amount_minor: int,
    currency: str,
    ours: Ours | None,
    at: datetime,
    session_id: str | None = None,
) -> str:
    if ours is None:
        return "ignored"  # not a payment the portal asked for (another integration on the same account)
    customer = session.execute(
        select(Customer).where(col(Customer.external_id) == ours.customer_external_id)
    ).scalar_one_or_none()
    if customer is None:
        open_task(
            session,
            clock,
            kind="review",
            key=f"stripe_unplaced:{reference}",
            title=f"A Stripe payment of {display(amount_minor, currency)} names no customer we know",
            detail=f"PaymentIntent {reference} names customer '{ours.customer_external_id}'. Record it by hand.",
        )
        return "unplaced"
    lock_rows(session, Customer.__table__, [customer.id])  # a second delivery of it waits here
    checkout.mark(
        session, clock, status=PAID, session_id=session_id, key=ours.checkout_key, provider_reference=reference
    )
    if (
        session.execute(
            select(col(Payment.id))
            .where(col(Payment.kind) == "payment", col(Payment.provider_reference) == reference)
            .limit(1)
        ).first()
        is not None
    ):
        return "duplicate"  # this event again, its twin (session completed / intent succeeded), or pushed already
    named = set(
        session.execute(
            select(col(Invoice.id)).where(
                col(Invoice.customer_id) == customer.id,
                col(Invoice.currency) == currency,
                col(Invoice.id).in_(ours.invoice_ids or [0]),
            )
        ).scalars()
    )
    invoice_ids = [i for i in ours.invoice_ids if i in named]
    received_on = calendar.local_date(at, customer.timezone)
    ledger_service.record_payments(
        session,
        clock,
        [
            {
                "kind": "payment",
                "external_id": external_id(reference),
                "customer_id": customer.id,
                "invoice_ids": invoice_ids,
                "currency": currency,
                "amount_minor": amount_minor,
                "received_on": received_on,
                "provider_reference": reference,
                "source": SOURCE,
            }
        ],
        "payment",
    )
    payment = session.execute(
        select(Payment).where(col(Payment.kind) == "payment", col(Payment.external_id) == external_id(reference))
    ).scalar_one()
    audit.record(
        session,
        clock,
        actor="stripe",
        action="payment.received",
        subject_type="customer",
        subject_id=customer.external_id,
        provider_reference=reference,
        amount_minor=amount_minor,
        currency=currency,
        invoice_ids=invoice_ids,
    )
    run_cycle(session, clock, settings, {customer.id})  # closes the case now, or plans what is left
    _receipt(session, clock, customer, payment)
    return "recorded"


def _receipt(session: Session, clock: Clock, customer: Customer, payment: Payment) -> None:
    """ "Thank you, we received ...": by email, else SMS; never a reminder (it is transactional, so it
    goes whatever the case's state and outside the contact window, but never to a channel the
    customer opted out of). It belongs to no case: closing the case must not cancel it."""
    channel = notices.pick_channel(session, customer, "email")
    if channel is None:
        return
    numbers = list(
        session.execute(
            select(col(Invoice.number))
            .where(col(Invoice.id).in_(payment.invoice_ids or [0]))
            .order_by(col(Invoice.due_on), col(Invoice.id))
        ).scalars()
    )
    remaining = sum(
        i.balance_minor for i in accounts.open_invoices(session, customer.id, payment.currency, undisputed=False)
    )
    notices.queue(
        session,
        clock,
        dedupe_key=f"receipt:{payment.provider_reference}",
        customer=customer,
        case=None,
        currency=payment.currency,
        channel=channel,
        template=RECEIPT,
        amount_minor=payment.amount_minor,
        extra={
            "paid_minor": payment.amount_minor,
            "paid_on": payment.received_on.isoformat(),
            "paid_invoices": numbers,
            "remaining_minor": remaining,
        },
    )


def refund(session: Session, clock: Clock, settings: Settings, charge: ChargeObject) -> str:
    """A refund (cumulative on the charge) lowers the payment to what Stripe kept; all of it refunded
    leaves the payment at zero, kept so that a late delivery of its success changes nothing."""
    if not charge.payment_intent:
        return "ignored"
    reference = charge.payment_intent
    payment = session.execute(
        select(Payment)
        .where(col(Payment.kind) == "payment", col(Payment.provider_reference) == reference)
        .order_by(col(Payment.id))
        .limit(1)
    ).scalar_one_or_none()
    if payment is None:
        return "ignored"  # not a payment we recorded (another integration's)
    customer = session.get(Customer, payment.customer_id)
    kept = max(0, charge.amount_captured - charge.amount_refunded)
    if payment.source != SOURCE:
        # The accounting system holds this payment: it must record the refund itself.
        open_task(
            session,
            clock,
            kind="review",
            key=f"stripe_refund:{charge.id}:{charge.amount_refunded}",
            customer_id=customer.id,
            title=f"Stripe refunded {display(charge.amount_refunded, payment.currency)} of a payment by "
            f"{customer.name}",
            detail=f"PaymentIntent {reference} is recorded by the accounting system (payment "
            f"{payment.external_id}); record the refund there, or the balance stays as it is.",
        )
        return "task"
    if kept == payment.amount_minor:
        return "duplicate"
    ledger_service.record_payments(
        session,
        clock,
        [
            {
                "kind": "payment",
                "external_id": payment.external_id,
                "customer_id": payment.customer_id,
                "invoice_ids": list(payment.invoice_ids),
                "currency": payment.currency,
                "amount_minor": kept,
                "received_on": payment.received_on,
                "provider_reference": reference,
                "source": SOURCE,
            }
        ],
        "payment",
    )
    audit.record(
        session,
        clock,
        actor="stripe",
        action="payment.refunded",
        subject_type="customer",
        subject_id=customer.external_id,
        provider_reference=reference,
        refunded_minor=charge.amount_refunded,
        kept_minor=kept,
    )
    run_cycle(session, clock, settings, {customer.id})  # money owed again: the case reopens now
    return "refunded"


def payment_failed(session: Session, clock: Clock, obj: CheckoutObject) -> str:
    """A debit the bank refused days later: the customer believes they paid, so a person tells them."""
    found = checkout.mark(session, clock, status=FAILED, session_id=obj.id, unless=(PAID,))
    if found is None or found.status != FAILED:
        return "ignored"
    customer = session.get(Customer, found.customer_id)
    open_task(
        session,
        clock,
        kind="review",
        key=f"stripe_failed:{obj.id}",
        customer_id=customer.id,
        title=f"{customer.name}'s online payment of {display(found.amount_minor, found.currency)} failed",
        detail=f"The bank refused the payment of Checkout Session {obj.id} after it was submitted. "
        "Reminders go on; let the customer know.",
    )
    return "failed"
