"""Tasks: opened by the jobs that find work for a person, or by a person; taken, noted, done. The
desk and /v1/tasks both come here, and each change is an event (task.*)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.db import get_row
from dunning.driver import insert_for, insert_rows
from dunning.errors import Conflict, InvalidInput
from dunning.events.publish import Event, new, publish, publish_all
from dunning.ledger.bulk import lookup
from dunning.ledger.models import Customer
from dunning.records.desk import DeskUser
from dunning.tasks.models import Task

NOTE_LENGTH = 5000


def open_task(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    title: str,
    key: str | None = None,
    customer_id: int | None = None,
    case_id: int | None = None,
    message_id: int | None = None,
    detail: str | None = None,
    due_at: datetime | None = None,
    assignee: str | None = None,
    **data: Any,
) -> Task:
    """Idempotent by `key`: the same finding twice gives the same task, also when two workers find
    it at the same moment (the unique key decides, ON CONFLICT DO NOTHING). A call for a case that
    already has one open joins it as a note (uq_task_open_call_case decides). A new task is an
    event (task.created); one found again is not."""
    one_per_case = kind == "call" and case_id is not None
    if key is None and not one_per_case:
        task = Task(
            kind=kind,
            title=title,
            key=key,
            customer_id=customer_id,
            case_id=case_id,
            message_id=message_id,
            detail=detail,
            due_at=due_at,
            assignee=assignee,
            data=data,
            created_at=clock.now(),
        )
        session.add(task)
        session.flush()
        return _created(session, clock, task)
    # No conflict target: the key or the open call of the case, whichever the row meets. Inserting
    # first costs what a look-up would, and a new task (the cycle's usual case) needs no look-up before.
    inserted = (
        session.execute(
            insert_for(session, Task.__table__)
            .values(
                kind=kind,
                title=title,
                key=key,
                customer_id=customer_id,
                case_id=case_id,
                message_id=message_id,
                detail=detail,
                due_at=due_at,
                assignee=assignee,
                data=data,
                notes=[],
                status="open",
                created_at=clock.now(),
            )
            .on_conflict_do_nothing()
        ).rowcount
        == 1
    )
    if key is not None and (task := _by_key(session, key)) is not None:
        return _created(session, clock, task) if inserted else task  # else another worker's, and its event
    task = session.execute(
        select(Task)
        .where(col(Task.case_id) == case_id, col(Task.kind) == "call", col(Task.status) == "open")
        .with_for_update()
    ).scalar_one()
    if inserted:
        return _created(session, clock, task)
    if not (key is not None and any(note.get("key") == key for note in task.notes)):  # another reason for the call
        text = title + (f"\n{detail}" if detail else "")
        task.notes = [
            *task.notes,
            {"at": clock.now().isoformat(), "by": "system", "text": text[:NOTE_LENGTH], "key": key},
        ]
        session.add(task)
        session.flush()
    return task


def open_calls(session: Session, clock: Clock, calls: list[dict[str, Any]], customers: dict[int, str]) -> None:
    """`open_task(kind="call", ...)` for many cases at once (the cycle's calls): each call is a dict
    of key, customer_id, case_id, due_at, title and detail, and `customers` maps the customer ids to
    their external ids (for the events). One insert for all (ON CONFLICT DO NOTHING, as one by one)
    and one task.created event per task opened. A call that meets its case's open call under another
    key (uq_task_open_call_case) joins it as a note, through open_task: that is rare."""
    if not calls:
        return
    table = Task.__table__
    keys = [call["key"] for call in calls]
    before = lookup(session, table.c.key, keys)
    now = clock.now()
    fresh = [c for c in calls if c["key"] not in before]
    if fresh:
        rows = [{**c, "kind": "call", "status": "open", "notes": [], "data": {}, "created_at": now} for c in fresh]
        insert_rows(session, table, rows, skip_existing=[])
    opened = lookup(session, table.c.key, [c["key"] for c in fresh], table.c.id)
    events = []
    for call in fresh:
        if call["key"] in opened:
            fields = {**call, "id": opened[call["key"]][1], "kind": "call", "assignee": None, "message_id": None}
            events.append(_created_event(clock, fields, customers[call["customer_id"]]))
        else:  # the case has an open call already, for another reason
            open_task(session, clock, kind="call", **call)
    publish_all(session, events)


def _created(session: Session, clock: Clock, task: Task) -> Task:
    fields = {name: getattr(task, name) for name in CREATED_FIELDS}
    publish_all(session, [_created_event(clock, fields, _external_id(session, task.customer_id))])
    return task


CREATED_FIELDS = ("id", "customer_id", "case_id", "kind", "title", "due_at", "assignee", "message_id")


def _created_event(clock: Clock, task: dict[str, Any], customer: str | None) -> Event:
    """task.created, from the task's CREATED_FIELDS and its customer's external id."""
    return new(
        clock,
        "task.created",
        customer_id=task["customer_id"],
        case_id=task["case_id"],
        task_id=task["id"],
        kind=task["kind"],
        customer=customer,
        title=task["title"],
        due_at=task["due_at"],
        assignee=task["assignee"],
        message_id=task["message_id"],
    )


def _by_key(session: Session, key: str) -> Task | None:
    return session.execute(select(Task).where(col(Task.key) == key)).scalar_one_or_none()


def create(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    title: str,
    detail: str | None,
    customer: str | None,
    due_at: datetime | None,
    assignee: str | None,
    actor: str,
) -> Task:
    """A task a person (or their helpdesk) opens by hand."""
    customer_id = None
    if customer is not None:
        customer_id = session.execute(select(col(Customer.id)).where(col(Customer.external_id) == customer)).scalar()
        if customer_id is None:
            raise InvalidInput(f"unknown customer '{customer}'")
    task = open_task(
        session,
        clock,
        kind=kind,
        title=title,
        detail=detail,
        customer_id=customer_id,
        due_at=due_at,
        assignee=assignee,
        created_by=actor,
    )
    audit.record(session, clock, actor=actor, action="task.created", subject_type="task", subject_id=task.id, kind=kind)
    return task


def get(session: Session, task_id: int) -> Task:
    return get_row(session, Task, task_id, "task")


def check_assignee(session: Session, assignee: str | None) -> None:
    """Tasks go to the team: an active desk user, or nobody (None or "")."""
    if assignee:
        known = session.execute(
            select(col(DeskUser.email)).where(col(DeskUser.email) == assignee, col(DeskUser.active).is_(True))
        )
        if known.first() is None:
            raise InvalidInput(f"{assignee} is not an active desk user")


def assign(session: Session, clock: Clock, task_id: int, assignee: str | None, actor: str) -> Task:
    """`assignee` must be someone tasks can go to (`check_assignee`), or None."""
    task = get(session, task_id)
    before, task.assignee = task.assignee, assignee or None
    session.add(task)
    audit.record(
        session,
        clock,
        actor=actor,
        action="task.assigned",
        subject_type="task",
        subject_id=task.id,
        before=before,
        after=task.assignee,
    )
    _event(session, clock, "task.assigned", task, assignee=task.assignee, previous=before, by=actor)
    return task


def add_note(session: Session, clock: Clock, task_id: int, text: str, actor: str) -> Task:
    text = text.strip()
    if not text:
        raise InvalidInput("the note is empty")
    task = get(session, task_id)
    note = {"at": clock.now().isoformat(), "by": actor, "text": text[:NOTE_LENGTH]}
    task.notes = [*task.notes, note]  # a new list: the JSON column does not see in-place appends
    session.add(task)
    _event(session, clock, "task.note_added", task, by=actor, text=note["text"])
    return task


def complete(session: Session, clock: Clock, task_id: int, actor: str, note: str | None = None) -> Task:
    task = get(session, task_id)
    if task.status != "open":
        raise Conflict(f"task {task_id} is already done")
    if task.kind == "dispute":
        raise Conflict("a dispute task closes when the dispute is resolved, on the customer's page")
    if note and note.strip():
        add_note(session, clock, task_id, note, actor)
    close(session, clock, task, actor)
    return task


def close(session: Session, clock: Clock, task: Task, actor: str) -> None:
    """Done, whatever its kind (a dispute's task closes with the dispute)."""
    task.status, task.done_at, task.done_by = "done", clock.now(), actor
    session.add(task)
    audit.record(
        session, clock, actor=actor, action="task.done", subject_type="task", subject_id=task.id, kind=task.kind
    )
    _event(session, clock, "task.done", task, by=actor)


def reopen(session: Session, clock: Clock, task: Task, detail: str) -> None:
    task.status, task.done_at, task.done_by, task.detail = "open", None, None, detail
    session.add(task)
    session.flush()
    _event(session, clock, "task.reopened", task, title=task.title)


def _event(session: Session, clock: Clock, event_type: str, task: Task, **data: Any) -> None:
    publish(
        session,
        clock,
        event_type,
        customer_id=task.customer_id,
        case_id=task.case_id,
        task_id=task.id,
        kind=task.kind,
        customer=_external_id(session, task.customer_id),
        **data,
    )


def _external_id(session: Session, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    return session.execute(select(col(Customer.external_id)).where(col(Customer.id) == customer_id)).scalar()
