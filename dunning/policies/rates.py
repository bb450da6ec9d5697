"""Reference-rate histories: which central-bank rate was in force on which day, and how far we know.

The histories ship as data files beside this module (rate_data/<series>.csv), each naming its
source in its header. The team adds what the files don't have yet (a change announced after the
release, or a half-year that confirmed the rate unchanged) with `python main.py rates add`;
those rows are stored in the database (policies/rate_store.py) and laid over the shipped ones,
a stored row winning over a shipped one of the same date.

A history only answers for days it knows: up to the later of its last entry (for a series that
changes only on 1 January and 1 July, up to the end of that half-year) and the day its file
says it was last verified. A question about a later day raises MissingRate rather than assuming
nothing changed: a formal notice that states a wrong statutory rate exposes the creditor.

Pure: no database, no clock.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date

from dunning.errors import InvalidInput

RATE_DATA = Path(__file__).resolve().parent / "rate_data"
# Bounds for a rate someone types in: every reference rate since 1998 lies well inside them
# (the Basiszinssatz went down to -0.88 %, Bank Rate up to 7.50 %).
MIN_PERCENT, MAX_PERCENT = Decimal("-10"), Decimal("30")
MAX_PLACES = 3
EARLIEST = date(1997, 1, 1)


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def half_year_end(day: date) -> date:
    return date(day.year, 6, 30) if day.month <= 6 else date(day.year, 12, 31)


class MissingRate(InvalidInput):
    """A fee needs a rate for a day the history does not cover yet."""

    code = "missing_rate"

    def __init__(self, series: Series, on: date):
        self.series, self.on = series.key, on
        super().__init__(
            f"no {series.name} is known for {format_date(on, 'd MMMM y', locale='en')} (the history runs to "
            f"{format_date(series.known_through, 'd MMMM y', locale='en')}): add the rate in force that day with "
            f"`python main.py rates add {series.key} RATE --from {on.isoformat()}`, even if it did not change"
        )

    @property
    def key(self) -> str:
        """One task per missing rate, however many notices wait for it."""
        return f"rate_missing:{self.series}:{self.on.isoformat()}"


@dataclass(frozen=True)
class Entry:
    effective_on: date
    percent: Decimal
    origin: str = "shipped"  # shipped | added


@dataclass(frozen=True)
class Series:
    key: str  # ecb_mro, boe_bank_rate, de_basiszinssatz
    name: str
    source: str
    half_yearly: bool  # changes only on 1 January and 1 July
    entries: tuple[Entry, ...]  # by date, one per date
    verified_through: date | None = None

    @property
    def known_through(self) -> date:
        last = self.entries[-1].effective_on
        if self.half_yearly:
            last = half_year_end(last)
        return max(last, self.verified_through or last)

    def in_force(self, on: date) -> Decimal:
        if on < self.entries[0].effective_on or on > self.known_through:
            raise MissingRate(self, on)
        i = bisect_right([e.effective_on for e in self.entries], on) - 1
        return self.entries[i].percent

    def with_entries(self, added: Iterable[Entry]) -> Series:
        merged = {e.effective_on: e for e in self.entries}
        merged.update({e.effective_on: e for e in added})
        return replace(self, entries=tuple(merged[d] for d in sorted(merged)))


@dataclass(frozen=True)
class RateBook:
    series: dict[str, Series]

    def __getitem__(self, key: str) -> Series:
        return self.series[key]

    def in_force(self, key: str, on: date) -> Decimal:
        return self.series[key].in_force(on)

    def with_added(self, rows: Iterable[tuple[str, date, Decimal]]) -> RateBook:
        """The shipped book with the database's rows laid over it (unknown series are ignored)."""
        by_series: dict[str, list[Entry]] = {}
        for key, effective_on, percent in rows:
            by_series.setdefault(key, []).append(Entry(effective_on, Decimal(percent), "added"))
        return RateBook({key: s.with_entries(by_series.get(key, ())) for key, s in self.series.items()})


def check_percent(value: str | Decimal) -> Decimal:
    try:
        percent = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"'{value}' is not a number: give the rate in percent, e.g. 2.15") from None
    if not percent.is_finite() or not MIN_PERCENT <= percent <= MAX_PERCENT:
        raise InvalidInput(f"a reference rate lies between {MIN_PERCENT} and {MAX_PERCENT} percent, not {value}")
    exponent = percent.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite number's ("n", "N", "F" are NaN and infinity)
    if -exponent > MAX_PLACES:
        raise InvalidInput(f"a reference rate has at most {MAX_PLACES} decimals, not {value}")
    return percent


def _read(path: Path) -> Series:
    header: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    last_key = None
    for line in lines:
        if not line.startswith("#"):
            continue
        text = line[1:].strip()
        if line.startswith("#   ") and last_key:  # a continued header value
            header[last_key] += " " + text
        elif ":" in text and not text.startswith("("):
            last_key, _, value = text.partition(":")
            last_key = last_key.strip()
            header[last_key] = value.strip()
    rows = csv.DictReader(line for line in lines if line and not line.startswith("#"))
    entries = tuple(Entry(date.fromisoformat(r["effective_on"]), check_percent(r["percent"])) for r in rows)
    if not entries or list(entries) != sorted(entries, key=lambda e: e.effective_on):
        raise ValueError(f"{path.name}: entries must be present and in date order")
    verified = header.get("verified_through")
    return Series(
        key=header["series"],
        name=header["name"],
        source=header["source"],
        half_yearly=header.get("changes") == "half-yearly",
        entries=entries,
        verified_through=date.fromisoformat(verified) if verified else None,
    )


@lru_cache(maxsize=1)
def shipped() -> RateBook:
    series = [_read(path) for path in sorted(RATE_DATA.glob("*.csv"))]
    return RateBook({s.key: s for s in series})
