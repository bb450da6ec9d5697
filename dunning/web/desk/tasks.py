"""What a person does with a task: take it, hand it on, note what happened, close it."""
from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from dunning import audit
from dunning.clock import Clock
from dunning.db import get_row
from dunning.errors import Conflict, InvalidInput
from dunning.tasks.models import Task
from dunning.web.auth.models import DeskUser


def get(session: Session, task_id: int) -> Task:
    return get_row(session, Task, task_id, "task")


def assign(session: Session, clock: Clock, task_id: int, assignee: str | None, actor: str) -> Task:
    task = get(session, task_id)
    if assignee:
        known = session.execute(select(DeskUser.email).where(DeskUser.email == assignee, DeskUser.active.is_(True)))
        if known.first() is None:
            raise InvalidInput(f"{assignee} is not an active desk user")
    before, task.assignee = task.assignee, assignee or None
    session.add(task)
    audit.record(session, clock, actor=actor, action="task.assigned", subject_type="task", subject_id=task.id,
                 before=before, after=task.assignee)
    return task


def add_note(session: Session, clock: Clock, task_id: int, text: str, actor: str) -> Task:
    text = text.strip()
    if not text:
        raise InvalidInput("the note is empty")
    task = get(session, task_id)
    # a new list: the JSON column does not see in-place appends
    task.notes = [*task.notes, {"at": clock.now().isoformat(), "by": actor, "text": text[:5000]}]
    session.add(task)
    return task


def complete(session: Session, clock: Clock, task_id: int, actor: str, note: str | None = None) -> Task:
    task = get(session, task_id)
    if task.status != "open":
        raise Conflict(f"task {task_id} is already done")
    if task.kind == "dispute":
        raise Conflict("a dispute task closes when the dispute is resolved, on the customer's page")
    if note and note.strip():
        add_note(session, clock, task_id, note, actor)
    task.status, task.done_at, task.done_by = "done", clock.now(), actor
    session.add(task)
    audit.record(session, clock, actor=actor, action="task.done", subject_type="task", subject_id=task.id,
                 kind=task.kind)
    return task
