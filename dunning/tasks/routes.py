"""/v1/tasks: the team's work for a helpdesk or CRM; the desk's worklist goes through the same service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from dunning import bounds
from dunning.bounds import Moment
from dunning.deps import Caller, ClockDep, RowId, SessionDep, require
from dunning.inputs import BoundedRoute, Input
from dunning.ledger.models import Customer
from dunning.paging import Cursor, Limit, Page, decode_cursor, page
from dunning.tasks import service
from dunning.tasks.models import MANUAL_KINDS, Task
from dunning.tasks.service import NOTE_LENGTH

router = APIRouter(prefix="/v1", tags=["tasks"], route_class=BoundedRoute)
Assignee = bounds.line(320)


class NoteOut(BaseModel):
    at: str
    by: str
    text: str


class TaskOut(BaseModel):
    id: int
    kind: str
    title: str
    detail: str | None
    status: str
    customer: str | None = Field(description="the customer's external id")
    case_id: int | None
    message_id: int | None
    assignee: str | None
    notes: list[NoteOut]
    due_at: datetime | None
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


class TaskIn(Input):
    title: bounds.line(300, 1)
    detail: bounds.text(NOTE_LENGTH) | None = None
    kind: Literal[MANUAL_KINDS] = "manual"  # type: ignore[valid-type]
    customer: bounds.line(200, 1) | None = Field(None, description="the customer's external id")
    due_at: Moment | None = None
    assignee: Assignee | None = Field(None, description="a desk user's email")


class AssignIn(Input):
    assignee: Assignee | None = Field(description="a desk user's email; null or empty: nobody")


class NoteIn(Input):
    text: bounds.text(NOTE_LENGTH)


class CompleteIn(Input):
    note: bounds.text(NOTE_LENGTH) | None = None


def task_out(task: Task, customer: str | None) -> TaskOut:
    return TaskOut.model_validate({**task.model_dump(), "customer": customer}, from_attributes=True)


def _out(session: Session, task: Task) -> TaskOut:
    customer = session.get(Customer, task.customer_id) if task.customer_id is not None else None
    return task_out(task, customer.external_id if customer else None)


@router.get("/tasks", dependencies=[require("read")])
def list_tasks(
    session: SessionDep,
    status: Literal["open", "done"] | None = None,
    kind: Annotated[bounds.line(30) | None, Query()] = None,
    assignee: Annotated[Assignee | None, Query(description='an email, or "none" for unassigned')] = None,
    customer: Annotated[bounds.line(200) | None, Query(description="external id")] = None,
    due_before: Annotated[Moment | None, Query()] = None,
    due_after: Annotated[Moment | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[TaskOut]:
    """Tasks oldest first; a task without a due time is left out when a due filter is given."""
    stmt = (
        select(Task, col(Customer.external_id))
        .outerjoin(Customer, col(Customer.id) == col(Task.customer_id))
        .where(col(Task.id) > decode_cursor(cursor))
    )
    if status is not None:
        stmt = stmt.where(col(Task.status) == status)
    if kind:
        stmt = stmt.where(col(Task.kind) == kind)
    if assignee:
        stmt = stmt.where(col(Task.assignee).is_(None) if assignee == "none" else col(Task.assignee) == assignee)
    if customer:
        stmt = stmt.where(col(Customer.external_id) == customer)
    if due_before is not None:
        stmt = stmt.where(col(Task.due_at) < due_before)
    if due_after is not None:
        stmt = stmt.where(col(Task.due_at) >= due_after)
    rows = session.execute(stmt.order_by(col(Task.id)).limit(limit + 1)).all()
    return page(rows, limit, lambda row: task_out(*row), last_id=lambda row: row[0].id)


@router.get("/tasks/{task_id}", dependencies=[require("read")])
def get_task(task_id: RowId, session: SessionDep) -> TaskOut:
    return _out(session, service.get(session, task_id))


@router.post("/tasks", status_code=201)
def create_task(body: TaskIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")) -> TaskOut:
    """A task opened by hand (a call to make, something to check), optionally about a customer."""
    service.check_assignee(session, body.assignee)
    task = service.create(
        session,
        clock,
        kind=body.kind,
        title=body.title,
        detail=body.detail,
        customer=body.customer,
        due_at=body.due_at,
        assignee=body.assignee or None,
        actor=caller.actor,
    )
    return _out(session, task)


@router.post("/tasks/{task_id}/assign")
def assign_task(
    task_id: RowId, body: AssignIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> TaskOut:
    service.check_assignee(session, body.assignee)
    return _out(session, service.assign(session, clock, task_id, body.assignee or None, caller.actor))


@router.post("/tasks/{task_id}/notes")
def add_note(
    task_id: RowId, body: NoteIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> TaskOut:
    return _out(session, service.add_note(session, clock, task_id, body.text, caller.actor))


@router.post("/tasks/{task_id}/complete")
def complete_task(
    task_id: RowId, body: CompleteIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> TaskOut:
    return _out(session, service.complete(session, clock, task_id, caller.actor, body.note))
