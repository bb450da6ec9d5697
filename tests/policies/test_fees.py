from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from dunning.money import to_minor
from dunning.policies.engine import InvoiceView
from dunning.policies.fees import (
    FeeLine,
    ReferenceRate,
    ReferenceRates,
    format_money,
    jurisdiction_for,
    late_payment_fees,
)

RATES = ReferenceRates(
    ecb=ReferenceRate("ECB rate", Decimal("2.15"), date(2025, 7, 1)),
    boe=ReferenceRate("Bank of England base rate", Decimal("4.00"), date(2025, 8, 7)),
)
TODAY = date(2025, 9, 30)


def invoice(amount_minor: int, days_late: int = 45, number: str = "F-1", disputed: bool = False) -> InvoiceView:
    return InvoiceView(number, number, TODAY - timedelta(days=days_late), amount_minor, disputed)


def fees(invoices, currency="EUR", country="FR", kind="business", rates=RATES, **kw) -> list[FeeLine]:
    return late_payment_fees(invoices, currency=currency, customer_kind=kind, country=country, today=TODAY,
                             rates=rates, **kw)


def test_france_interest_at_ecb_plus_ten_and_forty_euros_per_invoice():
    interest, fixed = fees([invoice(120_000)])
    assert interest.kind == "interest" and interest.amount_minor == 1798 and interest.currency == "EUR"
    assert interest.calculation.startswith("1,200.00 EUR × 12.15 % × 45/365 days = 17.98 EUR")
    assert "ECB rate 2.15 % as of 2025-07-01 + 10 points" in interest.calculation
    assert interest.label == "Late-payment interest, invoice F-1"
    assert (fixed.kind, fixed.amount_minor, fixed.invoice_id) == ("compensation", 4000, "F-1")
    assert fixed.calculation.startswith("40.00 EUR per late invoice")


def test_consumers_are_owed_nothing():
    assert fees([invoice(120_000)], kind="consumer") == []
    assert fees([invoice(500_000)], currency="GBP", country="GB", kind="consumer") == []


def test_other_eu_states_use_the_directive_reference_plus_eight():
    interest, fixed = fees([invoice(100_000, days_late=30)], country="DE")
    # 1,000.00 × 10.15 % × 30/365 = 8.3424... -> 8.34
    assert interest.amount_minor == 834
    assert "10.15 %" in interest.calculation and "+ 8 points" in interest.calculation
    assert fixed.amount_minor == 4000


@pytest.mark.parametrize(
    "balance_minor, fixed_minor",
    [(99_999, 4000), (100_000, 7000), (999_999, 7000), (1_000_000, 10000)],
)
def test_uk_fixed_sum_by_debt_size(balance_minor, fixed_minor):
    interest, fixed = fees([invoice(balance_minor)], currency="GBP", country="GB")
    assert fixed.amount_minor == fixed_minor
    assert "12.00 %" in interest.calculation
    assert "Bank of England base rate 4.00 % as of 2025-08-07 + 8 points" in interest.calculation


def test_uk_interest_arithmetic():
    (interest, _) = fees([invoice(250_000, days_late=73)], currency="GBP", country="UK")
    # 2,500.00 × 12 % × 73/365 = 60.00 exactly
    assert interest.amount_minor == 6000
    assert interest.calculation.startswith("2,500.00 GBP × 12.00 % × 73/365 days = 60.00 GBP")


def test_united_states_and_unknown_countries_have_no_statutory_fees():
    assert fees([invoice(120_000)], currency="USD", country="US") == []
    assert fees([invoice(120_000)], country="BR") == []
    assert fees([invoice(120_000)], country=None) == []


def test_half_cents_round_up():
    ten_percent = ReferenceRates(ecb=ReferenceRate("ECB rate", Decimal("2.00"), date(2025, 1, 1)), boe=RATES.boe)
    # 3.65 EUR × 10 % × 25/365 = 0.025 EUR exactly: half up gives 0.03 (banker's rounding would give 0.02)
    (interest, _) = fees([invoice(365, days_late=25)], country="DE", rates=ten_percent)
    assert interest.amount_minor == 3
    assert interest.calculation.startswith("3.65 EUR × 10.00 % × 25/365 days = 0.03 EUR")


def test_zero_decimal_currency_gets_interest_but_no_euro_compensation():
    lines = fees([invoice(100_000, days_late=30)], currency="JPY")
    assert [line.kind for line in lines] == ["interest"]
    # ¥100,000 × 12.15 % × 30/365 = 998.63 -> 999
    assert lines[0].amount_minor == 999
    assert lines[0].calculation.startswith("100,000 JPY × 12.15 % × 30/365 days = 999 JPY")


def test_disputed_and_not_yet_late_invoices_carry_nothing():
    lines = fees([invoice(50_000, number="A", disputed=True), invoice(50_000, days_late=0, number="B"),
                  invoice(0, number="C"), invoice(50_000, days_late=10, number="D")])
    assert {line.invoice_id for line in lines} == {"D"}


def test_one_interest_and_one_fixed_line_per_invoice_oldest_first():
    lines = fees([invoice(10_000, days_late=5, number="NEW"), invoice(10_000, days_late=50, number="OLD")])
    assert [(line.invoice_id, line.kind) for line in lines] == [
        ("OLD", "interest"), ("OLD", "compensation"), ("NEW", "interest"), ("NEW", "compensation")]
    assert all(isinstance(line.amount_minor, int) for line in lines)


def test_tiny_interest_that_rounds_to_nothing_is_not_listed():
    assert [line.kind for line in fees([invoice(100, days_late=1)])] == ["compensation"]


def test_policy_can_force_a_jurisdiction():
    lines = fees([invoice(120_000)], currency="GBP", country="FR", jurisdiction="UK")
    assert [line.amount_minor for line in lines if line.kind == "compensation"] == [7000]
    assert fees([invoice(120_000)], country="FR", jurisdiction="none") == []


def test_jurisdiction_by_country():
    assert [jurisdiction_for(c).code for c in ("FR", "fr", "IT", "GB", "UK", "US", "CH", None)] == [
        "FR", "FR", "EU", "UK", "UK", "US", "none", "none"]


def test_rates_from_settings_keep_their_dates():
    settings = SimpleNamespace(ecb_reference_rate=Decimal("2.15"), ecb_reference_rate_date=date(2025, 7, 1),
                               boe_base_rate=Decimal("4.00"), boe_base_rate_date=date(2025, 8, 7))
    assert ReferenceRates.from_settings(settings) == RATES


def test_money_helpers():
    assert to_minor(Decimal("12.30"), "EUR") == 1230
    assert to_minor(Decimal("500"), "JPY") == 500
    with pytest.raises(ValueError):
        to_minor(Decimal("1.005"), "EUR")
    assert format_money(123456789, "EUR") == "1,234,567.89 EUR"
    assert format_money(5, "BHD") == "0.005 BHD"
