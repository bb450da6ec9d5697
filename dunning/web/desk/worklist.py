"""The worklist: steps waiting for approval, then the team's open tasks (calls, disputes, replies
nobody could read, messages in doubt...), each with its assignee, notes and completion.

Open tasks come ranked by what is at stake: the cash at risk of the task's account (its case's, or
all of its customer's accounts), the unpromised balance times the chance it is still unpaid in
`at_risk_days` days if nobody acts (forecast/service.py), with the reason in words. Tasks about
no customer come after, by due time; the team can sort everything by due time instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import bounds
from dunning.cases.models import Case
from dunning.clock import today
from dunning.config import Settings
from dunning.deps import ClockDep, RowId, SessionDep, SettingsDep
from dunning.forecast import service as forecast
from dunning.inputs import BoundedRoute
from dunning.ledger.models import Customer
from dunning.outbox import service as outbox_service
from dunning.outbox.models import AWAITING_APPROVAL, Message
from dunning.tasks import service as task_service
from dunning.tasks.models import Task
from dunning.web.auth import users
from dunning.web.desk.deps import Agent, Manager, act, render

router = APIRouter(prefix="/desk", include_in_schema=False, route_class=BoundedRoute)


@dataclass
class Approval:
    """One step of one case: its messages (a registered letter and its email copy...) are decided together."""

    customer: Customer
    messages: list[Message] = field(default_factory=list)

    @property
    def first(self) -> Message:
        return self.messages[0]


def approvals(session: Session) -> list[Approval]:
    grouped: dict[tuple, Approval] = {}
    for message, customer in session.execute(
        select(Message, Customer)
        .join(Customer, col(Customer.id) == col(Message.customer_id))
        .where(col(Message.status) == AWAITING_APPROVAL)
        .order_by(col(Message.send_after), col(Message.id))
    ):
        key = (message.case_id, message.path_name, message.step_index) if message.case_id else (message.id,)
        grouped.setdefault(key, Approval(customer)).messages.append(message)
    return list(grouped.values())


SHOWN = 200  # tasks on the page


def _filtered(stmt, *, status: str, kind: str | None, who: str, me: str):
    stmt = stmt.where(col(Task.status) == status)
    if kind:
        stmt = stmt.where(col(Task.kind) == kind)
    if who == "mine":
        stmt = stmt.where(col(Task.assignee) == me)
    elif who == "unassigned":
        stmt = stmt.where(col(Task.assignee).is_(None))
    return stmt


BY_DUE = (col(Task.due_at).is_(None), col(Task.due_at), col(Task.created_at), col(Task.id))


def open_tasks(session: Session, *, status: str, kind: str | None, who: str, me: str):
    """The tasks in due order (done ones: the latest done first), with their customers."""
    stmt = _filtered(
        select(Task, Customer).outerjoin(Customer, col(Customer.id) == col(Task.customer_id)),
        status=status,
        kind=kind,
        who=who,
        me=me,
    )
    order = (col(Task.done_at).desc(), col(Task.id)) if status == "done" else BY_DUE
    return session.execute(stmt.order_by(*order).limit(SHOWN)).all()


def at_stake(session: Session, settings: Settings, day: date, *, kind: str | None, who: str, me: str):
    """The open tasks ranked by the cash at risk of their accounts, each with its reason in words.

    Every matching task is ranked (three columns each), then the first SHOWN are loaded."""
    light = session.execute(
        _filtered(
            select(col(Task.id), col(Task.customer_id), col(Case.currency)).outerjoin(
                Case, col(Case.id) == col(Task.case_id)
            ),
            status="open",
            kind=kind,
            who=who,
            me=me,
        ).order_by(*BY_DUE)
    ).all()
    risks = forecast.at_risk(session, day, settings.at_risk_days, {c for _, c, _ in light if c is not None})
    by_customer: dict[int, list[forecast.AtRisk]] = {}
    for account in risks.values():
        by_customer.setdefault(account.customer_id, []).append(account)
    accounts = {
        task_id: [a for a in by_customer.get(customer_id, ()) if currency in (None, a.currency)]
        for task_id, customer_id, currency in light
        if customer_id is not None
    }
    stakes = {task_id: forecast.stake(a, settings.ranking_rates) for task_id, a in accounts.items()}
    # sorted() is stable: equal stakes (and tasks about no customer) keep their due order
    ranked = sorted((task_id for task_id, _, _ in light), key=lambda t: -stakes.get(t, 0.0))[:SHOWN]
    rows = {
        task.id: (task, customer)
        for task, customer in session.execute(
            select(Task, Customer)
            .outerjoin(Customer, col(Customer.id) == col(Task.customer_id))
            .where(col(Task.id).in_(ranked))
        )
    }
    reasons = {t: forecast.reason(a, settings.at_risk_days) for t, a in accounts.items()}
    return [rows[t] for t in ranked], reasons


@router.get("/worklist")
def worklist(
    desk: Agent,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    kind: Annotated[bounds.line(40) | None, Query()] = None,
    who: Literal["all", "mine", "unassigned"] = "all",
    status: Literal["open", "done"] = "open",
    order: Literal["at_stake", "due"] = "at_stake",
) -> HTMLResponse:
    reasons: dict[int, str] = {}
    if status == "open" and order == "at_stake":
        rows, reasons = at_stake(session, settings, today(clock), kind=kind, who=who, me=desk.user.email)
    else:
        rows = open_tasks(session, status=status, kind=kind, who=who, me=desk.user.email)
    message_ids = [t.message_id for t, _ in rows if t.message_id]
    message_status = (
        dict(
            session.execute(select(col(Message.id), col(Message.status)).where(col(Message.id).in_(message_ids))).all()
        )
        if message_ids
        else {}
    )
    counts = dict(
        session.execute(
            select(col(Task.kind), func.count()).where(col(Task.status) == "open").group_by(col(Task.kind))
        ).all()
    )
    return render(
        session,
        desk,
        "desk/worklist.html",
        active="worklist",
        approvals=approvals(session),
        rows=rows,
        counts=counts,
        kind=kind,
        who=who,
        status=status,
        order=order,
        reasons=reasons,
        at_risk_days=settings.at_risk_days,
        message_status=message_status,
        people=[u for u in users.list_all(session) if u.active],
    )


def _back(kind: str | None = None) -> str:
    return "/desk/worklist" + (f"?kind={kind}" if kind else "")


@router.post("/tasks/{task_id}/assign")
def assign(
    task_id: RowId,
    desk: Agent,
    session: SessionDep,
    clock: ClockDep,
    assignee: Annotated[bounds.line(320), Form()] = "",
) -> RedirectResponse:
    def assign_to():
        task_service.check_assignee(session, assignee)
        return task_service.assign(session, clock, task_id, assignee or None, desk.actor)

    return act(
        session,
        desk,
        _back(),
        assign_to,
        lambda t: f"Task {t.id} is now " + (f"with {t.assignee}" if t.assignee else "unassigned"),
    )


@router.post("/tasks/{task_id}/note")
def note(
    task_id: RowId, desk: Agent, session: SessionDep, clock: ClockDep, text: Annotated[bounds.text(5000), Form()] = ""
) -> RedirectResponse:
    return act(
        session,
        desk,
        _back(),
        lambda: task_service.add_note(session, clock, task_id, text, desk.actor),
        f"Note added to task {task_id}",
    )


@router.post("/tasks/{task_id}/done")
def done(
    task_id: RowId, desk: Agent, session: SessionDep, clock: ClockDep, note: Annotated[bounds.text(5000), Form()] = ""
) -> RedirectResponse:
    return act(
        session,
        desk,
        _back(),
        lambda: task_service.complete(session, clock, task_id, desk.actor, note),
        f"Task {task_id} done",
    )


@router.post("/approvals/{message_id}")
def answer_approval(
    message_id: RowId,
    desk: Manager,
    session: SessionDep,
    clock: ClockDep,
    decision: Annotated[Literal["approve", "reject"], Form()],
    note: Annotated[bounds.text(1000), Form()] = "",
    back: Annotated[bounds.line(200), Form()] = "/desk/worklist",
) -> RedirectResponse:
    approve = decision == "approve"
    return act(
        session,
        desk,
        back if back.startswith("/desk/") else "/desk/worklist",
        lambda: outbox_service.answer_approval(
            session, clock, message_id, approve=approve, actor=desk.actor, note=note or None
        ),
        lambda ms: (
            f"{'Approved' if approve else 'Rejected'}: {ms[0].step_name or ms[0].kind.replace('_', ' ')}"
            f" by {', '.join(m.channel for m in ms)}"
            + (" — queued to go out" if approve else " — the case is paused for review")
        ),
    )


@router.post("/messages/{message_id}/resolve")
def resolve(
    message_id: RowId,
    desk: Manager,
    session: SessionDep,
    clock: ClockDep,
    outcome: Annotated[Literal["sent", "resend", "cancel"], Form()],
    back: Annotated[bounds.line(200), Form()] = "/desk/worklist",
) -> RedirectResponse:
    def resolve_and_close():
        message = outbox_service.resolve_in_doubt(session, clock, message_id, outcome=outcome, actor=desk.actor)
        for task in session.execute(
            select(Task).where(
                col(Task.message_id) == message_id, col(Task.kind) == "in_doubt", col(Task.status) == "open"
            )
        ).scalars():
            task_service.complete(session, clock, task.id, desk.actor, f"message marked {outcome}")
        return message

    return act(
        session,
        desk,
        back if back.startswith("/desk/") else "/desk/worklist",
        resolve_and_close,
        lambda m: f"Message {m.id}: {m.status}",
    )
