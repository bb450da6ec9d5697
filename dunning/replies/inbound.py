"""From a provider's webhook to a handled reply: SMS from Twilio, raw MIME mail from an inbound-mail
provider, and Twilio's delivery reports for what we sent."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from dunning.clock import Clock
from dunning.config import Settings
from dunning.contacts import opt_out
from dunning.inputs import storable
from dunning.outbox.models import Message
from dunning.outbox.service import mark_contact_invalid, publish_for, written_to
from dunning.replies import matching, service, trust, undelivered
from dunning.replies.mail import parse_inbound
from dunning.replies.twilio import FormParams, twiml

EMAIL_SIGNATURE_HEADER = "X-Dunning-Signature"

# Twilio's message statuses in the order they can happen; a late callback never moves a message back.
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "read": 4,
}
# Final delivery errors about the number itself (not the content or the carrier's mood).
DEAD_NUMBER_CODES = {"30005", "30006"}  # unknown destination, landline or unreachable carrier
UNSUBSCRIBED_CODE = "21610"  # the recipient sent STOP to the carrier
SMS_BODY_CHARS = 10_000  # Twilio joins at most 10 segments (1,600 characters); far above


def receive_sms(session: Session, clock: Clock, settings: Settings, form: FormParams) -> str:
    # Signed by Twilio, so kept: but as text a database can store, in lengths its columns take.
    sender = storable(form.get("From", ""), 320).strip()
    body = storable(form.get("Body", ""), SMS_BODY_CHARS)
    incoming = service.Incoming(
        channel="sms",
        sender=sender,
        recipient=storable(form.get("To", ""), 320) or None,
        text=body,
        raw_text=body,
        received_at=clock.now(),
        provider_id=storable(form.get("MessageSid") or form.get("SmsSid") or "", 64) or None,
    )
    handled = service.handle(session, clock, settings, incoming, matching.sms_sender(session, sender))
    return twiml(handled.answer)


def email_signature_ok(settings: Settings, body: bytes, header: str) -> bool:
    if not settings.inbound_email_secret:
        return False
    scheme, _, given = header.strip().partition("=")
    expected = hmac.new(settings.inbound_email_secret.encode(), body, hashlib.sha256).hexdigest()
    return scheme.lower() == "sha256" and hmac.compare_digest(given.strip().lower(), expected)


def receive_email(session: Session, clock: Clock, settings: Settings, raw: bytes) -> dict[str, Any]:
    mail = parse_inbound(raw)
    if mail.bounce is not None:
        return undelivered.receive_bounce(session, clock, settings, mail, mail.bounce)
    match = matching.email_sender(session, settings, mail)
    headers = trust.read_headers(raw)
    verdict = trust.judge(match.matched_by, headers)
    # The rules read what the customer wrote: no quote, no forwarded message, no signature.
    text = mail.own_text or _subject_words(mail.subject, match)
    incoming = service.Incoming(
        channel="email",
        sender=mail.from_address or "(no sender)",
        recipient=next(iter(mail.recipients), None),
        text=text,
        raw_text=mail.text,
        received_at=clock.now(),
        provider_id=mail.message_id,
        subject=mail.subject,
        attachments=mail.attachments,
        trusted=verdict.trusted,
        untrusted_why=verdict.why,
        is_autoreply=mail.is_autoreply,
        return_text=mail.return_text,
    )
    handled = service.handle(session, clock, settings, incoming, match)
    row = handled.inbound
    return {
        "id": row.id,
        "duplicate": handled.duplicate,
        "matched_by": row.matched_by,
        "trusted": verdict.trusted,
        "customer_id": row.customer_id,
        "case_id": row.case_id,
        "intent": row.intent,
        "confidence": row.confidence,
        "action": row.action,
        "task_id": row.task_id,
        "promise_id": row.promise_id,
        "dispute_id": row.dispute_id,
        "answer_message_id": row.answer_message_id,
        "attachments": len(row.attachments),
    }


def _subject_words(subject: str, match: matching.Match) -> str:
    # Some people write only in the subject ("STOP", "paid"). Our own subject echoed back with
    # "Re:" is not the customer's words.
    words = re.sub(r"^(?:\s*(?:re|fw|fwd|tr|aw)\s*:\s*)+", "", subject or "", flags=re.IGNORECASE).strip()
    ours = re.sub(r"\s+", " ", (match.message.subject or "") if match.message else "").strip().lower()
    return "" if words.lower() == ours else words


def delivery_report(session: Session, clock: Clock, form: FormParams) -> bool:
    """Twilio's status callback for a message we sent; False when the SID is not ours."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    message = (
        session.execute(select(Message).where(col(Message.provider_id) == sid)).scalar_one_or_none() if sid else None
    )
    if message is None or not status:
        return False
    if DELIVERY_RANK.get(status, 0) >= DELIVERY_RANK.get(message.delivery_status or "", -1):
        undelivered = ("undelivered", "failed")
        newly_failed = status in undelivered and message.delivery_status not in undelivered
        message.delivery_status = status[:30]
        code = form.get("ErrorCode")
        if code:
            message.last_error = f"Twilio delivery error {code}"
        message.updated_at = clock.now()
        session.add(message)
        session.flush()
        if newly_failed:
            publish_for(session, clock, "message.failed", {message.id: {"error": message.last_error or status}})
        if status in ("undelivered", "failed") and code in DEAD_NUMBER_CODES:
            mark_contact_invalid(session, clock, message, f"Twilio delivery error {code}")
        elif code == UNSUBSCRIBED_CODE:
            # the number written to said STOP to its carrier: that contact, or everyone when unknown
            for contact in written_to(session, message) or [None]:
                opt_out(
                    session,
                    clock,
                    message.customer_id,
                    "sms",
                    source="carrier",
                    contact_id=contact.id if contact else None,
                )
    return True
