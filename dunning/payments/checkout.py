"""Pay now: a Stripe Checkout Session for exactly the open, undisputed amount of the invoices the
customer chose, in the account's currency.

Three steps, so that no transaction is open while Stripe answers: `prepare` reads (the invoices as
they are now) and decides; `stripe_api.create_checkout_session` calls Stripe; `opened` records the
session. The session's idempotency key is a keyed hash of the customer, the invoices with their
balances, and the customer's day: a second click (or a second tab) gets the same session from
Stripe, and a changed balance a new one. The same key names the checkout in the return addresses
Stripe sends the customer back to, which therefore never carry the portal link itself.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts
from dunning.clock import Clock
from dunning.config import Settings
from dunning.driver import insert_for
from dunning.errors import InvalidInput, NotFound
from dunning.ledger.models import Customer, Invoice
from dunning.payments import stripe_api
from dunning.payments.models import OPEN, PROCESSING, Checkout
from dunning.records.arrangements import Dispute

MAX_INVOICES = 40  # their ids go into one metadata value of 500 characters
RETURN_DAYS = 2  # how long the return addresses given to Stripe lead back to the portal


@dataclass(frozen=True)
class Plan:
    key: str
    customer_id: int
    link_version: int
    currency: str
    invoices: tuple[tuple[int, str, int], ...]  # (id, number, open balance), oldest due first
    amount_minor: int
    params: dict[str, Any]  # the Checkout Session to create


def processing_invoices(session: Session, customer_id: int) -> set[int]:
    """Invoices of a payment Stripe is still confirming (a SEPA debit takes days): not offered again."""
    rows = session.execute(
        select(col(Checkout.invoice_ids)).where(
            col(Checkout.customer_id) == customer_id, col(Checkout.status) == PROCESSING
        )
    ).scalars()
    return {invoice_id for ids in rows for invoice_id in ids}


def payable(session: Session, customer: Customer, currency: str) -> list[Invoice]:
    """What Pay now offers in an account: open, undisputed, not being paid already."""
    taken = processing_invoices(session, customer.id)
    return [i for i in accounts.open_invoices(session, customer.id, currency) if i.id not in taken]


def _key(settings: Settings, customer: Customer, currency: str, invoices: list[Invoice], day: date) -> str:
    what = "|".join(
        [
            str(customer.id),
            str(customer.link_version),
            currency,
            day.isoformat(),
            *(f"{i.id}:{i.balance_minor}" for i in invoices),
        ]
    )
    digest = hmac.new(settings.signing_key.encode(), what.encode(), hashlib.sha256).hexdigest()
    return f"dunning-checkout-{digest[:40]}"


def prepare(
    session: Session, clock: Clock, settings: Settings, customer: Customer, currency: str, invoice_ids: list[int], words
) -> Plan:
    """`words(name)` gives the customer's words for a refusal and the line item's name."""
    if not stripe_api.supported(currency):
        raise InvalidInput(words("pay_currency"))
    chosen = set(invoice_ids)
    if not chosen:
        raise InvalidInput(words("pay_none"))
    if len(chosen) > MAX_INVOICES:
        raise InvalidInput(words("pay_too_many", n=MAX_INVOICES))
    mine = {
        i.id: i
        for i in session.execute(
            select(Invoice).where(col(Invoice.customer_id) == customer.id, col(Invoice.id).in_(sorted(chosen)))
        ).scalars()
    }
    if chosen - mine.keys():  # someone else's invoice, or none: the same answer, so ids cannot be probed
        raise NotFound(words("not_yours"))
    disputed = set(
        session.execute(
            select(col(Dispute.invoice_id)).where(
                col(Dispute.invoice_id).in_(sorted(chosen)), col(Dispute.status) == "open"
            )
        ).scalars()
    )
    if disputed:
        raise InvalidInput(words("pay_disputed"))
    if chosen & processing_invoices(session, customer.id):
        raise InvalidInput(words("pay_processing"))
    invoices = sorted(
        (i for i in mine.values() if i.currency == currency and i.balance_minor > 0 and not i.voided),
        key=lambda i: (i.due_on, i.id),
    )
    if len(invoices) != len(chosen):  # another currency, or paid or voided since the page was shown
        raise InvalidInput(words("pay_not_open"))
    amount = sum(i.balance_minor for i in invoices)
    key = _key(settings, customer, currency, invoices, accounts.local_today(clock, customer))
    numbers = ", ".join(i.number for i in invoices)
    metadata = {
        "dunning_customer": customer.external_id,
        "dunning_invoices": ",".join(str(i.id) for i in invoices),
        "dunning_checkout": key,
        "invoices": _cut(numbers, stripe_api.METADATA_VALUE),
    }
    back = f"{settings.public_url.rstrip('/')}/portal/{key}"
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": amount,
                    "product_data": {"name": _cut(words("pay_item", numbers=numbers), 250)},
                },
            }
        ],
        "client_reference_id": key,
        "metadata": metadata,
        # on the PaymentIntent too: payment_intent.succeeded and refunds are matched by it
        "payment_intent_data": {"metadata": metadata, "description": _cut(f"{customer.name}: {numbers}", 1000)},
        "success_url": f"{back}/paid",
        "cancel_url": f"{back}/cancelled",
        "locale": words.lang if words.lang in ("en", "fr") else "auto",
    }
    if customer.email:
        params["customer_email"] = customer.email
    return Plan(
        key,
        customer.id,
        customer.link_version,
        currency,
        tuple((i.id, i.number, i.balance_minor) for i in invoices),
        amount,
        params,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def opened(session: Session, clock: Clock, plan: Plan, created: stripe_api.OpenedSession, actor: str) -> None:
    """Keep the session Stripe opened (the same one again after a second click)."""
    now = clock.now()
    session.execute(
        insert_for(session, Checkout.__table__)
        .values(
            key=plan.key,
            customer_id=plan.customer_id,
            link_version=plan.link_version,
            currency=plan.currency,
            amount_minor=plan.amount_minor,
            invoice_ids=[i for i, _, _ in plan.invoices],
            session_id=created.id,
            status=OPEN,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    audit.record(
        session,
        clock,
        actor=actor,
        action="payment.checkout_opened",
        subject_type="customer",
        subject_id=plan.customer_id,
        session_id=created.id,
        currency=plan.currency,
        amount_minor=plan.amount_minor,
        invoices=[n for _, n, _ in plan.invoices],
    )


def returned(session: Session, clock: Clock, key: str) -> Checkout:
    """The checkout a return address names, while it may still lead back to the portal."""
    checkout = session.execute(select(Checkout).where(col(Checkout.key) == key)).scalar_one_or_none()
    if checkout is None or checkout.created_at < clock.now() - timedelta(days=RETURN_DAYS):
        raise NotFound("this link is not valid")
    customer = session.get(Customer, checkout.customer_id)
    if customer is None or customer.link_version != checkout.link_version:
        raise NotFound("this link has been replaced; use the link in a more recent message")
    return checkout


def mark(
    session: Session,
    clock: Clock,
    *,
    status: str,
    session_id: str | None = None,
    key: str | None = None,
    provider_reference: str | None = None,
    unless: tuple[str, ...] = (),
) -> Checkout | None:
    """Move the checkout of a Stripe session (by its id, or by our key from its metadata)."""
    where = col(Checkout.session_id) == session_id if session_id else col(Checkout.key) == key
    checkout = session.execute(select(Checkout).where(where)).scalar_one_or_none()
    if checkout is None or checkout.status in unless:
        return checkout
    values: dict[str, Any] = {"status": status, "updated_at": clock.now()}
    if provider_reference:
        values["provider_reference"] = provider_reference
    session.execute(
        update(Checkout)
        .where(col(Checkout.id) == checkout.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(checkout)
    return checkout
