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
from sqlmodel import Session

from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.contacts import opted_out_channels
from dunning.ledger.models import Customer
from dunning.outbox.models import PENDING, QUEUED, Message
from dunning.outbox.service import cancel


def reachable_channels(session: Session, customer: Customer) -> list[str]:
    """Email and SMS the customer can receive, email first (the composer checks again at send time)."""
    blocked = set(opted_out_channels(session, customer.id)) | set(customer.refused_channels) | set(customer.invalid_channels)
    have = {"email": customer.email, "sms": customer.phone}
    return [c for c in ("email", "sms") if have[c] and c not in blocked]


def pick_channel(session: Session, customer: Customer, preferred: str | None) -> str | None:
    channels = reachable_channels(session, customer)
    if preferred in channels:
        return preferred
    return channels[0] if channels else None


def queue(session: Session, clock: Clock, *, dedupe_key: str, customer: Customer, case: Case | None,
          currency: str | None, channel: str, template: str, extra: dict[str, Any] | None = None,
          send_after: datetime | None = None, amount_minor: int = 0) -> Message:
    now = clock.now()
    row = {"dedupe_key": dedupe_key, "case_id": case.id if case else None, "customer_id": customer.id,
           "currency": currency, "channel": channel, "kind": template, "template": template, "status": QUEUED,
           "send_after": send_after or now, "requires_approval": False, "show_fees": False, "invoice_ids": [],
           "amount_minor": amount_minor, "context": {"transactional": True, "extra": extra or {}},
           "attempts": 0, "created_at": now, "updated_at": now}
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Message.__table__)
    session.execute(stmt.values(row).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return session.execute(select(Message).where(Message.dedupe_key == dedupe_key)).scalar_one()


def cancel_pending(session: Session, clock: Clock, key_prefix: str, why: str) -> int:
    ids = session.execute(select(Message.id).where(Message.dedupe_key.startswith(key_prefix),
                                                   Message.status.in_(PENDING))).scalars()
    return sum(cancel(session, clock, i, why) for i in list(ids))
