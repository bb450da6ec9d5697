"""The message state machine (DESIGN.md section 4): claim -> send -> mark, retries, doubt, approval.

Every transition is a conditional UPDATE on the state it leaves, so two workers, a person and a
crash can never move one message twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlmodel import Session, col

from dunning import audit, failures
from dunning.channels.contract import ProviderReceipt, TransportError
from dunning.claims import backoff, skip_locked
from dunning.clock import Clock
from dunning.contacts.models import PRIMARY_KEY, Contact
from dunning.db import get_row
from dunning.errors import Conflict
from dunning.events.publish import new, publish, publish_all
from dunning.ledger.models import Customer
from dunning.outbox.models import (
    AWAITING_APPROVAL,
    CANCELLED,
    FAILED,
    IN_DOUBT,
    PENDING,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    Attempt,
    Message,
)
from dunning.tasks.service import open_task

SEND_LEASE = timedelta(minutes=10)  # far above any transport timeout: older "sending" rows are crashes


def _move(session: Session, message_id: int, from_states: tuple[str, ...], **values) -> bool:
    result = session.execute(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.status).in_(from_states))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def due_query(session: Session, now: datetime, limit: int) -> Select:
    """The sweep: queued messages whose time has come, soonest first (dunning/claims.py: how
    workers share them). The index ix_message_due holds them in this very order, so that a pick
    reads `limit` entries of it, however long the queue."""
    stmt = (
        select(col(Message.id))
        .where(col(Message.status) == QUEUED, col(Message.send_after) <= now)
        .order_by(col(Message.send_after), col(Message.id))
        .limit(limit)
    )
    return skip_locked(session, stmt)


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    return list(session.execute(due_query(session, now, limit)).scalars())


def pending(session: Session, limit: int) -> tuple[int, list]:
    """How many messages wait to be handed to a transport (planned, awaiting approval, queued),
    and the first `limit` of them, soonest first, with their customer's external id."""
    total = session.execute(select(func.count()).where(col(Message.status).in_(PENDING))).scalar_one()
    rows = session.execute(
        select(
            col(Message.id),
            col(Customer.external_id),
            col(Message.currency),
            col(Message.step_key),
            col(Message.kind),
            col(Message.channel),
            col(Message.status),
            col(Message.send_after),
            col(Message.amount_minor),
        )
        .join(Customer, col(Customer.id) == col(Message.customer_id))
        .where(col(Message.status).in_(PENDING))
        .order_by(col(Message.send_after), col(Message.id))
        .limit(limit)
    ).all()
    return total, rows


def next_due(session: Session) -> datetime | None:
    """When the first queued message may leave."""
    return session.execute(select(func.min(col(Message.send_after))).where(col(Message.status) == QUEUED)).scalar()


STORED = ("recipient", "recipients", "reply_token", "context", "subject", "body_text", "body_html", "pdf_path")
STORED_DEFAULTS = {"recipients": []}  # a column that is never null


def _held(session: Session, message_ids, worker: str) -> set[int]:
    return set(
        session.execute(
            select(col(Message.id)).where(
                col(Message.id).in_(list(message_ids)),
                col(Message.status) == SENDING,
                col(Message.claimed_by) == worker,
            )
        ).scalars()
    )


