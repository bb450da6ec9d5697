"""Late-payment law by jurisdiction: which reference rate, plus how many points, for which days,
and what fixed compensation. Each rule is a small named value; fees.py does the arithmetic.

Sources, rule by rule:

GB  Late Payment of Commercial Debts (Interest) Act 1998, s.4 and s.5A; Late Payment of Commercial
    Debts (Rate of Interest) (No. 3) Order 2002 (SI 2002/1675): statutory interest is 8 % over the
    Bank of England's official dealing rate (Bank Rate) in force on 30 June or 31 December
    immediately before the day interest starts to run, and that rate stays fixed for the debt.
    Fixed sum per debt: GBP 40 below GBP 1,000, GBP 70 below GBP 10,000, GBP 100 from GBP 10,000.
    Business debtors only.
FR  Code de commerce L441-10 II: the ECB's rate for its most recent refinancing operation plus 10
    points, the rate in force on 1 January for the first half-year and on 1 July for the second;
    D441-5: EUR 40 "indemnité forfaitaire pour frais de recouvrement" per invoice. Professionals only.
DE  BGB § 288 Abs. 2 (+9 points over the Basiszinssatz where no consumer is party), § 288 Abs. 1
    (+5 points otherwise), § 247 (the Basiszinssatz, set on 1 January and 1 July), § 288 Abs. 5
    (EUR 40 Pauschale when the debtor is not a consumer).
EU  Directive 2011/7/EU, art. 2(6) and (7), art. 3(2), art. 6: for member states whose currency is
    the euro, the ECB's main refinancing rate in force on the first calendar day of each half-year
    plus at least 8 points; a fixed EUR 40 per late payment. Business (and public) debtors only.
    Used for the euro-area states below that we have no national rule for.
ES  Ley 3/2004 de medidas de lucha contra la morosidad, art. 7 (the ECB rate of the most recent
    main refinancing operation before the first day of the half-year, + 8 points; published each
    half-year by the Ministerio de Hacienda in the BOE) and art. 8 (EUR 40). Same as the default.
IT  D.Lgs. 231/2002 as amended by D.Lgs. 192/2012, art. 5 (the ECB rate applying on 1 January or
    1 July, + 8 points) and art. 6 (EUR 40). Same as the default. (Agricultural and food products
    carry 2 more points under art. 62 D.L. 1/2012: we don't know what was sold, so we claim the
    lower rate.)
NL  Burgerlijk Wetboek art. 6:119a (handelsrente) with art. 6:120 lid 2 (ECB refinancing rate on the
    first day of the half-year + 8 points) and art. 6:96 lid 4 (EUR 40). Art. 6:119a lid 2 adds each
    year's interest to the principal after every full year; we do not capitalise, so a claim of
    more than a year stays a little below what the law allows, never above it.
BE  Wet van 2 augustus 2002 / Loi du 2 août 2002 betreffende de bestrijding van de
    betalingsachterstand bij handelstransacties, art. 5 (the ECB reference rate + 8 points,
    "afgerond tot het hogere halve procentpunt": rounded up to the next half point) and art. 6
    (EUR 40).
US  no statutory late-payment interest or compensation: only what the contract says, which is
    outside this service. Other countries: none either.

Euro-area member states only: for the EU states with their own currency the directive's reference
rate is their central bank's, which we don't ship, so we claim nothing there rather than a wrong
rate. Consumers are owed nothing except under DE's § 288 Abs. 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from dunning.policies.rates import RateBook, half_year_end, half_year_start

# Euro-area member states (2025). Bulgaria adopts the euro on 1 January 2026; its earlier debts
# would need the Bulgarian National Bank's rate, so it joins with a rule of its own when needed.
EURO_AREA = frozenset("AT BE CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK".split())


@dataclass(frozen=True)
class Reference:
    series: str
    on: date  # the day whose rate the law uses
    percent: Decimal


@dataclass(frozen=True)
class RatePeriod:
    """Days [start, end] (both included) at one annual rate."""

    start: date
    end: date
    rate: Decimal  # annual percent the law gives: reference + margin (rounded, where the law rounds)
    reference: Reference
    margin: Decimal
    rounded_up_to: Decimal | None = None


@dataclass(frozen=True)
class Compensation:
    currency: str
    # (below this debt in major units, this sum); the last band has no upper limit (None)
    bands: tuple[tuple[Decimal | None, Decimal], ...]
    kinds: frozenset[str] = frozenset({"business"})

    def amount(self, debt: Decimal, currency: str, kind: str) -> Decimal:
        if currency != self.currency or kind not in self.kinds:
            return Decimal(0)
        return next(amount for below, amount in self.bands if below is None or debt < below)


EUR_40 = Compensation("EUR", ((None, Decimal(40)),))


@dataclass(frozen=True)
class Rule:
    code: str  # GB, FR, DE, EU, ES, IT, NL, BE: also the key of the law's name in the wording files
    series: str  # the reference rate's series in the RateBook
    margins: dict[str, Decimal]  # points over the reference, by debtor kind; a kind not here owes no interest
    compensation: Compensation
    fixed_per_debt: bool = False  # GB: one reference for the whole debt; else one per half-year
    round_up_to: Decimal | None = None  # BE: the rate is rounded up to the next half point

    def reference_day(self, day: date) -> date:
        """The day whose reference rate applies to interest running on `day`."""
        start = half_year_start(day)
        # GB: 30 June or 31 December immediately before the half-year; elsewhere its first day.
        return start - timedelta(days=1) if self.fixed_per_debt else start

    def periods(self, first: date, last: date, kind: str, book: RateBook) -> list[RatePeriod]:
        """The rates for interest running from `first` to `last` (both included), split where the
        rate may change. Raises MissingRate for a reference day the history doesn't cover."""
        if kind not in self.margins or last < first:
            return []
        if self.fixed_per_debt:
            return [self._period(first, last, self.reference_day(first), kind, book)]
        out, start = [], first
        while start <= last:
            end = min(half_year_end(start), last)
            out.append(self._period(start, end, self.reference_day(start), kind, book))
            start = end + timedelta(days=1)
        return out

    def _period(self, start: date, end: date, on: date, kind: str, book: RateBook) -> RatePeriod:
        reference = Reference(self.series, on, book.in_force(self.series, on))
        margin = self.margins[kind]
        rate = reference.percent + margin
        if self.round_up_to is not None:
            rate = (rate / self.round_up_to).to_integral_value(rounding=ROUND_CEILING) * self.round_up_to
        return RatePeriod(start, end, rate, reference, margin, self.round_up_to)


