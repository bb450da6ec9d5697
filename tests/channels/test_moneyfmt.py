"""The compiled money formatter writes exactly what babel writes, or leaves it to babel."""

from __future__ import annotations

import pytest
from babel import Locale
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.channels.moneyfmt import babel_money, formatter

CASES = [
    ("fr_FR", "EUR"),
    ("en_GB", "GBP"),
    ("en_FR", "EUR"),
    ("en_US", "USD"),
    ("de_DE", "EUR"),
    ("de_CH", "CHF"),
    ("fr_CH", "CHF"),
    ("en_IN", "INR"),
    ("es_ES", "EUR"),
    ("ja_JP", "JPY"),
    ("ar_EG", "EGP"),
    ("fr_FR", "KWD"),
    ("nl_NL", "EUR"),
    ("pl_PL", "PLN"),
    ("en", "USD"),
    ("fr", "XOF"),
]


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CASES), minor=st.integers(min_value=-(10**12), max_value=10**14))
def test_the_same_text_as_babel(case, minor):
    locale_id, currency = case
    assert formatter(locale_id, currency)(minor) == babel_money(minor, currency, Locale.parse(locale_id))


@pytest.mark.parametrize(
    ("locale_id", "currency", "minor", "text"),
    [
        ("fr_FR", "EUR", 174_950, "1\u202f749,50\xa0€"),
        ("en_GB", "GBP", 174_950, "£1,749.50"),
        ("ja_JP", "JPY", 1_234_567, "￥1,234,567"),
        ("en_IN", "INR", 123_456_789, "₹12,34,567.89"),  # grouping babel's way, not every three digits
    ],
)
def test_known_amounts(locale_id, currency, minor, text):
    assert formatter(locale_id, currency)(minor) == text
