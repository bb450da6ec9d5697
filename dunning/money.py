"""Money as integer minor units plus an ISO 4217 code; never floats."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

MAX_MINOR = 10**15  # fits BIGINT with room for sums; far above any real invoice


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
    """Refuses more decimals than the currency has rather than rounding someone's money."""
    if isinstance(amount, str):
        # "1234.50", the usual shape, without building a Decimal (a batch has ten thousand of them);
        # anything else (a sign, an exponent, "½") takes the Decimal path below
        amount = amount.strip()
        whole, _, fraction = amount.partition(".")
        if 0 < len(whole) <= 15 and whole.isascii() and whole.isdigit() and (
                not fraction or fraction.isascii() and fraction.isdigit()):
            fraction = fraction.rstrip("0")
            places = exponent(currency)
            if len(fraction) > places:
                raise ValueError(f"{currency} has {places} decimal places; '{amount}' has more")
            minor = int(whole + fraction.ljust(places, "0"))
            if minor >= MAX_MINOR:
                raise ValueError("amount is too large")
            return minor
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"'{amount}' is not a number") from None
    if not value.is_finite():
        raise ValueError("amount must be a finite number")
    places = exponent(currency)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} has {places} decimal places; '{amount}' has more")
    minor = int(scaled)
    if abs(minor) >= MAX_MINOR:
        raise ValueError("amount is too large")
    return minor


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
