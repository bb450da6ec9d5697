"""Money as integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

# Bounds that keep every sum in 64 bits (README "Input bounds"):
# - one amount is below 10^15 minor units (EUR 9,999,999,999,999.99), far above any real invoice;
# - within one customer and currency, the open balances of 10^9 minor units (EUR 10,000,000.00) or
#   more add up to at most 10^18 (checked at ingest, only for accounts a batch gives such a balance,
#   so ordinary batches pay nothing for it).
# Any sum within an account (its open balance, a notice's total, a plan, a promise) is then below
# 10^18 + n * 10^9, which fits a signed 64-bit integer for any n below 2^31 invoices. Sums across
# customers and sums of payments have no such bound and are computed exactly (db.exact_sum).
MAX_MINOR = 10**15
LARGE_MINOR = 10**9
MAX_ACCOUNT = 10**18
# An amount's text is at most this long, checked before anything else reads it.
MAX_AMOUNT_LENGTH = 40
GRAMMAR = "digits, optionally a '.' and decimals, optionally a leading '-' (e.g. 1234.50)"


@lru_cache
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=1024)  # a batch names the same few codes thousands of times; refusals raise, so aren't kept
def check_currency(code: str) -> str:
    code = code.strip().upper()
    if code not in known_currencies():
        raise ValueError(f"'{code}' is not an ISO 4217 currency code")
    return code


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    return get_currency_precision(currency)


def to_minor(amount: Decimal | int | float | str, currency: str) -> int:
    """Minor units, exactly, or ValueError: more decimals than the currency has is refused, never
    rounded, and the size of what is given is checked before any number is built from it.

    Text follows one strict grammar (GRAMMAR): no '+', exponent, separator ('1_000', '1,000'),
    inner space or non-ASCII digit ('１０'), each of which some system reads differently; and
    "1e999990" would have built a million-digit integer."""
    if isinstance(amount, str):
        text, negative, whole, fraction = _parts(amount)
        places = exponent(currency)
        fraction = fraction.rstrip("0")
        if len(fraction) > places:
            raise ValueError(f"{currency} has {places} decimal places; '{text}' has more")
        minor = int(whole + fraction.ljust(places, "0"))
        if minor >= MAX_MINOR:
            raise ValueError(_too_large(currency))
        return -minor if negative else minor
    if isinstance(amount, bool):
        raise ValueError(f"{amount} is not an amount")
    if isinstance(amount, int):
        if abs(amount) >= MAX_MINOR:  # before turning it into text: the integer may be of any size
            raise ValueError(_too_large(currency))
        return to_minor(str(amount), currency)
    if isinstance(amount, float):
        # a float says no more than its shortest repr ("0.1"); one that needs an exponent is refused
        return to_minor(repr(amount), currency)
    if isinstance(amount, Decimal):
        # an exact JSON number: digits and exponent bounded before its text is built, so that
        # Decimal("1E+999999") costs nothing
        if not amount.is_finite():
            raise ValueError("an amount must be a finite number")
        _, digits, exp = amount.as_tuple()
        assert isinstance(exp, int)  # a finite number's exponent ("n", "N", "F" are NaN and infinity)
        if exp > MAX_AMOUNT_LENGTH:
            raise ValueError(_too_large(currency))
        if len(digits) > MAX_AMOUNT_LENGTH or exp < -MAX_AMOUNT_LENGTH:
            raise ValueError(f"{amount} is too long for an amount (at most {MAX_AMOUNT_LENGTH} digits)")
        return to_minor(f"{amount:f}", currency)
    raise ValueError(f"{type(amount).__name__} is not an amount")


def _parts(amount: str) -> tuple[str, bool, str, str]:
    """An amount's text by GRAMMAR: (the text, negative, whole digits, decimals), or ValueError."""
    text = amount.strip() if len(amount) <= 2 * MAX_AMOUNT_LENGTH else amount
    negative = text[:1] == "-"
    # str methods rather than a regular expression: a batch has ten thousand amounts
    whole, dot, fraction = (text[1:] if negative else text).partition(".")
    if not (
        len(text) <= MAX_AMOUNT_LENGTH
        and whole.isdigit()
        and whole.isascii()
        and (not dot or fraction.isdigit() and fraction.isascii())
    ):
        if len(text) > MAX_AMOUNT_LENGTH:
            raise ValueError(
                f"'{text[:MAX_AMOUNT_LENGTH]}...' is too long for an amount (at most {MAX_AMOUNT_LENGTH} characters)"
            )
        raise ValueError(f"'{text}' is not an amount: write {GRAMMAR}")
    return text, negative, whole, fraction


def check_grammar(amount: object) -> None:
    """What can be said of an amount whose currency is unknown: its text follows GRAMMAR
    (ValueError worded as to_minor words it). Decimal places and size need the currency."""
    if isinstance(amount, str):
        _parts(amount)


def _too_large(currency: str) -> str:
    return f"amount is too large: at most {as_string(MAX_MINOR - 1, currency)} {currency}"


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def as_string(minor: int, currency: str) -> str:
    """The API's representation: a decimal string with the currency's places ("12.50")."""
    return f"{from_minor(minor, currency):.{exponent(currency)}f}"


def with_code(minor: int, currency: str) -> str:
    """For reasons in the audit log and messages to the team: "1,234.50 EUR", the same everywhere."""
    return f"{from_minor(minor, currency):,.{exponent(currency)}f} {currency}"


def display(minor: int, currency: str, locale: str = "en") -> str:
    return format_currency(from_minor(minor, currency), currency, locale=locale)