B2B_8 = {"business": Decimal(8)}

RULES: dict[str, Rule] = {
    "GB": Rule(
        "GB",
        "boe_bank_rate",
        B2B_8,
        Compensation("GBP", ((Decimal(1_000), Decimal(40)), (Decimal(10_000), Decimal(70)), (None, Decimal(100)))),
        fixed_per_debt=True,
    ),
    "FR": Rule("FR", "ecb_mro", {"business": Decimal(10)}, EUR_40),
    "DE": Rule("DE", "de_basiszinssatz", {"business": Decimal(9), "consumer": Decimal(5)}, EUR_40),
    "EU": Rule("EU", "ecb_mro", B2B_8, EUR_40),
    "ES": Rule("ES", "ecb_mro", B2B_8, EUR_40),
    "IT": Rule("IT", "ecb_mro", B2B_8, EUR_40),
    "NL": Rule("NL", "ecb_mro", B2B_8, EUR_40),
    "BE": Rule("BE", "ecb_mro", B2B_8, EUR_40, round_up_to=Decimal("0.5")),
}


def rule_for(country: str | None, override: str = "auto") -> Rule | None:
    """The rule for a customer's country (ISO 3166 alpha-2), or the one a policy forces; None: no
    statutory fees."""
    code = (country or "").upper() if override == "auto" else override
    if code == "UK":  # not an ISO code, but what people write
        code = "GB"
    if code in RULES:
        return RULES[code]
    if override == "auto" and code in EURO_AREA:
        return RULES["EU"]
    return None
