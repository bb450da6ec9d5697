"""Rows the forecast reads, written as the other layers write them: the ledger through its service,
payment-date predictions, promises, plans and disputes inserted directly (as the rescore and the
arrangements store them)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import col

from dunning.ledger.models import Invoice
from dunning.records.arrangements import Dispute, Installment, InstallmentPlan, Promise
from dunning.scoring.models import PayDatePrediction
from tests.outbox.support import seed

__all__ = ["seed", "invoice_ids", "predict", "promise", "plan", "dispute"]


def invoice_ids(db, *external_ids: str) -> list[int]:
    with db.session() as s:
        found = dict(
            s.execute(
                select(col(Invoice.external_id), col(Invoice.id)).where(col(Invoice.external_id).in_(external_ids))
            ).all()
        )
    return [found[e] for e in external_ids]


def predict(db, clock, rows: dict[str, tuple[float, float, float]]) -> None:
    """Stored quantiles of days late, by invoice external id."""
    ids = invoice_ids(db, *rows)
    with db.session() as s:
        for (q10, q50, q90), invoice_id in zip(rows.values(), ids):
            customer_id = s.get(Invoice, invoice_id).customer_id
            s.add(
                PayDatePrediction(
                    invoice_id=invoice_id,
                    customer_id=customer_id,
                    q10_days=q10,
                    q50_days=q50,
                    q90_days=q90,
                    model_version="test",
                    predicted_at=clock.now(),
                )
            )


def promise(db, clock, customer_id: int, amount_minor: int, on: date, *, status: str = "open", currency="EUR") -> None:
    with db.session() as s:
        s.add(
            Promise(
                customer_id=customer_id,
                currency=currency,
                amount_minor=amount_minor,
                promised_on=on,
                grace_until=on + timedelta(days=3),
                status=status,
                source="api",
                counted_from=clock.now().date(),
                created_by="test",
                created_at=clock.now(),
            )
        )


def plan(db, clock, customer_id: int, installments: list[tuple[date, int]], *, currency="EUR") -> None:
    with db.session() as s:
        row = InstallmentPlan(
            customer_id=customer_id,
            currency=currency,
            total_minor=sum(a for _, a in installments),
            source="api",
            counted_from=clock.now().date(),
            created_by="test",
            created_at=clock.now(),
        )
        s.add(row)
        s.flush()
        for number, (due_on, amount) in enumerate(installments, start=1):
            s.add(Installment(plan_id=row.id, number=number, due_on=due_on, amount_minor=amount))


def dispute(db, clock, external_id: str) -> None:
    [invoice_id] = invoice_ids(db, external_id)
    with db.session() as s:
        customer_id = s.get(Invoice, invoice_id).customer_id
        s.add(
            Dispute(
                invoice_id=invoice_id,
                customer_id=customer_id,
                reason_code="quality",
                source="api",
                opened_at=clock.now(),
            )
        )
