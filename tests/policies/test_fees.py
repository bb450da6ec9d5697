"""The fee arithmetic and the rules by jurisdiction, on the shipped rate histories.

The published worked examples are reproduced through `fees explain` in tests/cli/test_fees_cli.py;
here the units: periods, part payments, rounding, who owes what."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from dunning.policies import rates
from dunning.policies.fees import Debt, balances, late_payment_fees
from dunning.policies.law import RULES, rule_for
from dunning.policies.rates import MissingRate

BOOK = rates.shipped()


def statement(
    country,
    due_on,
    balance_minor,
    as_of,
    *,
    currency="EUR",
    kind="business",
    payments=(),
    book=BOOK,
    jurisdiction="auto",
):
    return late_payment_fees(
        [Debt("F-1", due_on, balance_minor, tuple(payments))],
        currency=currency,
        customer_kind=kind,
        country=country,
        as_of=as_of,
        book=book,
        jurisdiction=jurisdiction,
    )


def interest(st):
    return [
        (line.start, line.end, line.principal_minor, line.rate, line.amount_minor)
        for line in st.lines
        if line.kind == "interest"
    ]


def test_france_splits_at_the_half_year_and_reads_the_ecb_rate_on_its_first_day():
    st = statement("FR", date(2024, 11, 30), 500_000, date(2025, 2, 14))
    # Dec 2024: ECB rate on 1 July 2024 (4.25) + 10; Jan-Feb 2025: rate on 1 January 2025 (3.15) + 10
    assert interest(st) == [
        (date(2024, 12, 1), date(2024, 12, 31), 500_000, Decimal("14.25"), 6051),  # 5000 × 14.25 % × 31/365 = 60.51
        (date(2025, 1, 1), date(2025, 2, 14), 500_000, Decimal("13.15"), 8106),  # 5000 × 13.15 % × 45/365 = 81.06
    ]
    assert st.interest_minor == 14157 and st.compensation_minor == 4000


def test_a_part_payment_stops_interest_on_what_it_paid_from_its_date():
    # €10,000 due 1 March 2025, €4,000 paid on 1 May 2025: €6,000 is still owed on 1 September.
    st = statement("DE", date(2025, 3, 1), 600_000, date(2025, 9, 1), payments=[(date(2025, 5, 1), 400_000)])
    assert interest(st) == [
        (date(2025, 3, 2), date(2025, 5, 1), 1_000_000, Decimal("11.27"), 18835),  # 10,000 × 11.27 % × 61/365
        (date(2025, 5, 2), date(2025, 6, 30), 600_000, Decimal("11.27"), 11116),  # 6,000 × 11.27 % × 60/365
        (date(2025, 7, 1), date(2025, 9, 1), 600_000, Decimal("10.27"), 10636),  # 6,000 × 10.27 % × 63/365
    ]


def test_payments_before_the_due_date_or_in_an_earlier_half_year_leave_no_trace_later():
    debt = Debt("F-1", date(2025, 3, 1), 600_000, ((date(2025, 2, 20), 100_000), (date(2025, 5, 1), 400_000)))
    assert balances(debt, date(2025, 3, 2), date(2025, 6, 30)) == [
        (date(2025, 3, 2), date(2025, 5, 1), 1_000_000),
        (date(2025, 5, 2), date(2025, 6, 30), 600_000),
    ]
    assert balances(debt, date(2025, 7, 1), date(2025, 9, 1)) == [(date(2025, 7, 1), date(2025, 9, 1), 600_000)]
    # Paid in full on the last day: it was owed that day, and nothing after.
    assert balances(
        Debt("F-2", date(2025, 3, 1), 0, ((date(2025, 3, 10), 5_000),)), date(2025, 3, 2), date(2025, 3, 31)
    ) == [(date(2025, 3, 2), date(2025, 3, 10), 5_000)]


def test_a_debt_paid_in_full_owes_nothing_more():
    assert statement("FR", date(2025, 3, 1), 0, date(2025, 9, 1), payments=[(date(2025, 4, 1), 100_000)]).lines == ()


def test_across_a_year_end_with_part_payments_in_both_years():
    # £2,000 due 30 November 2024, £500 paid 20 December 2024, £500 paid 10 January 2025. GB keeps the
    # reference fixed for the debt (Bank Rate on 30 June 2024, 5.25 %, + 8) through the year end.
    st = statement(
        "GB",
        date(2024, 11, 30),
        100_000,
        date(2025, 1, 31),
        currency="GBP",
        payments=[(date(2024, 12, 20), 50_000), (date(2025, 1, 10), 50_000)],
    )
    assert interest(st) == [
        (date(2024, 12, 1), date(2024, 12, 20), 200_000, Decimal("13.25"), 1452),  # 2000 × 13.25 % × 20/365 = 14.52
        (date(2024, 12, 21), date(2025, 1, 10), 150_000, Decimal("13.25"), 1143),  # 1500 × 13.25 % × 21/365 = 11.43
        (date(2025, 1, 11), date(2025, 1, 31), 100_000, Decimal("13.25"), 762),  # 1000 × 13.25 % × 21/365 = 7.62
    ]
    assert st.compensation_minor == 7000  # £1,000 still owed: the £70 band
    # The same debt in France reads a new rate on 1 January.
    fr = statement(
        "FR",
        date(2024, 11, 30),
        100_000,
        date(2025, 1, 31),
        payments=[(date(2024, 12, 20), 50_000), (date(2025, 1, 10), 50_000)],
    )
    assert [(line[0], line[3]) for line in interest(fr)] == [
        (date(2024, 12, 1), Decimal("14.25")),
        (date(2024, 12, 21), Decimal("14.25")),
        (date(2025, 1, 1), Decimal("13.15")),
        (date(2025, 1, 11), Decimal("13.15")),
    ]


def test_the_uk_reference_is_fixed_by_the_half_year_interest_starts_in():
    # Late from 1 July 2025 (due 30 June): Bank Rate on 30 June 2025, 4.25 %; late from 30 June: 31 Dec 2024, 4.75 %.
    assert interest(statement("GB", date(2025, 6, 30), 100_000, date(2025, 7, 10), currency="GBP"))[0][3] == Decimal(
        "12.25"
    )
    assert interest(statement("GB", date(2025, 6, 29), 100_000, date(2025, 7, 10), currency="GBP"))[0][3] == Decimal(
        "12.75"
    )


@pytest.mark.parametrize(
    "balance_minor, fixed_minor", [(99_999, 4000), (100_000, 7000), (999_999, 7000), (1_000_000, 10000)]
)
def test_uk_fixed_sum_by_debt_size(balance_minor, fixed_minor):
    st = statement("GB", date(2025, 6, 15), balance_minor, date(2025, 10, 14), currency="GBP")
    assert st.compensation_minor == fixed_minor


def test_germany_charges_consumers_five_points_and_no_pauschale():
    st = statement("DE", date(2025, 3, 1), 1_000_000, date(2025, 9, 1), kind="consumer")
    assert [line[3] for line in interest(st)] == [Decimal("7.27"), Decimal("6.27")]
    assert st.compensation_minor == 0


def test_belgium_rounds_the_rate_up_to_the_next_half_point():
    st = statement("BE", date(2025, 3, 1), 1_000_000, date(2025, 9, 1))
    assert [(line[3], line[4]) for line in interest(st)] == [
        (Decimal("11.5"), 38123),  # 3.15 + 8 = 11.15 -> 11.5; 10,000 × 11.5 % × 121/365 = 381.23
        (Decimal("10.5"), 18123),
    ]  # 2.15 + 8 = 10.15 -> 10.5; 10,000 × 10.5 % × 63/365 = 181.23


@pytest.mark.parametrize("country", ["ES", "IT", "NL", "AT", "IE"])
def test_other_euro_area_states_follow_the_directive_ecb_plus_eight(country):
    st = statement(country, date(2025, 5, 15), 1_000_000, date(2025, 10, 14))
    assert [line[3] for line in interest(st)] == [Decimal("11.15"), Decimal("10.15")]
    assert st.compensation_minor == 4000
    assert st.rule.code == (country if country in RULES else "EU")


def test_consumers_outside_germany_and_countries_without_a_rule_owe_nothing():
    assert statement("FR", date(2025, 5, 15), 1_000_000, date(2025, 10, 14), kind="consumer").lines == ()
    assert (
        statement("GB", date(2025, 5, 15), 1_000_000, date(2025, 10, 14), currency="GBP", kind="consumer").lines == ()
    )
    for country in ("US", "CH", "SE", "PL", None):  # SE, PL: EU, but their reference is not the ECB's
        st = statement(country, date(2025, 5, 15), 1_000_000, date(2025, 10, 14))
        assert st.rule is None and st.lines == ()


def test_a_policy_can_force_a_jurisdiction():
    assert (
        statement(
            "FR", date(2025, 6, 15), 500_000, date(2025, 10, 14), currency="GBP", jurisdiction="UK"
        ).compensation_minor
        == 7000
    )
    assert statement("FR", date(2025, 6, 15), 500_000, date(2025, 10, 14), jurisdiction="none").lines == ()
    assert rule_for("gb").code == rule_for("UK").code == "GB"


def test_half_cents_round_up_and_tiny_interest_is_not_listed():
    # 3.65 € × 10.15 % × 4/365 = 0.00406 -> nothing; 36.50 € × 13.15 % × 19/365 = 0.2498.. -> 0.25
    assert interest(statement("FR", date(2025, 10, 10), 365, date(2025, 10, 14))) == []
    assert interest(statement("FR", date(2025, 6, 11), 3650, date(2025, 6, 30)))[0][4] == 25


def test_the_fixed_sum_is_only_stated_in_its_own_currency():
    st = statement("FR", date(2025, 5, 15), 100_000, date(2025, 10, 14), currency="JPY")
    assert st.compensation_minor == 0 and st.interest_minor > 0


def test_a_rate_the_history_does_not_cover_is_never_guessed():
    with pytest.raises(MissingRate) as raised:
        statement("FR", date(2026, 5, 15), 100_000, date(2026, 7, 2))
    assert (raised.value.series, raised.value.on) == ("ecb_mro", date(2026, 7, 1))
    assert "rates add ecb_mro RATE --from 2026-07-01" in raised.value.message
    # Added by the team: the same debt computes, at the rate added.
    book = BOOK.with_added([("ecb_mro", date(2026, 7, 1), Decimal("2.40"))])
    assert interest(statement("FR", date(2026, 5, 15), 100_000, date(2026, 7, 2), book=book))[-1][3] == Decimal("12.40")
    # GB needs only the reference before the debt became late: a debt late since March 2026 still computes.
    assert statement("GB", date(2026, 3, 1), 100_000, date(2026, 11, 30), currency="GBP").interest_minor > 0


def test_the_shipped_histories_name_their_sources_and_agree_with_the_worked_examples():
    ecb, boe, basis = BOOK["ecb_mro"], BOOK["boe_bank_rate"], BOOK["de_basiszinssatz"]
    assert "FM.B.U2.EUR.4F.KR.MRR_FR.LEV" in ecb.source and "IUDBEDR" in boe.source and "247" in basis.source
    assert ecb.entries[0].effective_on.year == 1999 and boe.in_force(date(1998, 1, 1)) == Decimal("7.25")
    assert basis.entries[0].effective_on == date(2002, 1, 1)
    assert (ecb.in_force(date(2025, 1, 1)), ecb.in_force(date(2025, 6, 11)), ecb.in_force(date(2025, 7, 1))) == (
        Decimal("3.15"),
        Decimal("2.15"),
        Decimal("2.15"),
    )
    assert (boe.in_force(date(2024, 12, 31)), boe.in_force(date(2025, 6, 30)), boe.in_force(date(2025, 8, 7))) == (
        Decimal("4.75"),
        Decimal("4.25"),
        Decimal("4.00"),
    )
    assert (basis.in_force(date(2025, 1, 1)), basis.in_force(date(2025, 7, 1))) == (Decimal("2.27"), Decimal("1.27"))
    # The Basiszinssatz moves by as many points as the ECB rate of the last operation before the
    # half-year did since its last change (BGB § 247): from 2009, when the ECB's tenders were at a fixed
    # rate again, the two histories check each other.
    starts = [date(y, m, 1) for y in range(2009, 2026) for m in (1, 7)] + [date(2026, 1, 1)]
    for before, day in zip(starts, starts[1:]):
        ecb_moved = ecb.in_force(day - timedelta(days=1)) - ecb.in_force(before - timedelta(days=1))
        assert basis.in_force(day) - basis.in_force(before) == ecb_moved, day


def test_a_series_that_changes_half_yearly_is_known_to_the_end_of_its_last_half_year():
    series = BOOK["de_basiszinssatz"]
    assert series.known_through == date(2026, 6, 30)
    added = series.with_entries([rates.Entry(date(2026, 7, 1), Decimal("1.27"), "added")])
    assert added.known_through == date(2026, 12, 31) and added.entries[-1].origin == "added"