def claim(session: Session, clock: Clock, worker: str, message_ids: list[int]) -> set[int]:
    """queued -> sending for this worker, in one statement: nobody else will prepare or send them.
    Not an attempt yet: a crash before `hand_over` puts them back in the queue. Returns the ids
    this worker now holds (all of them, under the sweep's lock; asking keeps that an observation)."""
    if not message_ids:
        return set()
    now = clock.now()
    session.execute(
        update(Message)
        .where(col(Message.id).in_(message_ids), col(Message.status) == QUEUED)
        .values(status=SENDING, claimed_by=worker, claimed_at=now, attempts=col(Message.attempts) + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _held(session, message_ids, worker)


def store(session: Session, clock: Clock, worker: str, prepared: list[tuple[int, dict]]) -> set[int]:
    """Record exactly what will go out (the STORED columns) before it goes, in one statement.
    Returns the ids this worker still holds: a recovery may have taken back a slow worker's claim."""
    if not prepared:
        return set()
    table = Message.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("_id"), table.c.status == SENDING, table.c.claimed_by == worker)
        .values(updated_at=clock.now(), **{name: bindparam(f"_{name}") for name in STORED}),
        [
            {"_id": message_id, **{f"_{name}": stored.get(name, STORED_DEFAULTS.get(name)) for name in STORED}}
            for message_id, stored in prepared
        ],
    )
    return _held(session, [i for i, _ in prepared], worker)


