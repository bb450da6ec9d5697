"""The desk's KPIs as plain arithmetic over plain numbers; desk/overview.py fetches the numbers.

DSO, countback method: take today's receivables (everything open, due or not) and walk back
through the credit sales (invoice totals by issue date), newest period first: the month to date,
then whole calendar months. Each period whose sales the receivables still exceed adds all its
days; the period where they run out adds the fraction of its days that the rest represents.
    receivables 150, sales this month (10 days) 100, last month (28 days) 200
    -> 10 + 28 * 50 / 200 = 17 days
Unlike "receivables / sales x days", a sudden month of big sales does not make collection look
faster than it is. Receivables larger than twelve months of sales give "more than N days".

Collection Effectiveness Index, over the 30 days ending today:
    CEI = (opening receivables + credit sales - closing receivables)
        / (opening receivables + credit sales - closing current receivables) x 100
where current receivables are those not yet due. 100 % means everything that could have been
collected was; the denominator is what could have been.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

CEI_DAYS = 30
DSO_MONTHS = 12
PROMISE_DAYS = 90  # promises judged (kept or broken) in this window count towards the kept rate


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def month_periods(as_of: date, months: int = DSO_MONTHS) -> list[Period]:
    """The month to date, then whole calendar months before it, newest first."""
    periods = [Period(as_of.replace(day=1), as_of)]
    while len(periods) < months:
        end = periods[-1].start - timedelta(days=1)
        periods.append(Period(end.replace(day=1), end))
    return periods


@dataclass(frozen=True)
class Dso:
    days: float | None  # None: nothing sold in the window, so no DSO can be told
    capped: bool = False  # the receivables outlast the window: "more than `days` days"


def dso_countback(receivables: int, sales: list[tuple[int, int]]) -> Dso:
    """sales: (days in the period, credit sales in the period), newest first."""
    if receivables <= 0:
        return Dso(0.0)
    if not any(amount > 0 for _, amount in sales):
        return Dso(None)
    left, days = receivables, 0.0
    for period_days, amount in sales:
        if amount >= left:
            return Dso(days + period_days * left / amount)
        left -= max(amount, 0)
        days += period_days
    return Dso(days, capped=True)


def cei(opening: int, sales: int, closing: int, closing_current: int) -> float | None:
    collectible = opening + sales - closing_current
    if collectible <= 0:
        return None  # nothing could have been collected: no index rather than a division by zero
    return 100.0 * (opening + sales - closing) / collectible


def kept_rate(kept: int, broken: int) -> float | None:
    judged = kept + broken
    return None if judged == 0 else 100.0 * kept / judged


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


# --- the aging chart: bar geometry for an inline SVG ---------------------------------------------

BUCKET_LABELS = {"not_due": "Not due", "d1_30": "1–30", "d31_60": "31–60", "d61_90": "61–90", "over_90": "90+"}


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    amount: int
    x: float
    y: float
    width: float
    height: float


def bars(amounts: dict[str, int], *, width: float = 360, height: float = 160, gap: float = 12) -> list[Bar]:
    """One bar per bucket, scaled to the largest; a bucket with money never disappears (2px at least)."""
    keys = list(BUCKET_LABELS)
    top = max((amounts.get(k, 0) for k in keys), default=0)
    bar_width = (width - gap * (len(keys) + 1)) / len(keys)
    out = []
    for i, key in enumerate(keys):
        amount = amounts.get(key, 0)
        h = 0.0 if top <= 0 or amount <= 0 else max(2.0, height * amount / top)
        out.append(Bar(key, BUCKET_LABELS[key], amount, gap + i * (bar_width + gap), height - h, bar_width, h))
    return out
