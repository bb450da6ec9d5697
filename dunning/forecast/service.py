"""The cash forecast and the cash at risk, from the stored payment-date quantiles.

**Weeks.** Week 1 is today and the six days after it, week k the seven days from today + 7(k-1).
An invoice is "paid in week k" when its days late fall in [s + 7(k-1), s + 7k), s being its days
late today (today - due date), which is also the floor `PayDates` conditions on: nothing is
expected before today, and the windows plus "beyond the horizon" tile what is left, so each
invoice's shares add up to one.

**What is counted where.** Every open invoice's balance lands in exactly one of: the weeks, beyond
the horizon, or disputed (an open dispute: not expected, shown apart). Of an undisputed balance,
the part covered by a promise to pay or a plan's installments (reading.covered) is "promised" and
placed at its day; the rest is "predicted" and spread over the weeks by its payment-date
distribution conditioned on today. An invoice the last rescore has not predicted (new since) is
spread by the fallback quantiles (`fallback`), never dropped.

**Exact totals.** Per currency the predicted money is a whole number of minor units; its expected
split over weeks and beyond (floats) is rounded by the largest remainder, so weeks + beyond +
disputed equal the open balance to the minor unit.

**The band.** Each invoice is treated as paid whole in one window, independently of the others:
the cash of week k is then a sum of amount x Bernoulli(p_k), of mean sum a p_k and variance
sum a^2 p_k (1 - p_k), and with many invoices its 10-90 % band is the normal approximation
mean -/+ 1.2816 sd (low floored at 0). It is honest about what dominates a collections book: one
large invoice makes a wide band, a thousand small ones a narrow one. Two simplifications, both
on the narrow side: invoices of one customer are not independent (they are often paid together),
and promised money is counted as it was promised, with no band of its own (it is shown apart, so
whoever reads the forecast sees how much of a week rests on promises).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

import numpy as np
from babel.numbers import format_percent
from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning.forecast import reading
from dunning.ledger.models import Invoice
from dunning.money import display, from_minor
from dunning.scoring.models import PayDatePrediction
from dunning.scoring.paydates import Z90, PayDates
from dunning.words import plural

MAX_WEEKS = 52
# The fallback when no open invoice has a stored prediction at all: paid around the due date,
# give or take a fortnight. With predictions stored, their average quantiles are used instead.
FALLBACK = (-14.0, 0.0, 14.0)


@dataclass
class Week:
    number: int  # 1-based
    starts_on: date
    ends_on: date  # inclusive
    promised: int = 0
    predicted: int = 0
    low: int = 0
    high: int = 0

    @property
    def expected(self) -> int:
        return self.promised + self.predicted


@dataclass
class CurrencyForecast:
    currency: str
    weeks: list[Week]
    beyond_promised: int = 0
    beyond_predicted: int = 0
    disputed: int = 0
    invoices: int = 0
    unpredicted: int = 0  # invoices spread by the fallback quantiles (no stored prediction yet)

    @property
    def beyond(self) -> int:
        return self.beyond_promised + self.beyond_predicted

    @property
    def open(self) -> int:
        return sum(w.expected for w in self.weeks) + self.beyond + self.disputed


@dataclass
class Forecast:
    as_of: date
    weeks: int
    currencies: list[CurrencyForecast]
    fallback: tuple[float, float, float]


@dataclass
class _Sums:
    """Running sums of one currency while the blocks stream by."""

    weeks: int
    expected: np.ndarray = field(init=False)  # weeks + 1 (beyond), floats
    variance: np.ndarray = field(init=False)
    predicted: int = 0  # the exact minor units behind `expected`
    disputed: int = 0
    invoices: int = 0
    unpredicted: int = 0

    def __post_init__(self) -> None:
        self.expected = np.zeros(self.weeks + 1)
        self.variance = np.zeros(self.weeks + 1)


def fallback(session: Session) -> tuple[float, float, float]:
    """The quantiles an invoice without a stored prediction is spread by: the average of the open
    invoices' stored ones (the portfolio as the last rescore saw it), else FALLBACK."""
    row = session.execute(
        select(
            func.avg(col(PayDatePrediction.q10_days)),
            func.avg(col(PayDatePrediction.q50_days)),
            func.avg(col(PayDatePrediction.q90_days)),
        )
        .join(Invoice, col(Invoice.id) == col(PayDatePrediction.invoice_id))
        .where(reading.OPEN)
    ).one()
    return FALLBACK if row[1] is None else (float(row[0]), float(row[1]), float(row[2]))


