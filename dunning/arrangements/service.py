"""The API's view of arrangements: from request models to the rules in promises/plans/disputes."""

from __future__ import annotations

from sqlmodel import Session

from dunning.arrangements import disputes, plans, promises
from dunning.arrangements.schemas import DisputeIn, DisputeOut, PlanIn, PlanOut, PromiseIn, PromiseOut, ResolveIn
from dunning.clock import Clock
from dunning.config import Settings
from dunning.errors import InvalidInput, row_error
from dunning.ledger.models import Invoice
from dunning.ledger.queries import get_customer
from dunning.money import to_minor


def _minor(amount, currency: str, index: int | None, field: str) -> int:
    try:
        return to_minor(amount, currency)
    except ValueError as e:
        raise InvalidInput(f"{field}: {e}", detail=[row_error(index, field, str(e))]) from None


def add_promise(session: Session, clock: Clock, external_id: str, body: PromiseIn, actor: str) -> PromiseOut:
    customer = get_customer(session, external_id)
    amount = _minor(body.amount, body.currency, None, "amount")
    if amount <= 0:
        raise InvalidInput(
            "amount: must be more than zero", detail=[row_error(None, "amount", "must be more than zero")]
        )
    recorded = promises.record(
        session,
        clock,
        customer=customer,
        currency=body.currency,
        promised_on=body.date,
        amount_minor=amount,
        source=body.source,
        actor=actor,
        notify=body.notify,
    )
    return PromiseOut.of(recorded.promise)


def list_promises(session: Session, external_id: str) -> list[PromiseOut]:
    customer = get_customer(session, external_id)
    return [PromiseOut.of(p) for p in promises.list_for(session, customer.id)]


def add_plan(session: Session, clock: Clock, external_id: str, body: PlanIn, actor: str) -> PlanOut:
    customer = get_customer(session, external_id)
    proposed = [
        plans.Proposed(i.due_on, _minor(i.amount, body.currency, n, "amount")) for n, i in enumerate(body.installments)
    ]
    created = plans.create(
        session,
        clock,
        customer=customer,
        currency=body.currency,
        proposed=proposed,
        source=body.source,
        actor=actor,
        outside_policy=body.outside_policy,
        notify=body.notify,
    )
    return PlanOut.of(created.plan, created.installments)


def list_plans(session: Session, external_id: str) -> list[PlanOut]:
    customer = get_customer(session, external_id)
    return [PlanOut.of(plan, rows) for plan, rows in plans.list_for(session, customer.id)]


def add_dispute(
    session: Session, clock: Clock, settings: Settings, external_id: str, body: DisputeIn, actor: str
) -> DisputeOut:
    invoice = disputes.get_invoice(session, external_id)
    dispute = disputes.open_dispute(
        session,
        clock,
        settings,
        invoice=invoice,
        reason_code=body.reason_code,
        text=body.text,
        source=body.source,
        actor=actor,
    )
    return DisputeOut.of(dispute, invoice.external_id)


def resolve_dispute(session: Session, clock: Clock, external_id: str, body: ResolveIn, actor: str) -> DisputeOut:
    invoice = disputes.get_invoice(session, external_id)
    dispute = disputes.resolve(session, clock, invoice=invoice, outcome=body.outcome, note=body.note, actor=actor)
    return DisputeOut.of(dispute, invoice.external_id)


def list_disputes(session: Session, external_id: str) -> list[DisputeOut]:
    customer = get_customer(session, external_id)
    rows = disputes.list_for(session, customer.id)
    numbers = {d.invoice_id: session.get(Invoice, d.invoice_id).external_id for d in rows}
    return [DisputeOut.of(d, numbers[d.invoice_id]) for d in rows]
