"""A bounce of one of our emails, acted on: never read as a reply.

The bounced message is found by the returned Message-ID (what the SMTP transport stored as the
message's provider id), else by the reply token of the returned Reply-To, else by the failed
address among the emails we sent. Only the first two act by themselves: anybody can write a
notice naming an address, nobody outside can quote our random Message-ID or token. Then, per
failure (bounces.py classes them):
- the address does not exist: the email of the contact(s) written to at that address is marked
  invalid exactly as a refusal at SMTP time marks it (outbox.service.mark_contact_invalid: one
  task, one audit event); the customer's other contacts are still written to, and when none has
  an email left the messages still queued are cancelled, their steps planned again on what is left;
- refused for another reason (spam filter, full mailbox): the address may be fine, one task for
  a person;
- delayed: the sending server is still trying, nothing to do.
A bounce that matches nothing of ours becomes one task. Provider retries change nothing: every
task has a key and an address already marked invalid is left as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import audit
from dunning.cases.service import rewind_undelivered_step
from dunning.clock import Clock
from dunning.config import Settings
from dunning.contacts.models import Contact
from dunning.ledger.models import Customer
from dunning.outbox import service as outbox_service
from dunning.outbox.models import PENDING, SENT, Message
from dunning.replies.bounces import ADDRESS, DELAYED, REFUSED, Bounce, Failure
from dunning.replies.mail import InboundMail, extract_reply_token
from dunning.tasks.models import Task
from dunning.tasks.service import open_task

BOUNCED = "bounced"  # Message.delivery_status of a sent email that came back


def receive_bounce(
    session: Session, clock: Clock, settings: Settings, mail: InboundMail, bounce: Bounce
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bounce": True,
        "failures": [{"recipient": f.recipient, "kind": f.kind, "status": f.status} for f in bounce.failures],
    }
    if not bounce.failures:
        return {**out, "action": "nothing_to_do"}  # a report that something was delivered or relayed
    message, matched_by = _bounced_message(session, settings, bounce)
    if message is None:
        task = open_task(
            session,
            clock,
            kind="review",
            key=f"bounce:{mail.message_id or _summary(bounce)[:200]}",
            title="A bounce that matches no email we sent",
            detail=f"From {mail.from_address or '(no sender)'}, subject: {mail.subject}\n\n{_summary(bounce)}",
        )
        return {**out, "action": "unmatched", "task_id": task.id}
    customer = session.get(Customer, message.customer_id)
    failure = _failure_for(bounce, message, customer)
    out.update(message_id=message.id, customer_id=customer.id, matched_by=matched_by)
    if failure is None or failure.kind == DELAYED:
        audit.record(
            session,
            clock,
            actor="system",
            action="email.delayed",
            subject_type="customer",
            subject_id=customer.external_id,
            message_id=message.id,
            reason=_summary(bounce)[:500],
        )
        return {**out, "action": "delayed"}
    message.delivery_status, message.last_error = BOUNCED, failure.reason[:1000]
    message.updated_at = clock.now()
    session.add(message)
    outbox_service.publish_for(
        session, clock, "message.failed", {message.id: {"error": f"bounced: {failure.reason}"[:1000]}}
    )
    ours = matched_by != "recipient"  # our Message-ID or reply token: nobody outside could have made it up
    # the contacts written to at that address that still have it
    holders = [
        c
        for c in outbox_service.written_to(session, message, failure.recipient)
        if (c.email or "").lower() == failure.recipient
    ]
    if failure.kind == ADDRESS and ours and holders:
        return {**out, **_invalid(session, clock, customer, message, failure, holders)}
    # Refused for another reason, an address the customer no longer has, or a notice anyone could
    # have written (it names the address but not our message): a person decides.
    why = (
        "the address is kept"
        if failure.kind != ADDRESS
        else "the address is no longer the customer's"
        if not holders
        else "the notice does not quote our message, so the address is kept until someone checks"
    )
    key = f"bounce:{message.id}"
    new = _task(session, key) is None
    task = open_task(
        session,
        clock,
        kind="review",
        key=key,
        customer_id=customer.id,
        case_id=message.case_id,
        message_id=message.id,
        title=f"Email to {customer.name} came back: {failure.reason}"[:300],
        detail=f"{failure.recipient}: {failure.reason}\n\nNot delivered; {why}.",
    )
    if new:
        audit.record(
            session,
            clock,
            actor="system",
            action="email.refused",
            subject_type="customer",
            subject_id=customer.external_id,
            message_id=message.id,
            reason=failure.reason,
        )
    return {**out, "action": "refused", "task_id": task.id}


def _invalid(
    session: Session, clock: Clock, customer: Customer, message: Message, failure: Failure, holders: list[Contact]
) -> dict:
    if all("email" in c.invalid_channels for c in holders):
        return {"action": "already_invalid"}
    marked = outbox_service.mark_contact_invalid(
        session, clock, message, f"bounced: {failure.recipient}: {failure.reason}", failure.recipient
    )
    writable = [
        c
        for c in session.execute(
            select(Contact).where(col(Contact.customer_id) == customer.id, col(Contact.email).is_not(None))
        ).scalars()
        if "email" not in c.invalid_channels
    ]
    # Queued emails are addressed again when they leave (another contact may still have an
    # address); with none left they go now, and their steps are planned again without email.
    pending = (
        []
        if writable
        else session.execute(
            select(Message).where(
                col(Message.customer_id) == customer.id,
                col(Message.channel) == "email",
                col(Message.status).in_(PENDING),
            )
        )
        .scalars()
        .all()
    )
    cancelled = 0
    for queued in pending:
        if outbox_service.cancel(session, clock, queued.id, f"the address {failure.recipient} bounced"):
            cancelled += 1
            if queued.case_id is not None and queued.step_index is not None:
                rewind_undelivered_step(session, clock, queued.case_id, queued.path_name, queued.step_index)
    task = _task(session, f"invalid:{marked[0].id}:email")  # the one mark_contact_invalid opened
    return {
        "action": "contact_invalid",
        "contacts": [c.external_id for c in marked],
        "cancelled": cancelled,
        "task_id": task.id if task else None,
    }


def _task(session: Session, key: str) -> Task | None:
    return session.execute(select(Task).where(col(Task.key) == key)).scalar_one_or_none()


def _bounced_message(session: Session, settings: Settings, bounce: Bounce) -> tuple[Message | None, str | None]:
    for message_id in bounce.original_message_ids:
        message = (
            session.execute(
                select(Message).where(col(Message.provider_id) == message_id, col(Message.channel) == "email")
            )
            .scalars()
            .first()
        )
        if message is not None:
            return message, "message_id"
    mailbox = settings.smtp_from_address.partition("@")[0].partition("+")[0] or None
    token = extract_reply_token(bounce.original_addresses, mailbox=mailbox)
    if token:
        message = session.execute(select(Message).where(col(Message.reply_token) == token)).scalars().first()
        if message is not None:
            return message, "reply_token"
    for failure in bounce.failures:
        message = session.execute(
            select(Message)
            .where(
                col(Message.channel) == "email",
                col(Message.status) == SENT,
                func.lower(col(Message.recipient)) == failure.recipient,
            )
            .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
            .limit(1)
        ).scalar_one_or_none()
        if message is not None:
            return message, "recipient"
    return None, None


def _failure_for(bounce: Bounce, message: Message, customer: Customer) -> Failure | None:
    """The failure about the address we sent to (a forwarding chain may name another one last);
    the most serious when the report does not say which."""
    ours = {(r.get("address") or "").lower() for r in message.recipients} | {
        a.lower() for a in (message.recipient, customer.email) if a
    }
    about_ours = [f for f in bounce.failures if f.recipient in ours] or list(bounce.failures)
    for kind in (ADDRESS, REFUSED, DELAYED):
        for failure in about_ours:
            if failure.kind == kind:
                return failure
    return None


def _summary(bounce: Bounce) -> str:
    return "\n".join(f"{f.recipient}: {f.kind}, {f.reason}" for f in bounce.failures)
