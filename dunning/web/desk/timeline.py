"""Everything that happened to one customer, newest first: each message as it was sent, each reply,
promise, plan and dispute, each score with its reasons, and the case's own moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from dunning.arrangements import plans
from dunning.audit import AuditEvent
from dunning.cases.models import Case
from dunning.contacts.models import Contact
from dunning.ledger.models import Customer, Invoice
from dunning.money import display
from dunning.outbox.models import Message
from dunning.records.arrangements import Dispute, Promise
from dunning.records.replies import InboundMessage
from dunning.scoring.models import Score
from dunning.words import plural

LIMIT = 300
# the case's own moves worth a line; the per-cycle bookkeeping is in the audit log
AUDITED = (
    "case.opened",
    "case.reopened",
    "case.closed",
    "case.paused",
    "case.resumed",
    "case.band_changed",
    "case.escalated",
    "customer.dunning_settings",
    "contact.opt_out",
    "contact.invalid",
    "contact.updated",
    "job.failed",
    "customer.links_revoked",
)


@dataclass
class Event:
    at: datetime
    kind: str
    title: str
    status: str | None = None
    detail: str | None = None
    link: str | None = None
    lines: list[str] = field(default_factory=list)
    by: str | None = None


def _when(message: Message) -> datetime:
    return message.sent_at or message.send_after


def build(session: Session, customer: Customer) -> list[Event]:
    events: list[Event] = []
    for m in session.execute(select(Message).where(col(Message.customer_id) == customer.id)).scalars():
        title = f"{m.channel} · {m.step_name or m.step_key or m.kind.replace('_', ' ')}"
        sent_to = [f"{r['as']} {r.get('name') or r.get('address')}" for r in m.recipients]
        events.append(
            Event(
                _when(m),
                "message",
                title,
                m.status,
                m.subject or (m.body_text or "")[:160] or None,
                f"/desk/outbox/{m.id}",
                lines=sent_to,
                by=m.decided_by and f"decided by {m.decided_by}",
            )
        )
    for r, name in session.execute(
        select(InboundMessage, col(Contact.name))
        .outerjoin(Contact, col(Contact.id) == col(InboundMessage.contact_id))
        .where(col(InboundMessage.customer_id) == customer.id)
    ):
        events.append(
            Event(
                r.received_at,
                "reply",
                f"reply by {r.channel}: {r.intent.replace('_', ' ')}",
                r.action,
                r.reply_text,
                lines=[f"confidence {r.confidence:.0%}"],
                by=f"from {name or r.sender}",
            )
        )
    for p in session.execute(select(Promise).where(col(Promise.customer_id) == customer.id)).scalars():
        events.append(
            Event(
                p.created_at,
                "promise",
                f"promise to pay {display(p.amount_minor, p.currency)} by {p.promised_on:%-d %b %Y}",
                p.status,
                f"grace until {p.grace_until:%-d %b %Y}; {display(p.paid_minor, p.currency)} received so far",
                by=f"{p.source}, {p.created_by}",
            )
        )
    for plan, rows in plans.list_for(session, customer.id):
        events.append(
            Event(
                plan.created_at,
                "plan",
                f"installment plan: {plural(len(rows), 'payment')}, {display(plan.total_minor, plan.currency)}",
                plan.status,
                "outside the policy's bounds" if plan.outside_policy else None,
                lines=[
                    f"{r.number}. {r.due_on:%-d %b %Y} {display(r.amount_minor, plan.currency)} — {r.status}"
                    for r in rows
                ],
                by=f"{plan.source}, {plan.created_by}",
            )
        )
    for d, number in session.execute(
        select(Dispute, col(Invoice.number))
        .join(Invoice, col(Invoice.id) == col(Dispute.invoice_id))
        .where(col(Dispute.customer_id) == customer.id)
    ):
        events.append(
            Event(
                d.opened_at,
                "dispute",
                f"dispute on invoice {number}: {d.reason_code.replace('_', ' ')}",
                d.status,
                d.text,
                by=f"{d.source}, {d.opened_by}",
            )
        )
        if d.resolved_at:
            events.append(
                Event(
                    d.resolved_at,
                    "dispute",
                    f"dispute on invoice {number} resolved: {d.outcome}",
                    "resolved",
                    d.note,
                    by=d.resolved_by,
                )
            )
    for s in session.execute(
        select(Score).where(col(Score.customer_id) == customer.id).order_by(col(Score.scored_at).desc()).limit(20)
    ).scalars():
        events.append(
            Event(
                s.scored_at,
                "score",
                f"risk score {s.probability:.0%} ({s.model_version})",
                s.currency,
                lines=list(s.reasons),
            )
        )
    case_ids = [
        str(i) for i in session.execute(select(col(Case.id)).where(col(Case.customer_id) == customer.id)).scalars()
    ]
    audit = select(AuditEvent).where(
        col(AuditEvent.action).in_(AUDITED),
        or_(
            and_(col(AuditEvent.subject_type) == "case", col(AuditEvent.subject_id).in_(case_ids or ["-"])),
            and_(col(AuditEvent.subject_type) == "customer", col(AuditEvent.subject_id) == customer.external_id),
        ),
    )
    for a in session.execute(audit.order_by(col(AuditEvent.at).desc()).limit(100)).scalars():
        details = {k: v for k, v in a.data.items() if v not in (None, "", [], {}) and k != "customer"}
        events.append(
            Event(
                a.at,
                "case",
                a.action.replace(".", " ").replace("_", " "),
                None,
                None,
                lines=[f"{k}: {v}" for k, v in details.items()],
                by=a.actor,
            )
        )
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:LIMIT]
