"""The score history: appending a rescore's results, reading each customer's newest score.

Kept free of pandas and XGBoost so the cycle can read scores without loading either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from dunning.driver import insert_rows
from dunning.scoring.models import Score

FEW = 1_000  # up to this many customers are asked for by id; more, and reading all newest rows is cheaper


class StoredScore(NamedTuple):  # a tuple: a rescore builds one per customer, a hundred thousand at a time
    customer_id: int
    currency: str | None
    probability: float
    model_version: str
    reasons: tuple[str, ...]
    open_invoices: int
    scored_at: datetime

    def same_as(self, other: StoredScore) -> bool:
        return (self.currency, self.probability, self.model_version, self.reasons) == (
            other.currency,
            other.probability,
            other.model_version,
            other.reasons,
        )


def newest(session: Session, customer_ids: Iterable[int] | None = None) -> dict[int, StoredScore]:
    """Each customer's newest score: the latest scored_at, and the last row written at that moment.

    The inner query is a scan of the (customer_id, scored_at, id) index, the join one index seek
    per customer: the history behind each customer is never read."""
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids is not None and len(ids) > FEW:
        found = newest(session)
        return {cid: found[cid] for cid in ids if cid in found}
    latest = select(col(Score.customer_id), func.max(col(Score.scored_at)).label("at")).group_by(col(Score.customer_id))
    if ids is not None:
        latest = latest.where(col(Score.customer_id).in_(ids))
    latest = latest.subquery()
    stmt = (
        select(
            col(Score.id),
            col(Score.customer_id),
            col(Score.currency),
            col(Score.probability),
            col(Score.model_version),
            col(Score.reasons),
            col(Score.open_invoices),
            col(Score.scored_at),
        )
        .join(latest, and_(col(Score.customer_id) == latest.c.customer_id, col(Score.scored_at) == latest.c.at))
        .order_by(col(Score.id))
    )
    out: dict[int, StoredScore] = {}
    for row in session.connection().execute(stmt):  # ordered by id: the last row of a moment wins
        out[row.customer_id] = StoredScore(
            row.customer_id,
            row.currency,
            row.probability,
            row.model_version,
            tuple(row.reasons),
            row.open_invoices,
            row.scored_at,
        )
    return out


def append(session: Session, scores: list[StoredScore]) -> int:
    """Append the scores that differ from each customer's newest: a second rescore of the same
    ledger with the same model (a retry, two workers) writes nothing."""
    if not scores:
        return 0
    before = newest(session, (s.customer_id for s in scores))
    rows: list[dict[str, Any]] = [
        {
            "customer_id": s.customer_id,
            "currency": s.currency,
            "probability": s.probability,
            "model_version": s.model_version,
            "reasons": list(s.reasons),
            "open_invoices": s.open_invoices,
            "scored_at": s.scored_at,
        }
        for s in scores
        if s.customer_id not in before or not s.same_as(before[s.customer_id])
    ]
    if rows:
        insert_rows(session, Score.__table__, rows)
    session.flush()
    return len(rows)
