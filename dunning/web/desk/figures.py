"""The numbers behind the desk overview, read with a few grouped queries per currency.

Receivables at a past date are rebuilt from what we know now: an invoice issued by then was open
by its balance today, plus what settled it since (payments and credit notes received after that
date, by their allocations; anything else the accounting system took off, on its paid_on or,
lacking one, on the day we were told). At today this is exactly today's balances.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning.cases.models import CLOSED, Case
from dunning.clock import Clock
from dunning.db import exact_sum
from dunning.ledger.models import Allocation, Invoice, Payment
from dunning.ledger.queries import BUCKETS, OPEN, aged_minor
from dunning.outbox.models import SENT, Message
from dunning.records.arrangements import Promise
from dunning.web import kpis


@dataclass
class CurrencyFigures:
    currency: str
    receivables: int
    overdue: int
    dso: kpis.Dso
    cei: float | None
    cei_inputs: dict[str, int]
    collected_30d: int
    aging: dict[str, int]
    bars: list[kpis.Bar]


@dataclass
class Overview:
    as_of: date
    currencies: list[CurrencyFigures]
    promises_kept: int
    promises_broken: int
    kept_rate: float | None
    messages_30d: dict[str, int]
    cases: list[tuple[str, str, dict[str, int]]]  # (band, path, {state: count})
    case_states: list[str] = field(default_factory=lambda: ["active", "paused", "escalated"])


# What the accounting system took off an invoice without a payment or credit note we know of
# (an invoice pushed with paid_on, a lower balance): allocations never count twice.
SETTLED_ELSEWHERE = col(Invoice.total_minor) - col(Invoice.allocated_minor) - col(Invoice.balance_minor)


def _by_currency(rows) -> dict[str, int]:
    return {currency: int(amount or 0) for currency, amount in rows}


def receivables_on(session: Session, day: date) -> dict[str, int]:
    """Open receivables at the end of `day` (see the module docstring)."""
    issued = (col(Invoice.issued_on) <= day) & col(Invoice.voided).is_(False)
    still_open = _by_currency(
        session.execute(
            select(col(Invoice.currency), exact_sum(col(Invoice.balance_minor)))
            .where(OPEN, issued)
            .group_by(col(Invoice.currency))
        )
    )
    paid_since = _by_currency(
        session.execute(
            select(col(Invoice.currency), exact_sum(col(Allocation.amount_minor)))
            .join(Allocation, col(Allocation.invoice_id) == col(Invoice.id))
            .join(Payment, col(Payment.id) == col(Allocation.payment_id))
            .where(issued, col(Payment.received_on) > day)
            .group_by(col(Invoice.currency))
        )
    )
    out = defaultdict(int)
    for source in (still_open, paid_since):
        for currency, amount in source.items():
            out[currency] += amount
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), UTC)
    rows = session.execute(
        select(col(Invoice.currency), SETTLED_ELSEWHERE, col(Invoice.paid_on), col(Invoice.updated_at)).where(
            issued,
            SETTLED_ELSEWHERE > 0,
            (col(Invoice.paid_on) > day) | (col(Invoice.paid_on).is_(None) & (col(Invoice.updated_at) >= end_of_day)),
        )
    )
    for currency, amount, paid_on, updated_at in rows:
        if (paid_on or updated_at.date()) > day:
            out[currency] += int(amount)
    return dict(out)


def collected_between(session: Session, after: date, until: date) -> dict[str, int]:
    """Cash in after `after` through `until`: payments received, and invoices the accounting system
    marked paid (paid_on) for what no payment of ours settled."""
    paid = _by_currency(
        session.execute(
            select(col(Payment.currency), exact_sum(col(Payment.amount_minor)))
            .where(col(Payment.kind) == "payment", col(Payment.received_on) > after, col(Payment.received_on) <= until)
            .group_by(col(Payment.currency))
        )
    )
    settled = _by_currency(
        session.execute(
            select(col(Invoice.currency), exact_sum(SETTLED_ELSEWHERE))
            .where(
                col(Invoice.voided).is_(False),
                SETTLED_ELSEWHERE > 0,
                col(Invoice.paid_on) > after,
                col(Invoice.paid_on) <= until,
            )
            .group_by(col(Invoice.currency))
        )
    )
    return {c: paid.get(c, 0) + settled.get(c, 0) for c in paid.keys() | settled.keys()}


def daily_sales(session: Session, since: date, until: date) -> dict[str, dict[date, int]]:
    out: dict[str, dict[date, int]] = defaultdict(dict)
    for currency, issued_on, total in session.execute(
        select(col(Invoice.currency), col(Invoice.issued_on), exact_sum(col(Invoice.total_minor)))
        .where(col(Invoice.voided).is_(False), col(Invoice.issued_on) >= since, col(Invoice.issued_on) <= until)
        .group_by(col(Invoice.currency), col(Invoice.issued_on))
    ):
        out[currency][issued_on] = int(total)
    return out


def _sum(days: dict[date, int], start: date, end: date) -> int:
    return sum(v for d, v in days.items() if start <= d <= end)


def load(session: Session, clock: Clock) -> Overview:
    now = clock.now()
    today = now.date()
    periods = kpis.month_periods(today)
    opening_day = today - timedelta(days=kpis.CEI_DAYS)
    sales = daily_sales(session, min(periods[-1].start, opening_day + timedelta(days=1)), today)
    opening = receivables_on(session, opening_day)
    closing = receivables_on(session, today)
    current = _by_currency(
        session.execute(
            select(col(Invoice.currency), exact_sum(col(Invoice.balance_minor)))
            .where(OPEN, col(Invoice.issued_on) <= today, col(Invoice.due_on) >= today)
            .group_by(col(Invoice.currency))
        )
    )
    collected = collected_between(session, opening_day, today)
    buckets = {currency: dict(zip(BUCKETS, values)) for currency, values in aged_minor(session, today).items()}

    currencies = []
    for currency in sorted(set(closing) | set(opening) | set(buckets) | set(collected)):
        days = sales.get(currency, {})
        period_sales = _sum(days, opening_day + timedelta(days=1), today)
        inputs = {
            "opening": opening.get(currency, 0),
            "sales": period_sales,
            "closing": closing.get(currency, 0),
            "closing_current": current.get(currency, 0),
        }
        aged = buckets.get(currency, {b: 0 for b in BUCKETS})
        currencies.append(
            CurrencyFigures(
                currency=currency,
                receivables=closing.get(currency, 0),
                overdue=sum(v for k, v in aged.items() if k != "not_due"),
                dso=kpis.dso_countback(
                    closing.get(currency, 0), [(p.days, _sum(days, p.start, p.end)) for p in periods]
                ),
                cei=kpis.cei(**inputs),
                cei_inputs=inputs,
                collected_30d=collected.get(currency, 0),
                aging=aged,
                bars=kpis.bars(aged),
            )
        )

    judged = dict(
        session.execute(
            select(col(Promise.status), func.count())
            .where(
                col(Promise.status).in_(("kept", "broken")),
                col(Promise.settled_at) >= now - timedelta(days=kpis.PROMISE_DAYS),
            )
            .group_by(col(Promise.status))
        ).all()
    )
    sent = dict(
        session.execute(
            select(col(Message.channel), func.count())
            .where(col(Message.status) == SENT, col(Message.sent_at) >= now - timedelta(days=30))
            .group_by(col(Message.channel))
        ).all()
    )
    cases: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for band, path, state, count in session.execute(
        select(col(Case.band), col(Case.path_name), col(Case.state), func.count())
        .where(col(Case.state) != CLOSED)
        .group_by(col(Case.band), col(Case.path_name), col(Case.state))
    ):
        cases[(band or "unscored", path or "not started")][state] = int(count)
    return Overview(
        as_of=today,
        currencies=currencies,
        promises_kept=judged.get("kept", 0),
        promises_broken=judged.get("broken", 0),
        kept_rate=kpis.kept_rate(judged.get("kept", 0), judged.get("broken", 0)),
        messages_30d={k: int(v) for k, v in sorted(sent.items())},
        cases=[(band, path, counts) for (band, path), counts in sorted(cases.items())],
    )
