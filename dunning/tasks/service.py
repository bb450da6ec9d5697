from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from dunning.clock import Clock
from dunning.driver import insert_for
from dunning.tasks.models import Task


def open_task(session: Session, clock: Clock, *, kind: str, title: str, key: str | None = None,
              customer_id: int | None = None, case_id: int | None = None, message_id: int | None = None,
              detail: str | None = None, due_at: datetime | None = None, **data: Any) -> Task:
    """Idempotent by `key`: the same finding twice gives the same task, also when two workers find
    it at the same moment (the unique key decides, ON CONFLICT DO NOTHING)."""
    if key is not None:
        existing = session.execute(select(Task).where(Task.key == key)).scalar_one_or_none()
        if existing is not None:
            return existing
        session.execute(insert_for(session, Task.__table__).values(
            kind=kind, title=title, key=key, customer_id=customer_id, case_id=case_id, message_id=message_id,
            detail=detail, due_at=due_at, data=data, notes=[], status="open", created_at=clock.now())
            .on_conflict_do_nothing(index_elements=["key"]))
        return session.execute(select(Task).where(Task.key == key)).scalar_one()
    task = Task(kind=kind, title=title, key=key, customer_id=customer_id, case_id=case_id, message_id=message_id,
                detail=detail, due_at=due_at, data=data, created_at=clock.now())
    session.add(task)
    session.flush()
    return task
