"""Reading events in order: the cursor is the id of the last event seen."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning.db import get_row
from dunning.events.models import EventRecord
from dunning.events.publish import iso


def public(event: EventRecord) -> dict[str, Any]:
    """The event as neighbours see it, in GET /v1/events and as a webhook's body (the payload
    structure of Standard Webhooks: type, timestamp, data; and the id)."""
    return {"id": event.id, "type": event.type, "timestamp": iso(event.occurred_at), "data": event.data}


def body(event: EventRecord) -> bytes:
    """The webhook body: the same bytes on every attempt, so a retry is the same message."""
    return json.dumps(public(event), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def after(session: Session, cursor: int, *, types: list[str] | None = None, limit: int = 100) -> list[EventRecord]:
    """Up to `limit` events after the event `cursor`, oldest first, of the given types (or all)."""
    stmt = select(EventRecord).where(col(EventRecord.id) > cursor)
    if types:
        stmt = stmt.where(col(EventRecord.type).in_(types))
    return list(session.execute(stmt.order_by(col(EventRecord.id)).limit(limit)).scalars())


def get(session: Session, event_id: int) -> EventRecord:
    return get_row(session, EventRecord, event_id, "event")


def last_id(session: Session) -> int:
    """The newest event committed: the cursor of a reader that starts from now."""
    return session.execute(select(func.coalesce(func.max(col(EventRecord.id)), 0))).scalar_one()
