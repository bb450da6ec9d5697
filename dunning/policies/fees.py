"""Statutory late-payment interest and fixed recovery compensation: the arithmetic.

These are amounts a creditor is *entitled to claim*, shown on a notice with their arithmetic so the
customer (and the collections team) can check them. Nothing here books a charge: a fee line is
information until a person decides to invoice it. Which rate and which fixed sum is law.py's; the
words a customer reads are channels/fee_text.py's.

How interest is counted (the laws' own worked examples: GB, FR and DE, reproduced in the tests):
- it runs from the day after the due date; a statement "as of" a day counts that day;
- on the balance actually outstanding each day: money paid after the due date earned interest up
  to and including the day it was paid (as many days as it came late), and none after. Credit
  notes reduce the debt from the start: a credited amount was never owed;
- one line per stretch of days with one balance and one rate (a part payment, or a new
  half-year where the law reads the reference rate again, starts a new line);
- each line is balance × rate × days / 365 (365 in leap years too, as the examples count),
  rounded half up to the currency's minor unit; the invoice's interest is the sum of its lines.

The fixed compensation is stated only in its own currency (EUR 40 on EUR invoices, GBP on GBP):
converting it would need an exchange rate we do not hold. Money is integer minor units and all
arithmetic Decimal, never float.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from dunning import money
from dunning.policies.law import RatePeriod, Rule, rule_for
from dunning.policies.rates import RateBook

DAYS_IN_YEAR = 365


@dataclass(frozen=True)
class Debt:
    """One late invoice, as the fee computation sees it."""

    invoice: str  # the number shown to the customer
    due_on: date
    balance_minor: int  # still owed on the as-of day
    payments: tuple[tuple[date, int], ...] = ()  # (paid on, amount) of the payments allocated to it


@dataclass(frozen=True)
class FeeLine:
    kind: Literal["interest", "compensation"]
    invoice: str
    amount_minor: int
    # interest: the balance, the days [start, end] and the rate period they fall in
    principal_minor: int = 0
    start: date | None = None
    end: date | None = None
    period: RatePeriod | None = None
    # compensation: the debt it was sized by
    debt_minor: int = 0

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1 if self.start and self.end else 0

    @property
    def rate(self) -> Decimal | None:
        return self.period.rate if self.period else None

    def as_data(self, currency: str) -> dict[str, Any]:
        """What a stored message and a case file keep of the line (JSON-safe)."""
        return {
            "kind": self.kind,
            "invoice": self.invoice,
            "amount": money.as_string(self.amount_minor, currency),
            "rate": str(self.rate) if self.rate is not None else None,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class FeeStatement:
    rule: Rule | None
    currency: str
    as_of: date
    lines: tuple[FeeLine, ...] = field(default_factory=tuple)

    def _sum(self, kind: str) -> int:
        return sum(line.amount_minor for line in self.lines if line.kind == kind)

    @property
    def interest_minor(self) -> int:
        return self._sum("interest")

    @property
    def compensation_minor(self) -> int:
        return self._sum("compensation")

    @property
    def total_minor(self) -> int:
        return self.interest_minor + self.compensation_minor

    @property
    def current_rate(self) -> Decimal | None:
        """The annual rate running on the as-of day, when every debt still late has the same one
        (quoted in the letters' legal wording); None when they differ or none runs."""
        rates = {line.rate for line in self.lines if line.kind == "interest" and line.end == self.as_of}
        return rates.pop() if len(rates) == 1 else None


def late_payment_fees(
    debts: Iterable[Debt],
    *,
    currency: str,
    customer_kind: str,
    country: str | None,
    as_of: date,
    book: RateBook,
    jurisdiction: str = "auto",
) -> FeeStatement:
    """What may be claimed on `as_of` for these debts: interest lines, then the fixed sum, for each
    debt oldest first. Raises rates.MissingRate when a reference rate it needs is not known yet."""
    rule = rule_for(country, jurisdiction)
    lines: list[FeeLine] = []
    if rule is not None:
        for debt in sorted(debts, key=lambda d: (d.due_on, d.invoice)):
            if debt.balance_minor <= 0 or debt.due_on >= as_of:
                continue
            lines.extend(interest_lines(debt, rule, customer_kind, as_of, book))
            fixed = rule.compensation.amount(money.from_minor(debt.balance_minor, currency), currency, customer_kind)
            if fixed:
                lines.append(
                    FeeLine(
                        "compensation", debt.invoice, money.to_minor(fixed, currency), debt_minor=debt.balance_minor
                    )
                )
    return FeeStatement(rule, currency, as_of, tuple(lines))


def interest_lines(debt: Debt, rule: Rule, kind: str, as_of: date, book: RateBook) -> list[FeeLine]:
    first = debt.due_on + timedelta(days=1)
    lines = []
    for period in rule.periods(first, as_of, kind, book):
        if period.rate <= 0:
            continue
        for start, end, owed in balances(debt, period.start, period.end):
            amount = Decimal(owed) * period.rate * ((end - start).days + 1) / (100 * DAYS_IN_YEAR)
            amount_minor = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if amount_minor > 0:
                lines.append(
                    FeeLine(
                        "interest",
                        debt.invoice,
                        amount_minor,
                        principal_minor=owed,
                        start=start,
                        end=end,
                        period=period,
                    )
                )
    return lines


def balances(debt: Debt, first: date, last: date) -> list[tuple[date, date, int]]:
    """(start, end, amount owed) over [first, last]: an amount paid on day P was owed through P."""
    paid: dict[date, int] = {}
    for on, amount in debt.payments:
        if on >= first and amount > 0:
            day = min(on, last)
            paid[day] = paid.get(day, 0) + amount
    owed = debt.balance_minor + sum(paid.values())
    out, start = [], first
    for day in sorted(paid):
        out.append((start, day, owed))
        owed -= paid[day]
        start = day + timedelta(days=1)
    if start <= last and owed > 0:
        out.append((start, last, owed))
    return [(s, e, o) for s, e, o in out if o > 0 and s <= e]
