"""Messages about an arrangement (confirmations, installment reminders, STOP/HELP answers by email).

They are queued in the outbox like any message, marked transactional: the composer sends them
while the case is paused (that is when they matter) and outside the dunning contact rules, but
never to a channel the customer opted out of by the time they go. The dedupe key makes queueing
idempotent, so the hourly job may run twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.contacts import contact_opt_outs, opted_out_channels
from dunning.contacts.models import Contact
from dunning.contacts.roles import DEFAULT_TO, holders
from dunning.ledger.models import Customer
from dunning.outbox.models import PENDING, QUEUED, Message
from dunning.outbox.service import cancel


def reachable_channels(session: Session, customer: Customer, contact_id: int | None = None) -> list[str]:
    """Email and SMS the customer can receive, email first: by its primary contact, or by the
    contact named (who wrote to us); the composer checks again at send time."""
    blocked = set(opted_out_channels(session, customer.id)) | set(customer.refused_channels)
    contacts = list(session.execute(select(Contact).where(col(Contact.customer_id) == customer.id)).scalars())
    chosen = [c for c in contacts if c.id == contact_id] if contact_id is not None else holders(contacts, DEFAULT_TO)
    stopped = contact_opt_outs(session, (c.id for c in chosen))
    return [
        ch
        for ch in ("email", "sms")
        if ch not in blocked
        and any(c.address_for(ch) and ch not in c.invalid_channels and ch not in stopped.get(c.id, ()) for c in chosen)
    ]


def pick_channel(session: Session, customer: Customer, preferred: str | None) -> str | None:
    channels = reachable_channels(session, customer)
    if preferred in channels:
        return preferred
    return channels[0] if channels else None


def queue(
    session: Session,
    clock: Clock,
    *,
    dedupe_key: str,
    customer: Customer,
    case: Case | None,
    currency: str | None,
    channel: str,
    template: str,
    extra: dict[str, Any] | None = None,
    send_after: datetime | None = None,
    amount_minor: int = 0,
    contact_id: int | None = None,
) -> Message:
    """`contact_id`: to that contact alone (an answer to the one who wrote), else by role."""
    now = clock.now()
    context: dict[str, Any] = {"transactional": True, "extra": extra or {}}
    if contact_id is not None:
        context["contact_id"] = contact_id
    row = {
        "dedupe_key": dedupe_key,
        "case_id": case.id if case else None,
        "customer_id": customer.id,
        "currency": currency,
        "channel": channel,
        "kind": template,
        "template": template,
        "status": QUEUED,
        "send_after": send_after or now,
        "requires_approval": False,
        "show_fees": False,
        "invoice_ids": [],
        "amount_minor": amount_minor,
        "context": context,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Message.__table__)
    session.execute(stmt.values(row).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return session.execute(select(Message).where(col(Message.dedupe_key) == dedupe_key)).scalar_one()


def cancel_pending(session: Session, clock: Clock, key_prefix: str, why: str) -> int:
    ids = session.execute(
        select(col(Message.id)).where(col(Message.dedupe_key).startswith(key_prefix), col(Message.status).in_(PENDING))
    ).scalars()
    return sum(cancel(session, clock, i, why) for i in list(ids))
