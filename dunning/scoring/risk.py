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
# Up to this many customers are named in the query; a cycle asking for a whole fresh portfolio
# groups every customer once instead (one IN list of 100,000 would pass PostgreSQL's bind limit).
FEW_CUSTOMERS = 1000


@dataclass(frozen=True)
class Risk:
    probability: float
    source: str  # "baseline" or a model version
    reasons: tuple[str, ...] = field(default=())


def baseline_risks(session: Session, late_days: int, customer_ids: set[int] | None = None) -> dict[int, Risk]:
    """The baseline for the customers named (all customers with settled invoices when None).

    The overall late rate is one aggregate; the per-customer counts are read only for the
    customers asked about: a case page asking for one customer must not group the whole ledger."""
    if session.get_bind().dialect.name == "sqlite":
        days_late = func.julianday(col(Invoice.paid_on)) - func.julianday(col(Invoice.due_on))
    else:
        days_late = col(Invoice.paid_on) - col(Invoice.due_on)
    late = func.sum(cast(case((days_late > late_days, 1), else_=0), Integer))
    settled_rows = (col(Invoice.paid_on).is_not(None), col(Invoice.voided).is_(False))
    settled_all, late_all = session.execute(select(func.count(), late).where(*settled_rows)).one()
    prior = (late_all / settled_all) if settled_all else NO_HISTORY_PRIOR
    per_customer = select(col(Invoice.customer_id), func.count(), late).where(*settled_rows)
    if customer_ids is not None and len(customer_ids) <= FEW_CUSTOMERS:
        per_customer = per_customer.where(col(Invoice.customer_id).in_(customer_ids))
    out: dict[int, Risk] = {}
    for customer_id, settled, n_late in session.execute(per_customer.group_by(col(Invoice.customer_id))).all():
        if customer_ids is not None and customer_id not in customer_ids:
            continue
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
