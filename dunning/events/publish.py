"""Publishing an event: in the transaction of the change, numbered in commit order.

`publish` stages the event on the session's innermost transaction and hands it at once to the
in-process subscribers (same session, same transaction: a domain that must react to another's
change does it here, and reacts to the same record that feeds the webhooks). This is how a lower
layer tells a higher one (docs/architecture.md, "Events between the layers"); who subscribes to
what is listed in dunning/subscriptions.py. An internal type (catalogue.INTERNAL) only reaches the
subscribers. The other rows are written when the session commits:

- a savepoint rolled back takes its events with it, as it takes the rows they describe;
- on PostgreSQL the insert runs under a transaction-level advisory lock held until the commit,
  so ids are handed out in the order the transactions commit. Without it a reader could see
  event 11 while event 10 (an older transaction, still open) was invisible, move its cursor past
  10 and never see it. The lock is the last one a transaction takes (pending changes are
  flushed first, events have no foreign keys), so it cannot close a deadlock; it is held only
  for the insert and the commit. SQLite needs nothing: its writers already go one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import Session as SQLModelSession

from dunning.clock import Clock
from dunning.driver import insert_rows
from dunning.events.catalogue import INTERNAL, TYPES
from dunning.events.models import EventRecord

STAGED = "dunning.events"  # session.info key: [(transaction, events), ...] not yet written
EVENT_LOCK = 728146  # pg_advisory_xact_lock key (the cycle's is 728145)


@dataclass(frozen=True)
class Event:
    """An event as published: what subscribers receive, and what becomes the row."""

    type: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    customer_id: int | None = None
    case_id: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "occurred_at": self.occurred_at,
            "customer_id": self.customer_id,
            "case_id": self.case_id,
            "data": self.data,
        }


# Subscribers are the domains' handlers, written against the sessions the service makes (sqlmodel's).
Subscriber = Callable[[SQLModelSession, Event], None]
_subscribers: dict[str, list[Subscriber]] = {}


def subscribe(event_type: str, subscriber: Subscriber) -> None:
    """Call `subscriber(session, event)` for every event of this type, inside the publishing
    transaction (what it writes commits or rolls back with the change)."""
    _known(event_type)
    _subscribers.setdefault(event_type, []).append(subscriber)


def unsubscribe(event_type: str, subscriber: Subscriber) -> None:
    _subscribers.get(event_type, []).remove(subscriber)


def new(
    clock: Clock, event_type: str, *, customer_id: int | None = None, case_id: int | None = None, **data: Any
) -> Event:
    """An event of `event_type` happening now. Its payload is `data` (made JSON-ready) after the
    case id, which every payload carries (null when the event is about no case); the customer is
    named in `data` by their external id, and `customer_id` is kept on the row."""
    _known(event_type)
    return Event(event_type, clock.now(), {"case_id": case_id, **plain(data)}, customer_id, case_id)


def publish(
    session: Session,
    clock: Clock,
    event_type: str,
    *,
    customer_id: int | None = None,
    case_id: int | None = None,
    **data: Any,
) -> Event:
    event = new(clock, event_type, customer_id=customer_id, case_id=case_id, **data)
    publish_all(session, [event])
    return event


def publish_all(session: Session, events: Iterable[Event]) -> None:
    """Several events at once, in order (the cycle's, a batch of payments)."""
    events = list(events)
    if not events:
        return
    if recorded := [event for event in events if event.type not in INTERNAL]:
        session.connection()  # begins the transaction, if none has begun, so the events belong to one
        current = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(STAGED, []).append((current, recorded))
    if _subscribers:
        for event in events:
            for subscriber in _subscribers.get(event.type, ()):
                subscriber(session, event)


def subscribers(event_type: str) -> tuple[Subscriber, ...]:
    return tuple(_subscribers.get(event_type, ()))


def _known(event_type: str) -> None:
    if event_type not in TYPES and event_type not in INTERNAL:
        raise ValueError(f"unknown event type {event_type!r}: add it to dunning/events/catalogue.py")


_AS_IS = frozenset({str, int, float, bool, type(None)})  # most of a payload: checked first, by exact type


def plain(value: Any) -> Any:
    """JSON-ready: dates and moments as ISO 8601 text (UTC moments with a Z), Decimals as text."""
    if type(value) in _AS_IS:  # the cycle publishes tens of thousands of events: the common case first
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---- the session's side ---------------------------------------------------------------------


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    staged = session.info.get(STAGED)
    if staged:
        session.info[STAGED] = [(tx, events) for tx, events in staged if not _within(tx, previous)]


@sa_event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: its events wait for the real commit
        return
    staged = session.info.get(STAGED)
    if not staged:
        return
    session.flush()  # every other write (and its row locks) before the event lock
    del session.info[STAGED]
    rows = [event.row() for _, events in staged for event in events]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOCK})
    insert_rows(session, EventRecord.__table__, rows)


@sa_event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (written above) or rolled back: nothing is left to write
        session.info.pop(STAGED, None)
