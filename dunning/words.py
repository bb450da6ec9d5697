"""Counts and days in words, for everything people read (the desk, API messages, tasks, the
command line): "1 invoice" and "2 invoices", "1 of the customers was refused" and "2 of them
were", "Mon 7 Dec 2026". English plural rules come from babel's CLDR data, so 0 is plural as
people say it ("0 invoices")."""

from __future__ import annotations

from datetime import date

from babel import Locale
from babel.dates import format_date

ENGLISH = Locale("en")


def one(count: int) -> bool:
    return ENGLISH.plural_form(abs(count)) == "one"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 invoice', '2 invoices', '3 replies' (with plural_form='replies'), '1,200 messages'."""
    return f"{count:,} {singular if one(count) else plural_form or singular + 's'}"


def agree(count: int, singular: str, plural_form: str) -> str:
    """The word that agrees with a count: agree(n, 'was', 'were')."""
    return singular if one(count) else plural_form


def refused(count: int, what: str) -> str:
    """How a refused batch is summed up: '1 of the customers was refused; nothing was written'."""
    return f"{count:,} of the {what} {agree(count, 'was', 'were')} refused; nothing was written"


def weekday(day: date | None) -> str:
    """'Mon 7 Dec 2026': the weekday is what tells a Sunday due date from the Monday it goes out."""
    return "—" if day is None else format_date(day, "EEE d MMM y", locale=ENGLISH)
