"""Reading a case for people, and the team's per-customer dunning settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import audit, failures
from dunning.cases.cycle import CaseRow, Cycle
from dunning.cases.events import publish_for_case
from dunning.cases.models import ACTIVE, PAUSED, Case, stored_id
from dunning.cases.next_step import next_step
from dunning.cases.schemas import CaseOut, DunningSettingsIn, NextStep
from dunning.clock import Clock, FrozenClock
from dunning.config import Settings
from dunning.db import get_row
from dunning.errors import Conflict, NotFound
from dunning.events.publish import Event
from dunning.ledger.models import Customer
from dunning.ledger.queries import get_customer
from dunning.outbox.models import CANCELLED, FAILED, PENDING, REJECTED, SENDING, SENT, Message
from dunning.outbox.schemas import MessageOut
from dunning.policies import service as policy_service
from dunning.policies.document import Policy
from dunning.policies.engine import CaseView
from dunning.tasks.service import open_task

UNDELIVERED = (CANCELLED, FAILED, REJECTED)


def case_detail(
    session: Session, clock: Clock, settings: Settings, external_id: str, currency: str | None = None
) -> list[CaseOut]:
    customer = get_customer(session, external_id)
    out = []
    nested = session.begin_nested()  # deciding may open a case: a reader must not write
    try:
        cycle = Cycle(session, clock, settings)
        found = {case.id: (case, view, policy) for case, _c, view, policy, _r in cycle.views({stored_id(customer)})}
        broken = {case.id: error for _, case, error in cycle.failures if case is not None}
        cases = session.execute(
            select(Case).where(col(Case.customer_id) == customer.id).order_by(col(Case.currency))
        ).scalars()
        for case in cases:
            if currency and case.currency != currency:
                continue
            messages = list(
                session.execute(
                    select(Message)
                    .where(col(Message.case_id) == case.id)
                    .order_by(col(Message.send_after), col(Message.id))
                ).scalars()
            )
            waiting = [m for m in messages if m.status in (*PENDING, SENDING)]
            nxt = _next_step(found.get(case.id), broken.get(case.id), clock, waiting)
            out.append(
                CaseOut(
                    id=case.id,
                    currency=case.currency,
                    state=case.state,
                    episode=case.episode,
                    opened_at=case.opened_at,
                    closed_at=case.closed_at,
                    policy_name=case.policy_name,
                    policy_version=case.policy_version,
                    band=case.band,
                    risk=case.risk,
                    path=case.path_name,
                    current_step=case.step_key,
                    current_step_name=case.step_name or case.step_key,
                    current_step_at=case.step_at,
                    anchor_due_on=case.anchor_due_on,
                    paused_until=case.paused_until,
                    pause_reason=case.pause_reason,
                    next=nxt,
                    messages=[MessageOut.model_validate(m, from_attributes=True) for m in messages],
                )
            )
    finally:
        nested.rollback()
    if not out:
        raise NotFound(f"customer '{external_id}' has no case" + (f" in {currency}" if currency else ""))
    return out


def _next_step(
    decidable: tuple[CaseRow, CaseView, Policy] | None, error: Exception | None, clock: Clock, waiting: list[Message]
) -> NextStep:
    """What comes next (cases/next_step.py); a case the engine cannot decide shows why instead of
    failing the page."""
    if decidable is not None:
        _, view, policy = decidable
        try:
            return next_step(view, policy, clock.now(), waiting)
        except Exception as e:
            error = e
    if error is not None:
        return NextStep(
            step=None,
            kind=None,
            due_on=None,
            error=failures.describe(error),
            why="the engine cannot decide this case: the cycle leaves it as it is until its data is corrected",
        )
    return NextStep(step=None, kind=None, due_on=None, summary="nothing is owed", why="nothing is owed")


def update_settings(
    session: Session, clock: Clock, external_id: str, change: DunningSettingsIn, actor: str
) -> Customer:
    customer = get_customer(session, external_id)
    given = change.model_dump(exclude_unset=True)
    note = given.pop("note", None)
    if "policy_name" in given and given["policy_name"]:
        policy_service.policy_for(session, given["policy_name"])  # refuses an unknown policy
    before = {k: getattr(customer, k) for k in given}
    for key, value in given.items():
        setattr(
            customer,
            key,
            value if value is not None or key in ("policy_name", "hold_until") else getattr(customer, key),
        )
    session.add(customer)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action="customer.dunning_settings",
        subject_type="customer",
        subject_id=external_id,
        before={k: str(v) for k, v in before.items()},
        after={k: str(getattr(customer, k)) for k in given},
        note=note,
    )
    return customer


def get_case(session: Session, case_id: int) -> Case:
    return get_row(session, Case, case_id, "case")


def pause(session: Session, clock: Clock, case_id: int, *, reason: str, until: datetime | None, actor: str) -> Case:
    case = get_case(session, case_id)
    if case.state not in (ACTIVE, PAUSED):
        raise Conflict(f"case {case_id} is {case.state}: only an active case can be paused")
    case.state, case.pause_reason, case.paused_until, case.updated_at = PAUSED, reason, until, clock.now()
    session.add(case)
    audit.record(
        session,
        clock,
        actor=actor,
        action="case.paused",
        subject_type="case",
        subject_id=case_id,
        reason=reason,
        until=until.isoformat() if until else None,
    )
    publish_for_case(session, clock, "case.paused", case, reason=reason, until=until, by=actor)
    return case


def resume(session: Session, clock: Clock, case_id: int, *, actor: str, why: str) -> Case:
    case = get_case(session, case_id)
    if case.state != PAUSED:
        raise Conflict(f"case {case_id} is {case.state}, not paused")
    case.state, case.pause_reason, case.paused_until, case.updated_at = ACTIVE, None, None, clock.now()
    session.add(case)
    audit.record(session, clock, actor=actor, action="case.resumed", subject_type="case", subject_id=case_id, why=why)
    publish_for_case(session, clock, "case.resumed", case, why=why, by=actor)
    return case


def on_approval_decided(session: Session, decided: Event) -> None:
    """A person said no to a step (`approval.decided`, rejected): the case must not slide on to an
    even heavier one, so it waits for someone to decide what comes next."""
    if decided.data["decision"] != "rejected" or decided.case_id is None:
        return
    step_name = session.execute(
        select(col(Message.step_name)).where(col(Message.id) == decided.data["message_ids"][0])
    ).scalar()
    note = decided.data["note"]
    hold_for_review(
        session,
        FrozenClock(decided.occurred_at),  # the reaction is part of the change, at its moment
        decided.case_id,
        decided.data["by"],
        f"{step_name or decided.data['step']} ({decided.data['kind'].replace('_', ' ')}) was rejected"
        + (f": {note}" if note else ""),
    )


def hold_for_review(session: Session, clock: Clock, case_id: int, actor: str, why: str) -> None:
    case = pause(session, clock, case_id, reason="review", until=None, actor=actor)
    open_task(
        session,
        clock,
        kind="review",
        key=f"review:{case_id}:{case.episode}:{case.step_index}",
        customer_id=case.customer_id,
        case_id=case_id,
        title=f"Decide the next step for case {case_id}",
        detail=why + ". The case is paused until someone resumes it.",
    )


def rewind_undelivered_step(
    session: Session, clock: Clock, case_id: int, path_name: str | None, step_index: int
) -> bool:
    """A step none of whose messages went out (every one cancelled or failed for good, e.g. the
    customer said STOP in between) did not happen: the case goes back one step so the cycle plans it
    again with what is left (another channel, or a call task). Otherwise the next step would follow
    a notice the customer never got."""
    case = session.get(Case, case_id)
    if case is None or case.state != ACTIVE or case.path_name != path_name or case.step_index != step_index:
        return False
    siblings = (
        session.execute(
            select(col(Message.status)).where(
                col(Message.case_id) == case_id,
                col(Message.path_name) == path_name,
                col(Message.step_index) == step_index,
                col(Message.dedupe_key).startswith(f"{case_id}:{case.episode}:"),
            )
        )
        .scalars()
        .all()
    )
    if any(status not in UNDELIVERED for status in siblings):
        return False
    policy = policy_service.policy_for(
        session, None if case.policy_name == policy_service.DEFAULT else case.policy_name
    )
    path = policy.paths.get(path_name) if path_name is not None else None
    previous = path.steps[step_index - 1] if path is not None and step_index > 0 else None
    case.step_index = step_index - 1
    case.step_key = previous.key if previous else None
    case.step_name = previous.name if previous else None
    case.step_after_days = previous.after_days if previous else None
    # spacing counts from the last contact that happened, not from the one that did not
    case.step_at = session.execute(
        select(func.max(col(Message.sent_at))).where(
            col(Message.case_id) == case_id,
            col(Message.status) == SENT,
            col(Message.dedupe_key).startswith(f"{case_id}:{case.episode}:"),
        )
    ).scalar()
    case.fingerprint, case.updated_at = None, clock.now()
    session.add(case)
    audit.record(
        session,
        clock,
        actor="dispatch",
        action="case.step_rewound",
        subject_type="case",
        subject_id=case_id,
        step_index=step_index,
        why="no message of the step went out",
    )
    return True
