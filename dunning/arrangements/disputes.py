"""Disputes: an invoice the customer contests leaves the notices while the dispute is open (the
cycle and the composer skip invoices with an open Dispute row); the rest of the case goes on.
Each dispute is a task for the team, due on the response deadline."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.arrangements import accounts
from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import insert_once
from dunning.errors import Conflict, NotFound
from dunning.events.publish import publish
from dunning.ledger.models import Customer, Invoice
from dunning.money import as_string, display
from dunning.policies import calendar
from dunning.records.arrangements import Dispute
from dunning.tasks.models import Task
from dunning.tasks.service import close, open_task


def open_for(session: Session, invoice_id: int, *, lock: bool = False) -> Dispute | None:
    """The invoice's open dispute (a partial unique index keeps it to one). `lock`: held until the
    transaction ends, so that two people resolving it at once take turns."""
    stmt = select(Dispute).where(col(Dispute.invoice_id) == invoice_id, col(Dispute.status) == "open")
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def open_dispute(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    invoice: Invoice,
    reason_code: str,
    text: str | None,
    source: str,
    actor: str,
    existing_ok: bool = False,
) -> Dispute:
    """existing_ok: a second reply or a second click on the portal joins the open dispute instead
    of failing. Two requests at the same moment make one dispute: the later meets the unique index."""
    current = open_for(session, invoice.id)
    if current is None:
        customer = session.get(Customer, invoice.customer_id)
        respond_by = accounts.local_today(clock, customer) + timedelta(days=settings.dispute_response_days)
        dispute = Dispute(
            invoice_id=invoice.id,
            customer_id=customer.id,
            reason_code=reason_code,
            text=text,
            source=source,
            respond_by=respond_by,
            opened_by=actor,
            opened_at=clock.now(),
        )
        if not insert_once(session, dispute):
            current = open_for(session, invoice.id)  # opened by another request at the same moment
    if current is not None:
        if existing_ok:
            return current
        raise Conflict(f"invoice {invoice.number} already has an open dispute ({current.id})")
    task = open_task(
        session,
        clock,
        kind="dispute",
        key=f"dispute:{dispute.id}",
        customer_id=customer.id,
        title=f"{customer.name} disputes invoice {invoice.number}"
        f" ({display(invoice.balance_minor, invoice.currency)} open)",
        detail=f"Reason: {reason_code}"
        + (f"\n\n{text}" if text else "")
        + f"\n\nAnswer by {respond_by.isoformat()}; the invoice is left out of reminders until"
        " the dispute is resolved.",
        due_at=calendar.start_of_day(respond_by, customer.timezone),
        invoice=invoice.external_id,
    )
    dispute.task_id = task.id
    session.add(dispute)
    audit.record(
        session,
        clock,
        actor=actor,
        action="dispute.opened",
        subject_type="invoice",
        subject_id=invoice.external_id,
        dispute_id=dispute.id,
        reason_code=reason_code,
        source=source,
    )
    _event(
        session,
        clock,
        "dispute.opened",
        dispute,
        invoice,
        reason_code=reason_code,
        source=source,
        respond_by=respond_by,
        task_id=task.id,
        by=actor,
    )
    return dispute


def resolve(session: Session, clock: Clock, *, invoice: Invoice, outcome: str, note: str | None, actor: str) -> Dispute:
    dispute = open_for(session, invoice.id, lock=True)
    if dispute is None:
        raise NotFound(f"invoice {invoice.number} has no open dispute")
    dispute.status, dispute.outcome, dispute.note = "resolved", outcome, note
    dispute.resolved_at, dispute.resolved_by = clock.now(), actor
    session.add(dispute)
    if dispute.task_id is not None:
        task = session.get(Task, dispute.task_id)
        if task is not None and task.status == "open":
            close(session, clock, task, actor)
    audit.record(
        session,
        clock,
        actor=actor,
        action="dispute.resolved",
        subject_type="invoice",
        subject_id=invoice.external_id,
        dispute_id=dispute.id,
        outcome=outcome,
        note=note,
    )
    _event(session, clock, "dispute.resolved", dispute, invoice, outcome=outcome, note=note, by=actor)
    return dispute


def _event(session: Session, clock: Clock, event_type: str, dispute: Dispute, invoice: Invoice, **data) -> None:
    customer = session.execute(
        select(col(Customer.external_id)).where(col(Customer.id) == dispute.customer_id)
    ).scalar()
    case = accounts.open_case(session, dispute.customer_id, invoice.currency)
    publish(
        session,
        clock,
        event_type,
        customer_id=dispute.customer_id,
        case_id=case.id if case else None,
        customer=customer,
        dispute_id=dispute.id,
        invoice=invoice.external_id,
        invoice_number=invoice.number,
        currency=invoice.currency,
        amount=as_string(invoice.balance_minor, invoice.currency),
        **data,
    )


def get_invoice(session: Session, external_id: str) -> Invoice:
    invoice = session.execute(select(Invoice).where(col(Invoice.external_id) == external_id)).scalar_one_or_none()
    if invoice is None:
        raise NotFound(f"no invoice with external_id '{external_id}'")
    return invoice


def find_invoice(session: Session, customer_id: int, reference: str) -> Invoice | None:
    """The customer's invoice a reply names: its number or external id, exactly or as written with
    other separators or leading zeros ("f 2024 42" for "F-2024-0042"); None unless exactly one fits."""
    invoices = list(
        session.execute(
            select(Invoice).where(col(Invoice.customer_id) == customer_id, col(Invoice.voided).is_(False))
        ).scalars()
    )
    wanted = reference.strip().lower()
    exact = [i for i in invoices if wanted in (i.number.lower(), i.external_id.lower())]
    if len(exact) == 1:
        return exact[0]

    def shape(value: str) -> tuple[str, ...]:
        return tuple(p.lstrip("0") or "0" if p.isdigit() else p for p in re.findall(r"[a-z]+|\d+", value.lower()))

    loose = [i for i in invoices if shape(reference) in (shape(i.number), shape(i.external_id))]
    if len(loose) == 1:
        return loose[0]
    # "invoice 42": the digits alone, when only one invoice ends with that number.
    if reference.strip().isdigit():
        number = reference.strip().lstrip("0") or "0"
        tail = [i for i in invoices if (shape(i.number) or ("",))[-1] == number]
        if len(tail) == 1:
            return tail[0]
    return None


def list_for(session: Session, customer_id: int) -> list[Dispute]:
    return list(
        session.execute(
            select(Dispute)
            .where(col(Dispute.customer_id) == customer_id)
            .order_by(col(Dispute.opened_at).desc(), col(Dispute.id).desc())
        ).scalars()
    )