def distributions(block: np.ndarray, default: tuple[float, float, float]) -> PayDates:
    """Each invoice's payment-date distribution, conditioned on its being open today."""
    quantiles = np.column_stack([block["q10"], block["q50"], block["q90"]])
    quantiles[block["predicted"] == 0] = default
    return PayDates.of(quantiles, at_least=block["late"].astype(np.float64))


def cash_forecast(session: Session, today: date, weeks: int = 13) -> Forecast:
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be 1 to {MAX_WEEKS}")
    default = fallback(session)
    capped, covered_ids, covered_amounts = reading.covered(session, today, reading.promised(session, today))
    sums: dict[str, _Sums] = {}
    offsets = 7.0 * np.arange(weeks + 1)  # window edges, in days from today
    for block in reading.open_invoices(session, today):
        dates = distributions(block, default)
        # cdf at each edge, (n, weeks + 1); shares of each week, then of "beyond" (1 - the last edge)
        edges = np.column_stack([dates.cdf(block["late"] + offset) for offset in offsets])
        shares = np.column_stack([np.diff(edges, axis=1), 1.0 - edges[:, -1]])
        disputed = block["disputed"] == 1
        free = np.where(
            disputed, 0, block["balance"] - reading.covered_of(block["invoice_id"], covered_ids, covered_amounts)
        )
        amount = free.astype(np.float64)
        for currency in np.unique(block["currency"]):
            rows = block["currency"] == currency
            s = sums.setdefault(str(currency), _Sums(weeks))
            s.expected += amount[rows] @ shares[rows]
            s.variance += (amount[rows] ** 2) @ (shares[rows] * (1.0 - shares[rows]))
            s.predicted += int(free[rows].sum(dtype=object))  # exact: Python integers, whatever the sum
            s.disputed += int(block["balance"][rows & disputed].sum(dtype=object))
            s.invoices += int(rows.sum())
            s.unpredicted += int((rows & ~disputed & (block["predicted"] == 0)).sum())

    out = []
    for currency in sorted(sums):
        s = sums[currency]
        split = largest_remainder(s.expected, s.predicted)
        result = CurrencyForecast(
            currency,
            [
                Week(k + 1, today + timedelta(days=7 * k), today + timedelta(days=7 * k + 6), predicted=split[k])
                for k in range(weeks)
            ],
            beyond_predicted=split[-1],
            disputed=s.disputed,
            invoices=s.invoices,
            unpredicted=s.unpredicted,
        )
        for account, items in capped.items():
            if account[1] == currency:
                for c in items:
                    k = (c.on - today).days // 7
                    if k < weeks:
                        result.weeks[k].promised += c.amount
                    else:
                        result.beyond_promised += c.amount
        for k, week in enumerate(result.weeks):
            spread = Z90 * float(np.sqrt(s.variance[k]))
            week.low = week.promised + max(0, round(week.predicted - spread))
            week.high = week.promised + round(week.predicted + spread)
        out.append(result)
    return Forecast(today, weeks, out, default)


