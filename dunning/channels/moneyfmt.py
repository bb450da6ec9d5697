"""Amounts as babel writes them, without asking babel each time.

A notice shows the same handful of amounts several times (each line in the text and the HTML,
the total in the subject too), for thousands of notices per dispatch run, and babel's
format_currency re-reads the locale's pattern and currency data on every call. Here that work is
done once per locale and currency: babel formats a probe amount, the prefix, suffix and
separators are read off its answer, and the result is checked against babel on more probes
before it is used. Locales whose rules this cannot express (grouping that is not every three
digits, a minimum of grouping digits, other numerals) keep calling babel.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision

PROBES = (0, 1, 5, 99, 100, 999, 1_000, 1_234, 9_999, 10_000, 123_456, 1_000_000, 12_345_678, 987_654_321_012)


def babel_money(minor: int, currency: str, locale: Locale) -> str:
    return format_currency(Decimal(minor).scaleb(-get_currency_precision(currency)), currency, locale=locale)


@lru_cache(maxsize=512)
def formatter(locale_id: str, currency: str) -> Callable[[int], str]:
    """minor units -> text, for one locale (e.g. "fr_FR") and currency."""
    locale = Locale.parse(locale_id)
    slow = lambda minor: babel_money(minor, currency, locale)  # noqa: E731
    fast = _compile(locale, currency)
    if fast is None or any(fast(p) != slow(p) for p in PROBES):
        return slow
    return lambda minor: fast(minor) if minor >= 0 else slow(minor)


def _compile(locale: Locale, currency: str) -> Callable[[int], str] | None:
    digits = get_currency_precision(currency)
    probe = 1_234_567 * 10**digits + (89 if digits == 2 else 0)
    text = babel_money(probe, currency, locale)
    positions = [i for i, ch in enumerate(text) if ch in "0123456789"]
    if not positions:
        return None
    prefix, number, suffix = text[: positions[0]], text[positions[0] : positions[-1] + 1], text[positions[-1] + 1 :]
    if len(number) < 9 or not number.startswith("1"):
        return None
    group = number[1]
    decimal = number[-3] if digits == 2 else ""
    if digits not in (0, 2) or group.isdigit():
        return None
    scale = 10**digits

    def fast(minor: int) -> str:
        whole, fraction = divmod(minor, scale)
        grouped = f"{whole:,}".replace(",", group)
        return f"{prefix}{grouped}{decimal}{fraction:02d}{suffix}" if digits else f"{prefix}{grouped}{suffix}"

    return fast
