"""Which cases a cycle must look at: the sweep narrows, the engine decides.

A case is looked at when something it depends on may have changed since it was last decided:
- it was never decided, or not yet today (every case is decided afresh once a day, so nothing a
  writer forgot to mark can hold a case back for longer than that);
- its own wake-up time (the engine's next_check_at: a due date, the end of a pause) has come;
- a writer marked it (decided_at set to NULL): every ORM change to a case, a customer, an invoice,
  a dispute or an opt-out does so through the listeners below, and the ledger's bulk writers
  through their `ledger.accounts_changed` event;
- one of its messages moved (sent, failed, approved...), a newer score arrived, or a policy was
  saved since;
- or it does not exist yet: an account with money coming due and no open case.
Marking is conservative: a case looked at for nothing is decided on the same digest and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, event, exists, func, or_, select, update
from sqlalchemy.orm import Mapper
from sqlmodel import Session, col

from dunning.cases.models import CASE, CLOSED, Case
from dunning.contacts import OptOut
from dunning.events.publish import Event
from dunning.ledger.bulk import one_of
from dunning.ledger.models import Customer, Invoice
from dunning.outbox.models import Message
from dunning.policies.models import PolicyVersion
from dunning.records.arrangements import Dispute
from dunning.scoring.models import Score


def touch(session: Session, customer_ids: Iterable[int]) -> None:
    """The next cycle looks at these customers' cases again."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    which = one_of(CASE.c.customer_id, "ids", session.get_bind().dialect.name)
    session.execute(
        update(CASE)
        .where(which, CASE.c.decided_at.is_not(None))
        .values(decided_at=None)
        .execution_options(synchronize_session=False),
        {"ids": ids},
    )


def _touch_on(connection: Connection, customer_id: int | None) -> None:
    if customer_id is not None:
        connection.execute(
            update(CASE)
            .where(CASE.c.customer_id == customer_id, CASE.c.decided_at.is_not(None))
            .values(decided_at=None)
        )


def on_accounts_changed(session: Session, changed: Event) -> None:
    """The ledger wrote these customers' rows in bulk (`ledger.accounts_changed`)."""
    touch(session, changed.data["customer_ids"])


def _case_changed(_mapper: Mapper[Case], _connection: Connection, case: Case) -> None:
    # an ORM write is never the cycle's own (it writes with Core): a pause, a resume, a rewind
    case.decided_at = None


def _touch_by(column: str) -> Callable[[Mapper[Any], Connection, object], None]:
    return lambda _mapper, connection, target: _touch_on(connection, getattr(target, column))


# ORM writes of what a case depends on, each with the attribute naming the customer
WATCHED = ((Customer, "id"), (Invoice, "customer_id"), (Dispute, "customer_id"), (OptOut, "customer_id"))
_LISTENERS = [(Case, "before_update", _case_changed)] + [
    (model, when, _touch_by(column))
    for model, column in WATCHED
    for when in ("after_insert", "after_update", "after_delete")
]


def listen() -> None:
    """Mark cases on every ORM change of what they depend on (called by dunning/subscriptions.py,
    not on import: whether a write marks a case must not depend on who imported what)."""
    for target, when, listener in _LISTENERS:
        if not event.contains(target, when, listener):
            event.listen(target, when, listener)


def listening() -> bool:
    return all(event.contains(target, when, listener) for target, when, listener in _LISTENERS)


def stop_listening() -> None:
    for target, when, listener in _LISTENERS:
        if event.contains(target, when, listener):
            event.remove(target, when, listener)


def due_customers(session: Session, now: datetime, horizon: date) -> set[int]:
    """Customers with a case to look at (see the module's docstring)."""
    start_of_day = datetime.combine(now.date(), time(0), now.tzinfo)
    newest_policy = session.execute(select(func.max(col(PolicyVersion.created_at)))).scalar()
    stale = or_(
        col(Case.decided_at).is_(None),
        col(Case.decided_at) < start_of_day,
        col(Case.next_check_at) <= now,
        # at or after: with a frozen clock (a replay, a test) both can be the same instant
        exists().where(col(Message.case_id) == col(Case.id), col(Message.updated_at) >= col(Case.decided_at)),
        exists().where(col(Score.customer_id) == col(Case.customer_id), col(Score.scored_at) >= col(Case.decided_at)),
    )
    if newest_policy is not None:
        stale = or_(stale, col(Case.decided_at) <= newest_policy)
    ids = set(
        session.connection().execute(select(col(Case.customer_id)).where(col(Case.state) != CLOSED, stale)).scalars()
    )
    # accounts owing soon with no open case: new, or a closed case to reopen
    has_case = exists().where(
        col(Case.customer_id) == col(Invoice.customer_id),
        col(Case.currency) == col(Invoice.currency),
        col(Case.state) != CLOSED,
    )
    ids.update(
        session.connection()
        .execute(
            select(col(Invoice.customer_id))
            .where(
                col(Invoice.balance_minor) > 0,
                col(Invoice.voided).is_(False),
                col(Invoice.due_on) <= horizon,
                ~has_case,
            )
            .distinct()
        )
        .scalars()
    )
    return ids
