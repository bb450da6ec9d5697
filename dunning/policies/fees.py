"""Statutory late-payment interest and fixed recovery compensation, by jurisdiction.

These are amounts a creditor is *entitled to claim*, shown on a notice with their arithmetic so the
customer (and the collections team) can check them. Nothing here books a charge: a fee line is
information until a person decides to invoice it.

Money is integer minor units; every computation goes through Decimal with an explicit
ROUND_HALF_UP, never through float.

The rules (business-to-business only everywhere; consumers are owed none of this):
- FR  late penalties at the ECB refinancing rate + 10 points; EUR 40 fixed compensation per
      late invoice (Code de commerce L441-10).
- EU  default for other member states (Directive 2011/7/EU): reference rate + 8 points; EUR 40 per
      late invoice.
- UK  Late Payment of Commercial Debts (Interest) Act 1998: Bank of England base rate + 8 %;
      fixed GBP 40 below GBP 1,000, GBP 70 below GBP 10,000, GBP 100 above, per invoice.
- US  no statutory late fee: nothing unless the contract says so, which is outside this engine.

Simplifications, each in the debtor's favour so a notice never overstates a claim:
- interest runs on the balance still open today for every day since the due date; money paid
  part-way through does not earn the creditor interest for the days it was late;
- the fixed compensation is only stated in its own currency (EUR 40 on EUR invoices, GBP on GBP):
  converting it would need an exchange rate we do not hold;
- days are counted on a 365-day year, leap years included.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Literal, Protocol

from babel.numbers import get_currency_precision

from dunning.money import to_minor

EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
DAYS_IN_YEAR = 365


# ---- money helpers, shared with the policy document ------------------------------------------

def currency_exponent(currency: str) -> int:
    return get_currency_precision(currency)


def major(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-currency_exponent(currency))


def format_money(amount_minor: int, currency: str) -> str:
    exponent = currency_exponent(currency)
    return f"{major(amount_minor, currency):,.{exponent}f} {currency}"


def _percent(rate: Decimal) -> str:
    # 12.15 -> "12.15", 12 -> "12.00", 2.125 -> "2.125": never hide a digit of a legal rate.
    exponent = rate.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{rate:.{places}f}"


# ---- inputs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceRate:
    name: str  # as printed: "ECB rate", "Bank of England base rate"
    percent: Decimal
    as_of: date


@dataclass(frozen=True)
class ReferenceRates:
    ecb: ReferenceRate
    boe: ReferenceRate

    @classmethod
    def from_settings(cls, settings: Any) -> "ReferenceRates":
        return cls(
            ecb=ReferenceRate("ECB rate", Decimal(settings.ecb_reference_rate), settings.ecb_reference_rate_date),
            boe=ReferenceRate(
                "Bank of England base rate", Decimal(settings.boe_base_rate), settings.boe_base_rate_date
            ),
        )


class FeeInvoice(Protocol):
    # engine.InvoiceView satisfies this
    id: Any
    number: str
    due_on: date
    balance_minor: int
    disputed: bool


@dataclass(frozen=True)
class FeeLine:
    label: str
    amount_minor: int
    currency: str
    calculation: str
    kind: Literal["interest", "compensation"]
    invoice_id: Any = None


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    reference: Literal["ecb", "boe"] | None  # None: no statutory interest
    margin_points: Decimal
    compensation_currency: str | None = None

    def compensation_minor(self, balance_minor: int, currency: str) -> int:
        """The fixed recovery sum for one late invoice, in minor units (0 when none applies)."""
        if currency != self.compensation_currency:
            return 0
        if self.code == "UK":
            owed = major(balance_minor, currency)
            pounds = 40 if owed < 1_000 else 70 if owed < 10_000 else 100
            return to_minor(Decimal(pounds), currency)
        return to_minor(Decimal(40), currency)


_JURISDICTIONS = {
    "FR": Jurisdiction("FR", "France", "ecb", Decimal(10), "EUR"),
    "EU": Jurisdiction("EU", "European Union (Directive 2011/7/EU)", "ecb", Decimal(8), "EUR"),
    "UK": Jurisdiction("UK", "United Kingdom", "boe", Decimal(8), "GBP"),
    "US": Jurisdiction("US", "United States", None, Decimal(0)),
    "none": Jurisdiction("none", "no statutory fees", None, Decimal(0)),
}


def jurisdiction_for(country: str | None, override: str = "auto") -> Jurisdiction:
    if override != "auto":
        return _JURISDICTIONS[override]
    code = (country or "").upper()
    if code == "FR":
        return _JURISDICTIONS["FR"]
    if code in EU_MEMBER_STATES:
        return _JURISDICTIONS["EU"]
    if code in ("GB", "UK"):
        return _JURISDICTIONS["UK"]
    if code == "US":
        return _JURISDICTIONS["US"]
    return _JURISDICTIONS["none"]


# ---- the computation ----------------------------------------------------------------------------

def late_payment_fees(
    invoices: Iterable[FeeInvoice],
    *,
    currency: str,
    customer_kind: str,
    country: str | None,
    today: date,
    rates: ReferenceRates,
    jurisdiction: str = "auto",
) -> list[FeeLine]:
    """What may be claimed today on these invoices, one line per invoice and kind of fee.

    Disputed invoices and invoices not yet late carry nothing; consumers carry nothing.
    """
    if customer_kind != "business":
        return []
    rules = jurisdiction_for(country, jurisdiction)
    lines: list[FeeLine] = []
    for invoice in sorted(invoices, key=lambda i: (i.due_on, str(i.number))):
        days_late = (today - invoice.due_on).days
        if invoice.disputed or invoice.balance_minor <= 0 or days_late <= 0:
            continue
        if rules.reference is not None:
            line = _interest(invoice, days_late, currency, rules, getattr(rates, rules.reference))
            if line.amount_minor > 0:
                lines.append(line)
        fixed = rules.compensation_minor(invoice.balance_minor, currency)
        if fixed:
            lines.append(
                FeeLine(
                    label=f"Fixed recovery compensation, invoice {invoice.number}",
                    amount_minor=fixed,
                    currency=currency,
                    calculation=f"{format_money(fixed, currency)} per late invoice ({rules.name})",
                    kind="compensation",
                    invoice_id=invoice.id,
                )
            )
    return lines


def _interest(
    invoice: FeeInvoice, days_late: int, currency: str, rules: Jurisdiction, reference: ReferenceRate
) -> FeeLine:
    rate = reference.percent + rules.margin_points
    exact = Decimal(invoice.balance_minor) * rate / Decimal(100) * Decimal(days_late) / Decimal(DAYS_IN_YEAR)
    amount_minor = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    calculation = (
        f"{format_money(invoice.balance_minor, currency)} × {_percent(rate)} % × {days_late}/{DAYS_IN_YEAR} days"
        f" = {format_money(amount_minor, currency)}"
        f" ({reference.name} {_percent(reference.percent)} % as of {reference.as_of.isoformat()}"
        f" + {rules.margin_points.normalize():f} points, {rules.name})"
    )
    return FeeLine(
        label=f"Late-payment interest, invoice {invoice.number}",
        amount_minor=amount_minor,
        currency=currency,
        calculation=calculation,
        kind="interest",
        invoice_id=invoice.id,
    )
