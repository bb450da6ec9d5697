"""The message state machine (DESIGN.md section 4): claim -> send -> mark, retries, doubt, approval.

Every transition is a conditional UPDATE on the state it leaves, so two workers, a person and a
crash can never move one message twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session

from dunning import audit
from dunning.clock import Clock
from dunning.channels.base import ProviderReceipt, TransportError
from dunning.errors import Conflict, NotFound
from dunning.ledger.models import Customer
from dunning.outbox.models import (AWAITING_APPROVAL, CANCELLED, FAILED, IN_DOUBT, PENDING, QUEUED, REJECTED,
                                   SENDING, SENT, Attempt, Message)
from dunning.tasks.service import open_task

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
SEND_LEASE = timedelta(minutes=10)  # far above any transport timeout: older "sending" rows are crashes


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def _move(session: Session, message_id: int, from_states: tuple[str, ...], **values) -> bool:
    result = session.execute(update(Message).where(Message.id == message_id, Message.status.in_(from_states))
                             .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """The sweep: queued messages whose time has come. Locked on PostgreSQL so that other workers
    skip them; on SQLite the transaction already holds the only write lock."""
    stmt = (select(Message.id).where(Message.status == QUEUED, Message.send_after <= now)
            .order_by(Message.send_after, Message.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.execute(stmt).scalars())


def start_sending(session: Session, clock: Clock, message: Message, worker: str) -> Attempt | None:
    now = clock.now()
    if not _move(session, message.id, (QUEUED,), status=SENDING, claimed_by=worker, claimed_at=now,
                 attempts=Message.attempts + 1, updated_at=now):
        return None
    attempt = Attempt(message_id=message.id, worker=worker, started_at=now)
    session.add(attempt)
    session.flush()
    return attempt


def postpone(session: Session, clock: Clock, message_id: int, until: datetime, why: str) -> None:
    _move(session, message_id, (QUEUED,), send_after=until, last_error=why, updated_at=clock.now())


def cancel(session: Session, clock: Clock, message_id: int, why: str) -> bool:
    return _move(session, message_id, PENDING, status=CANCELLED, last_error=why, updated_at=clock.now())


def cancel_for_case(session: Session, clock: Clock, case_id: int, why: str) -> int:
    ids = session.execute(select(Message.id).where(Message.case_id == case_id, Message.status.in_(PENDING))).scalars()
    return sum(cancel(session, clock, i, why) for i in list(ids))


def _finish(session: Session, clock: Clock, attempt_id: int, outcome: str, error: str | None = None) -> None:
    session.execute(update(Attempt).where(Attempt.id == attempt_id)
                    .values(finished_at=clock.now(), outcome=outcome, error=error))


def mark_sent(session: Session, clock: Clock, message_id: int, attempt_id: int, receipt: ProviderReceipt) -> bool:
    now = clock.now()
    moved = _move(session, message_id, (SENDING,), status=SENT, sent_at=now, provider_id=receipt.provider_id,
                  segments=receipt.detail.get("segments"), last_error=None, updated_at=now)
    _finish(session, clock, attempt_id, "sent")
    return moved


def mark_error(session: Session, clock: Clock, message: Message, attempt_id: int, error: TransportError,
               max_attempts: int) -> str:
    """Retryable: back to queued with exponential backoff, until the attempts run out."""
    now = clock.now()
    text = f"{error.code or ''} {error}".strip()[:1000]
    if not error.permanent and message.attempts < max_attempts:
        _move(session, message.id, (SENDING,), status=QUEUED, send_after=now + backoff(message.attempts),
              last_error=text, updated_at=now)
        _finish(session, clock, attempt_id, "retry", text)
        return QUEUED
    _move(session, message.id, (SENDING,), status=FAILED, last_error=text, updated_at=now)
    _finish(session, clock, attempt_id, "failed", text)
    if error.permanent:
        mark_contact_invalid(session, clock, message, text)
    else:
        open_task(session, clock, kind="review", key=f"failed:{message.id}", customer_id=message.customer_id,
                  case_id=message.case_id, message_id=message.id,
                  title=f"{message.channel} message {message.id} failed after {message.attempts} attempts",
                  detail=text)
    return FAILED


def fail_unsendable(session: Session, clock: Clock, message: Message, why: str) -> None:
    """Rendering or re-checking raised: nothing left; the team sees why."""
    now = clock.now()
    _move(session, message.id, (QUEUED,), status=FAILED, last_error=why[:1000], updated_at=now)
    open_task(session, clock, kind="review", key=f"failed:{message.id}", customer_id=message.customer_id,
              case_id=message.case_id, message_id=message.id,
              title=f"{message.channel} message {message.id} could not be prepared", detail=why)


def mark_contact_invalid(session: Session, clock: Clock, message: Message, why: str) -> None:
    customer = session.get(Customer, message.customer_id)
    if message.channel not in customer.invalid_channels:
        customer.invalid_channels = [*customer.invalid_channels, message.channel]
        session.add(customer)
    open_task(session, clock, kind="contact_invalid", key=f"invalid:{message.customer_id}:{message.channel}",
              customer_id=message.customer_id, case_id=message.case_id, message_id=message.id,
              title=f"{message.channel} contact of {customer.name} is invalid; find a new one", detail=why)
    audit.record(session, clock, actor="system", action="contact.invalid", subject_type="customer",
                 subject_id=customer.external_id, channel=message.channel, message_id=message.id, error=why)


def recover_in_doubt(session: Session, clock: Clock, lease: timedelta = SEND_LEASE) -> list[int]:
    """A message still `sending` long after its claim belongs to a worker that died mid-send: it may
    or may not have left. It is never sent again without a person deciding."""
    now = clock.now()
    stale = list(session.execute(select(Message).where(Message.status == SENDING,
                                                       Message.claimed_at < now - lease)).scalars())
    moved = []
    for message in stale:
        if not _move(session, message.id, (SENDING,), status=IN_DOUBT, updated_at=now):
            continue
        session.execute(update(Attempt).where(Attempt.message_id == message.id, Attempt.finished_at.is_(None))
                        .values(finished_at=now, outcome=IN_DOUBT))
        open_task(session, clock, kind="in_doubt", key=f"in_doubt:{message.id}", customer_id=message.customer_id,
                  case_id=message.case_id, message_id=message.id,
                  title=f"{message.channel} message {message.id} may or may not have been sent",
                  detail=f"claimed by {message.claimed_by} at {message.claimed_at:%Y-%m-%d %H:%M} UTC and never "
                         "confirmed; check with the provider, then mark it sent, send it again or cancel it")
        audit.record(session, clock, actor="system", action="message.in_doubt", subject_type="message",
                     subject_id=message.id, claimed_by=message.claimed_by)
        moved.append(message.id)
    return moved


def get(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message


def decide_approval(session: Session, clock: Clock, message_id: int, *, approve: bool, actor: str,
                    note: str | None) -> list[Message]:
    """One decision for the whole step: the registered letter and its copy by email, or the agency
    file and the customer's notice, go together or not at all."""
    message = get(session, message_id)
    if message.status != AWAITING_APPROVAL:
        raise Conflict(f"message {message_id} is {message.status}, not awaiting approval")
    siblings = [message]
    if message.case_id is not None and message.step_index is not None:
        siblings = list(session.execute(select(Message).where(
            Message.case_id == message.case_id, Message.path_name == message.path_name,
            Message.step_index == message.step_index, Message.status == AWAITING_APPROVAL)).scalars())
    now = clock.now()
    for m in siblings:
        values = dict(decided_by=actor, decided_at=now, decision_note=note, updated_at=now)
        values |= dict(status=QUEUED, send_after=max(m.send_after, now)) if approve else dict(status=REJECTED)
        _move(session, m.id, (AWAITING_APPROVAL,), **values)
        audit.record(session, clock, actor=actor, action="message.approved" if approve else "message.rejected",
                     subject_type="message", subject_id=m.id, note=note, kind=m.kind, channel=m.channel,
                     case_id=m.case_id)
    if not approve and message.case_id is not None:
        # a person said no to this step: the case must not slide on to an even heavier one
        from dunning.cases.service import hold_for_review

        hold_for_review(session, clock, message.case_id, actor,
                        f"step {message.step_key} ({message.kind}) was rejected" + (f": {note}" if note else ""))
    for m in siblings:
        session.refresh(m)
    return siblings


def resolve_in_doubt(session: Session, clock: Clock, message_id: int, *, outcome: str, actor: str) -> Message:
    """A person's answer for a message in doubt: it was `sent`, `resend` it, or `cancel` it."""
    message = get(session, message_id)
    now = clock.now()
    values = {"sent": dict(status=SENT, sent_at=message.claimed_at),
              "resend": dict(status=QUEUED, send_after=now),
              "cancel": dict(status=CANCELLED)}[outcome]
    if not _move(session, message_id, (IN_DOUBT,), decided_by=actor, decided_at=now, updated_at=now, **values):
        raise Conflict(f"message {message_id} is {message.status}, not in doubt")
    audit.record(session, clock, actor=actor, action=f"message.in_doubt_{outcome}", subject_type="message",
                 subject_id=message_id)
    session.refresh(message)
    return message