def largest_remainder(expected: np.ndarray, total: int) -> list[int]:
    """Whole minor units in proportion to `expected`, adding up to exactly `total`."""
    weights = [Fraction(float(e)) for e in np.maximum(expected, 0.0)]  # exact: sums beyond 2^53 stay exact
    weight = sum(weights)
    if total == 0 or weight <= 0:
        return [0] * (len(expected) - 1) + [total]  # nothing to spread by: all of it beyond the horizon
    ideal = [w * total / weight for w in weights]
    parts = [int(x) for x in ideal]  # floors (every ideal is >= 0)
    for i in sorted(range(len(ideal)), key=lambda i: parts[i] - ideal[i])[: total - sum(parts)]:
        parts[i] += 1
    return parts


# --- the cash at risk, for the worklist ----------------------------------------------------------


@dataclass
class AtRisk:
    """One account's money at stake: what is likely still unpaid in `days` days if nobody acts."""

    customer_id: int
    currency: str
    at_risk: int = 0  # minor units: sum of unpromised balance x P(not paid within `days`)
    unpromised: int = 0  # the undisputed open balance not covered by a promise or plan
    promised: int = 0
    invoices: int = 0  # undisputed open invoices

    @property
    def likelihood(self) -> float:
        """The balance-weighted chance the unpromised money is still unpaid (0 when nothing is)."""
        return self.at_risk / self.unpromised if self.unpromised else 0.0


def at_risk(session: Session, today: date, days: int, customer_ids: Iterable[int]) -> dict[tuple[int, str], AtRisk]:
    """The cash at risk of each account of these customers. Disputed invoices are left out (they are
    not chased); a promise or a plan lowers an account's risk to its unpromised part."""
    ids = sorted(set(customer_ids))
    out: dict[tuple[int, str], AtRisk] = {}
    if not ids:
        return out
    default = fallback(session)
    _, covered_ids, covered_amounts = reading.covered(session, today, reading.promised(session, today, ids))
    for block in reading.open_invoices(session, today, ids):
        block = block[block["disputed"] == 0]
        promised = reading.covered_of(block["invoice_id"], covered_ids, covered_amounts)
        free = block["balance"] - promised
        unpaid = 1.0 - distributions(block, default).cdf(block["late"] + float(days))
        keys, which = np.unique(block[["customer_id", "currency"]], return_inverse=True)
        risk = np.bincount(which, weights=free * unpaid, minlength=len(keys))
        # integer sums per account: an account's balances fit 64 bits (money.MAX_ACCOUNT)
        sums = np.zeros((3, len(keys)), np.int64)
        for row, values in enumerate((free, promised, np.ones(len(block), np.int64))):
            np.add.at(sums[row], which, values)
        for i, (customer_id, currency) in enumerate(keys.tolist()):
            account = out.setdefault((customer_id, currency), AtRisk(customer_id, currency))
            account.at_risk += round(float(risk[i]))
            account.unpromised += int(sums[0, i])
            account.promised += int(sums[1, i])
            account.invoices += int(sums[2, i])
    return out


def stake(accounts: Iterable[AtRisk], rates: dict[str, float]) -> float:
    """One figure to rank by across currencies: the cash at risk in major units, each currency
    converted by its ranking rate (1 when none is set)."""
    return sum(float(from_minor(a.at_risk, a.currency)) * rates.get(a.currency, 1.0) for a in accounts)


def reason(accounts: Iterable[AtRisk], days: int) -> str:
    """Why an account ranks where it does, in words: "€12,400.00 at risk: 3 invoices, 78% likely
    unpaid in 30 days; €2,000.00 promised"."""
    parts = []
    for a in sorted(accounts, key=lambda a: (-a.at_risk, a.currency)):
        if not a.invoices:
            continue
        text = (
            f"{display(a.at_risk, a.currency)} at risk: {plural(a.invoices, 'invoice')},"
            f" {format_percent(a.likelihood, locale='en')} likely unpaid in {plural(days, 'day')}"
        )
        if a.promised:
            text += f"; {display(a.promised, a.currency)} promised"
        parts.append(text)
    return "; ".join(parts)
