from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from dunning import bounds
from dunning.deps import Caller, ClockDep, RowId, SessionDep, require
from dunning.inputs import BoundedRoute
from dunning.ledger.models import Customer
from dunning.money import as_string
from dunning.outbox import service
from dunning.outbox.models import AWAITING_APPROVAL, Message
from dunning.outbox.schemas import ApprovalIn, MessageDetail, MessageOut, ResolveIn

router = APIRouter(prefix="/v1", tags=["outbox"], route_class=BoundedRoute)


def detail(session, message: Message) -> MessageDetail:
    customer = session.get(Customer, message.customer_id)
    return MessageDetail.model_validate(
        {
            **message.model_dump(),
            "customer_external_id": customer.external_id,
            "amount": as_string(message.amount_minor, message.currency) if message.currency else None,
        }
    )


@router.get("/approvals", dependencies=[require("manage")])
def list_approvals(session: SessionDep) -> list[MessageDetail]:
    """Heavy steps waiting for a person: registered letters, agency hand-offs, what the policy marks."""
    rows = session.execute(
        select(Message)
        .where(col(Message.status) == AWAITING_APPROVAL)
        .order_by(col(Message.send_after), col(Message.id))
    ).scalars()
    return [detail(session, m) for m in rows]


@router.post("/approvals/{message_id}")
def answer_approval(
    message_id: RowId, decision: ApprovalIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> list[MessageDetail]:
    """Approving or rejecting a step decides every message of that step (letter and agency file alike)."""
    messages = service.answer_approval(
        session, clock, message_id, approve=decision.decision == "approve", actor=caller.actor, note=decision.note
    )
    return [detail(session, m) for m in messages]


@router.get("/messages", dependencies=[require("read")])
def list_messages(
    session: SessionDep,
    status: Annotated[bounds.line(20) | None, Query()] = None,
    customer: Annotated[bounds.line(200) | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MessageOut]:
    stmt = select(Message).order_by(col(Message.id).desc()).limit(limit)
    if status:
        stmt = stmt.where(col(Message.status) == status)
    if customer:
        stmt = stmt.join(Customer, col(Customer.id) == col(Message.customer_id)).where(
            col(Customer.external_id) == customer
        )
    return [MessageOut.model_validate(m, from_attributes=True) for m in session.execute(stmt).scalars()]


@router.get("/messages/{message_id}", dependencies=[require("read")])
def get_message(message_id: RowId, session: SessionDep) -> MessageDetail:
    return detail(session, service.get(session, message_id))


@router.post("/messages/{message_id}/resolve")
def resolve(
    message_id: RowId, body: ResolveIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> MessageDetail:
    """A person's answer for a message in doubt after a crash: it was sent, send it again, or cancel it."""
    return detail(
        session, service.resolve_in_doubt(session, clock, message_id, outcome=body.outcome, actor=caller.actor)
    )
