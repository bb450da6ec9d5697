from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.money import MAX_MINOR, as_string, to_minor


@given(
    st.decimals(
        min_value=Decimal("-99999999999"),
        max_value=Decimal("99999999999"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    ),
    st.sampled_from(["EUR", "JPY", "BHD", "USD"]),
)
def test_the_fast_path_for_plain_strings_agrees_with_decimal(amount, currency):
    text = f"{amount:f}"
    try:
        expected = to_minor(Decimal(text), currency)
    except ValueError:
        with pytest.raises(ValueError):
            to_minor(text, currency)
    else:
        assert to_minor(text, currency) == expected


@pytest.mark.parametrize("text", ["1e3x", "", "1.2.3", "abc", "--1"])
def test_what_is_not_a_number_is_refused(text):
    with pytest.raises(ValueError):
        to_minor(text, "EUR")


def test_limits_and_round_trip():
    with pytest.raises(ValueError, match="too large"):
        to_minor(str(MAX_MINOR), "EUR")
    assert as_string(to_minor("1234.5", "EUR"), "EUR") == "1234.50"
    assert to_minor("1234", "JPY") == 1234
