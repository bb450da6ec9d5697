"""Where a case's risk comes from: the customer's newest stored score (the nightly rescore writes
them, with the champion model or the baseline); until a customer has one, the plain rule scores:
the customer's smoothed prior late rate, (late + 2 * overall) / (settled + 2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Integer, case, cast, func, select
from sqlmodel import Session, col

from dunning.ledger.models import Invoice
from dunning.scoring import scores

STRENGTH = 2.0
NO_HISTORY_PRIOR = 0.2  # the late rate assumed before the ledger holds a single settled invoice


@dataclass(frozen=True)
class Risk:
    probability: float
    source: str  # "baseline" or a model version
    reasons: tuple[str, ...] = field(default=())


def baseline_risks(session: Session, late_days: int, customer_ids: set[int] | None = None) -> dict[int, Risk]:
    if session.get_bind().dialect.name == "sqlite":
        days_late = func.julianday(col(Invoice.paid_on)) - func.julianday(col(Invoice.due_on))
    else:
        days_late = col(Invoice.paid_on) - col(Invoice.due_on)
    late = func.sum(cast(case((days_late > late_days, 1), else_=0), Integer))
    rows = session.execute(
        select(col(Invoice.customer_id), func.count(), late)
        .where(col(Invoice.paid_on).is_not(None), col(Invoice.voided).is_(False))
        .group_by(col(Invoice.customer_id))
    ).all()
    settled_all = sum(r[1] for r in rows)
    prior = (sum(r[2] for r in rows) / settled_all) if settled_all else NO_HISTORY_PRIOR
    out: dict[int, Risk] = {}
    for customer_id, settled, n_late in rows:
        if customer_ids is None or customer_id in customer_ids:
            p = (n_late + STRENGTH * prior) / (settled + STRENGTH)
            out[customer_id] = Risk(
                p,
                "baseline",
                (f"baseline: paid {n_late} of {settled} earlier invoices more than {late_days} days late",),
            )
    for customer_id in (customer_ids or set()) - out.keys():
        out[customer_id] = Risk(
            prior, "baseline", (f"baseline: new customer, no payment history yet (overall late rate {prior:.0%})",)
        )
    return out


def risks(session: Session, late_days: int, customer_ids: set[int]) -> dict[int, Risk]:
    stored = scores.newest(session, customer_ids)
    out = {cid: Risk(s.probability, s.model_version, s.reasons) for cid, s in stored.items()}
    never_scored = set(customer_ids) - out.keys()
    if never_scored:
        out.update(baseline_risks(session, late_days, never_scored))
    return out