def release(
    session: Session,
    clock: Clock,
    worker: str,
    message_id: int,
    status: str,
    why: str,
    send_after: datetime | None = None,
) -> bool:
    """A claimed message that is not going after all: cancelled, failed, or back in the queue
    until `send_after`. It was no attempt."""
    values = dict(
        status=status,
        last_error=why[:1000],
        claimed_by=None,
        claimed_at=None,
        attempts=col(Message.attempts) - 1,
        updated_at=clock.now(),
    )
    if send_after is not None:
        values["send_after"] = send_after
    result = session.execute(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.status) == SENDING, col(Message.claimed_by) == worker)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def hand_over(session: Session, clock: Clock, message_ids: list[int], worker: str) -> set[int]:
    """Open an attempt for each message about to reach a transport, for those this worker still
    holds (a recovery may have taken one back). Committed before the first of them is sent: after
    a crash, a message with an open attempt is in doubt, one without never left. A message has at
    most one open attempt, so its outcome closes it by message id. Returns the ids handed over."""
    if not message_ids:
        return set()
    now = clock.now()
    # Renewing claimed_at starts the lease again: it runs from the hand-over, not from the claim.
    held = list(
        session.execute(
            update(Message)
            .where(col(Message.id).in_(message_ids), col(Message.status) == SENDING, col(Message.claimed_by) == worker)
            .values(claimed_at=now)
            .returning(col(Message.id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if held:
        session.execute(
            insert(Attempt.__table__), [{"message_id": i, "worker": worker, "started_at": now} for i in held]
        )
    return set(held)


def cancel(session: Session, clock: Clock, message_id: int, why: str) -> bool:
    return _move(session, message_id, PENDING, status=CANCELLED, last_error=why, updated_at=clock.now())


def cancel_for_case(session: Session, clock: Clock, case_id: int, why: str, *, keep_kind: str | None = None) -> int:
    """keep_kind: messages of that kind stay (the customer's notice of an agency hand-off)."""
    stmt = select(col(Message.id)).where(col(Message.case_id) == case_id, col(Message.status).in_(PENDING))
    if keep_kind is not None:
        stmt = stmt.where(col(Message.kind) != keep_kind)
    return sum(cancel(session, clock, i, why) for i in list(session.execute(stmt).scalars()))


def _finish(session: Session, clock: Clock, message_id: int, outcome: str, error: str | None = None) -> None:
    session.execute(
        update(Attempt)
        .where(col(Attempt.message_id) == message_id, col(Attempt.finished_at).is_(None))
        .values(finished_at=clock.now(), outcome=outcome, error=error)
    )


def mark_sent(session: Session, clock: Clock, sent: list[tuple[int, ProviderReceipt]]) -> None:
    """(message id, receipt) of messages the transports took; two statements for all."""
    if not sent:
        return
    now = clock.now()
    message, attempt = Message.__table__, Attempt.__table__
    session.execute(
        # From in_doubt too: a recovery that gave up on a slow worker is answered by its receipt.
        update(message)
        .where(message.c.id == bindparam("_id"), (message.c.status == SENDING) | (message.c.status == IN_DOUBT))
        .values(
            status=SENT,
            sent_at=now,
            provider_id=bindparam("_provider_id"),
            segments=bindparam("_segments"),
            last_error=None,
            updated_at=now,
        ),
        [{"_id": m, "_provider_id": r.provider_id, "_segments": r.detail.get("segments")} for m, r in sent],
    )
    session.execute(
        update(attempt)
        .where(attempt.c.message_id == bindparam("_id"), attempt.c.finished_at.is_(None))
        .values(finished_at=now, outcome=SENT),
        [{"_id": m} for m, _ in sent],
    )
    publish_for(session, clock, "message.sent", {m: {"provider_id": r.provider_id} for m, r in sent})


def mark_error(session: Session, clock: Clock, message: Message, error: TransportError, max_attempts: int) -> str:
    """Uncertain: in doubt. Retryable: back to queued with exponential backoff, until the attempts
    run out. Permanent: failed, and a bad address makes the contact invalid."""
    now = clock.now()
    text = f"{error.code or ''} {error}".strip()[:1000]
    if error.uncertain:
        _move(session, message.id, (SENDING,), status=IN_DOUBT, last_error=text, updated_at=now)
        _finish(session, clock, message.id, IN_DOUBT, text)
        _doubt(session, clock, message, f"the {message.channel} provider may have taken it before the error: {text}")
        return IN_DOUBT
    if not error.permanent and message.attempts < max_attempts:
        _move(
            session,
            message.id,
            (SENDING,),
            status=QUEUED,
            send_after=now + backoff(message.attempts),
            last_error=text,
            updated_at=now,
        )
        _finish(session, clock, message.id, "retry", text)
        return QUEUED
    _move(session, message.id, (SENDING,), status=FAILED, last_error=text, updated_at=now)
    _finish(session, clock, message.id, "failed", text)
    publish_for(session, clock, "message.failed", {message.id: {"error": text}})
    if error.permanent and error.recipient:
        mark_contact_invalid(session, clock, message, text, error.address)
    else:
        why = "was refused" if error.permanent else f"failed after {message.attempts} attempts"
        open_task(
            session,
            clock,
            kind="review",
            key=f"failed:{message.id}",
            customer_id=message.customer_id,
            case_id=message.case_id,
            message_id=message.id,
            title=f"{message.channel} message {message.id} {why}",
            detail=text,
        )
    return FAILED


def fail_unsendable(session: Session, clock: Clock, worker: str, message: Message, error: Exception) -> None:
    """Re-checking, rendering or storing it raised: it cannot go as it is; the team sees why."""
    if release(session, clock, worker, message.id, FAILED, failures.describe(error)):
        publish_for(session, clock, "message.failed", {message.id: {"error": failures.describe(error)}})
    failures.record(
        session,
        clock,
        "dispatch",
        error,
        customer_id=message.customer_id,
        case_id=message.case_id,
        message_id=message.id,
    )


def mark_contact_invalid(
    session: Session, clock: Clock, message: Message, why: str, address: str | None = None
) -> list[Contact]:
    """The contacts the message was written to at `address` (all it was written to when no
    address is named: a text or a letter has one) are marked invalid on its channel; one task
    per contact and channel. A message from before contacts were kept names none: the primary."""
    customer = session.get(Customer, message.customer_id)
    marked = written_to(session, message, address)
    for contact in marked:
        if message.channel not in contact.invalid_channels:
            contact.invalid_channels = [*contact.invalid_channels, message.channel]
            contact.updated_at = clock.now()
            session.add(contact)
        who = contact.name if contact.name and contact.name != customer.name else None
        open_task(
            session,
            clock,
            kind="contact_invalid",
            key=f"invalid:{contact.id}:{message.channel}",
            customer_id=message.customer_id,
            case_id=message.case_id,
            message_id=message.id,
            title=(
                f"{message.channel} contact of {customer.name}"
                + (f" ({who})" if who else "")
                + " is invalid; find a new one"
            )[:300],
            detail=why,
        )
        audit.record(
            session,
            clock,
            actor="system",
            action="contact.invalid",
            subject_type="customer",
            subject_id=customer.external_id,
            contact=contact.external_id,
            channel=message.channel,
            message_id=message.id,
            error=why,
        )
    session.flush()
    return marked


def written_to(session: Session, message: Message, address: str | None = None) -> list[Contact]:
    """The contacts a message went to (at `address`, when named: a bounce or a refusal names one)."""
    entries = [r for r in message.recipients if address is None or (r.get("address") or "").lower() == address.lower()]
    if address is None:
        entries = [r for r in entries if r.get("as") == "to"]
    ids = [r["contact_id"] for r in entries]
    if not message.recipients:
        primary = (
            session.execute(
                select(Contact).where(
                    col(Contact.customer_id) == message.customer_id, col(Contact.external_id) == PRIMARY_KEY
                )
            )
            .scalars()
            .all()
        )
        return [
            c for c in primary if address is None or (c.address_for(message.channel) or "").lower() == address.lower()
        ]
    return (
        list(session.execute(select(Contact).where(col(Contact.id).in_(ids)).order_by(col(Contact.id))).scalars())
        if ids
        else []
    )


def _doubt(session: Session, clock: Clock, message: Message, why: str) -> None:
    open_task(
        session,
        clock,
        kind="in_doubt",
        key=f"in_doubt:{message.id}",
        customer_id=message.customer_id,
        case_id=message.case_id,
        message_id=message.id,
        title=f"{message.channel} message {message.id} may or may not have been sent",
        detail=f"{why}. Check with the provider, then mark it sent, send it again or cancel it",
    )
    audit.record(
        session,
        clock,
        actor="system",
        action="message.in_doubt",
        subject_type="message",
        subject_id=message.id,
        claimed_by=message.claimed_by,
        why=why,
    )
    publish_for(session, clock, "message.in_doubt", {message.id: {"why": why}})


@dataclass
class Recovered:
    in_doubt: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def recover_stale(session: Session, clock: Clock, lease: timedelta = SEND_LEASE) -> Recovered:
    """Messages still `sending` long after their claim belong to a worker that died. Those it had
    handed to a transport (an attempt without an outcome) may or may not have left: in doubt, never
    sent again without a person deciding. Those it had only claimed never left: queued again."""
    now = clock.now()
    stale = list(
        session.execute(
            select(Message).where(col(Message.status) == SENDING, col(Message.claimed_at) < now - lease)
        ).scalars()
    )
    found = Recovered()
    if not stale:
        return found
    handed = set(
        session.execute(
            select(col(Attempt.message_id)).where(
                col(Attempt.message_id).in_([m.id for m in stale]), col(Attempt.finished_at).is_(None)
            )
        ).scalars()
    )
    for message in stale:
        if message.id not in handed:
            if _move(
                session,
                message.id,
                (SENDING,),
                status=QUEUED,
                attempts=col(Message.attempts) - 1,
                claimed_by=None,
                claimed_at=None,
                updated_at=now,
                last_error=f"claimed by {message.claimed_by}, which stopped before sending it",
            ):
                found.requeued.append(message.id)
            continue
        if not _move(session, message.id, (SENDING,), status=IN_DOUBT, updated_at=now):
            continue
        session.execute(
            update(Attempt)
            .where(col(Attempt.message_id) == message.id, col(Attempt.finished_at).is_(None))
            .values(finished_at=now, outcome=IN_DOUBT)
        )
        _doubt(
            session,
            clock,
            message,
            f"handed to a transport by {message.claimed_by} at "
            f"{message.claimed_at:%Y-%m-%d %H:%M} UTC and never confirmed",
        )
        found.in_doubt.append(message.id)
    return found


def publish_for(session: Session, clock: Clock, event_type: str, details: dict[int, dict]) -> None:
    """One `event_type` event per message id in `details`: the message's case, customer, channel and
    kind, with the details given for it. One query for all of them."""
    if not details:
        return
    rows = session.execute(
        select(
            col(Message.id),
            col(Message.case_id),
            col(Message.customer_id),
            col(Message.channel),
            col(Message.kind),
            col(Customer.external_id),
        )
        .join(Customer, col(Customer.id) == col(Message.customer_id))
        .where(col(Message.id).in_(list(details)))
        .order_by(col(Message.id))
    ).all()
    publish_all(
        session,
        [
            new(
                clock,
                event_type,
                customer_id=customer_id,
                case_id=case_id,
                message_id=message_id,
                customer=customer,
                channel=channel,
                kind=kind,
                **details[message_id],
            )
            for message_id, case_id, customer_id, channel, kind, customer in rows
        ],
    )


def get(session: Session, message_id: int) -> Message:
    return get_row(session, Message, message_id, "message")


def answer_approval(
    session: Session, clock: Clock, message_id: int, *, approve: bool, actor: str, note: str | None
) -> list[Message]:
    """One decision for the whole step: the registered letter and its copy by email, or the agency
    file and the customer's notice, go together or not at all. A rejection puts the case on hold
    for review: the cases layer reacts to `approval.decided` (dunning/subscriptions.py)."""
    message = get(session, message_id)
    if message.status != AWAITING_APPROVAL:
        raise Conflict(f"message {message_id} is {message.status}, not awaiting approval")
    siblings = [message]
    if message.case_id is not None and message.step_index is not None:
        siblings = list(
            session.execute(
                select(Message).where(
                    col(Message.case_id) == message.case_id,
                    col(Message.path_name) == message.path_name,
                    col(Message.step_index) == message.step_index,
                    col(Message.status) == AWAITING_APPROVAL,
                )
            ).scalars()
        )
    now = clock.now()
    decided = []
    for m in siblings:
        values = dict(decided_by=actor, decided_at=now, decision_note=note, updated_at=now)
        values |= dict(status=QUEUED, send_after=max(m.send_after, now)) if approve else dict(status=REJECTED)
        if _move(session, m.id, (AWAITING_APPROVAL,), **values):
            decided.append(m)
        audit.record(
            session,
            clock,
            actor=actor,
            action="message.approved" if approve else "message.rejected",
            subject_type="message",
            subject_id=m.id,
            note=note,
            kind=m.kind,
            channel=m.channel,
            case_id=m.case_id,
        )
    if decided:
        customer = session.get(Customer, message.customer_id)
        publish(
            session,
            clock,
            "approval.decided",
            customer_id=customer.id,
            case_id=message.case_id,
            customer=customer.external_id,
            step=message.step_key,
            kind=message.kind,
            message_ids=[m.id for m in decided],
            decision="approved" if approve else "rejected",
            by=actor,
            note=note,
        )
    for m in siblings:
        session.refresh(m)
    return siblings


def resolve_in_doubt(session: Session, clock: Clock, message_id: int, *, outcome: str, actor: str) -> Message:
    """A person's answer for a message in doubt: it was `sent`, `resend` it, or `cancel` it."""
    message = get(session, message_id)
    now = clock.now()
    values = {
        "sent": dict(status=SENT, sent_at=message.claimed_at),
        "resend": dict(status=QUEUED, send_after=now),
        "cancel": dict(status=CANCELLED),
    }[outcome]
    if not _move(session, message_id, (IN_DOUBT,), decided_by=actor, decided_at=now, updated_at=now, **values):
        raise Conflict(f"message {message_id} is {message.status}, not in doubt")
    audit.record(
        session, clock, actor=actor, action=f"message.in_doubt_{outcome}", subject_type="message", subject_id=message_id
    )
    if outcome == "sent":  # a person confirmed it went out
        publish_for(session, clock, "message.sent", {message_id: {"provider_id": message.provider_id}})
    session.refresh(message)
    return message
