"""The stored payment-date predictions: each rescore replaces them all.

Kept free of pandas and XGBoost, like scores.py: the cash forecast and the worklist read the rows
without loading either.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Table, delete, text
from sqlmodel import Session

from dunning.driver import insert_rows
from dunning.scoring.models import PayDatePrediction


class PayDateRow(NamedTuple):
    invoice_id: int
    customer_id: int
    q10_days: float
    q50_days: float
    q90_days: float
    model_version: str
    predicted_at: datetime


def replace(session: Session, rows: list[PayDateRow]) -> int:
    """The table becomes exactly `rows`: an invoice no longer open (or whose customer could not be
    read) loses its row. Two rescores writing at once take turns (on SQLite the write lock does it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE pay_date_prediction IN SHARE ROW EXCLUSIVE MODE"))
    session.execute(delete(PayDatePrediction))
    if not rows:
        return 0
    table: Table = PayDatePrediction.__table__  # type: ignore[attr-defined]  # set by SQLModel, not declared
    return insert_rows(session, table, [row._asdict() for row in rows])
