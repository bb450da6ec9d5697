from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from dunning.clock import Clock
from dunning.ledger.bulk import insert_for
from dunning.tasks.models import Task


def open_task(session: Session, clock: Clock, *, kind: str, title: str, key: str | None = None,
              customer_id: int | None = None, case_id: int | None = None, message_id: int | None = None,
              detail: str | None = None, due_at: datetime | None = None, **data: Any) -> Task:
    """Idempotent by `key`: the same finding twice gives the same task, also when two workers find
    it at the same moment (the unique key decides, ON CONFLICT DO NOTHING). A call for a case that
    already has one open joins it as a note (uq_task_open_call_case decides)."""
    one_per_case = kind == "call" and case_id is not None
    if key is None and not one_per_case:
        task = Task(kind=kind, title=title, key=key, customer_id=customer_id, case_id=case_id, message_id=message_id,
                    detail=detail, due_at=due_at, data=data, created_at=clock.now())
        session.add(task)
        session.flush()
        return task
    if key is not None and (existing := _by_key(session, key)) is not None:
        return existing
    # no conflict target: the key or the open call of the case, whichever the row meets
    inserted = session.execute(insert_for(session, Task.__table__).values(
        kind=kind, title=title, key=key, customer_id=customer_id, case_id=case_id, message_id=message_id,
        detail=detail, due_at=due_at, data=data, notes=[], status="open", created_at=clock.now())
        .on_conflict_do_nothing()).rowcount == 1
    if key is not None and (task := _by_key(session, key)) is not None:
        return task
    task = session.execute(select(Task).where(Task.case_id == case_id, Task.kind == "call", Task.status == "open")
                           .with_for_update()).scalar_one()
    noted = key is not None and any(note.get("key") == key for note in task.notes)
    if not inserted and not noted:  # another reason to make the same call
        text = title + (f"\n{detail}" if detail else "")
        task.notes = [*task.notes, {"at": clock.now().isoformat(), "by": "system", "text": text[:5000], "key": key}]
        session.add(task)
        session.flush()
    return task


def _by_key(session: Session, key: str) -> Task | None:
    return session.execute(select(Task).where(Task.key == key)).scalar_one_or_none()
