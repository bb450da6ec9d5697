"""When a customer may be contacted: business days and the contact window, in their own time zone.

Everything here works on the customer's wall clock (zoneinfo, so DST is handled by the tz
database, not by us) and hands back UTC, the only time the rest of the service stores.

A window is anything with `.start` and `.end` (datetime.time), start inclusive, end exclusive,
both on the same day: the policy document's `contact.window` is one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays

UTC = UTC


class Window(Protocol):
    # Read-only members: the policy's ContactWindow is a frozen model.
    @property
    def start(self) -> time: ...

    @property
    def end(self) -> time: ...


@lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> frozenset[date]:
    # One holidays object per (country, year): building one costs a few milliseconds and the
    # simulation asks about the same few thousand days over and over.
    try:
        return frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:
        # A country the package does not know: weekends still count, holidays cannot.
        return frozenset()


def is_business_day(d: date, country: str | None) -> bool:
    if d.weekday() >= 5:
        return False
    return not country or d not in _holidays(country.upper(), d.year)


def business_day_on_or_after(d: date, country: str | None) -> date:
    """A deadline that falls on a weekend or public holiday moves to the next business day."""
    for _ in range(31):  # no country has a month without a business day
        if is_business_day(d, country):
            return d
        d += timedelta(days=1)
    raise ValueError(f"no business day within a month of {d.isoformat()} in {country}")


@lru_cache(maxsize=256)
def zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def local(at: datetime, tz: str) -> datetime:
    return at.astimezone(zone(tz))


def local_date(at: datetime, tz: str) -> date:
    return local(at, tz).date()


def in_window(at: datetime, tz: str, window: Window, business_days_only: bool, country: str | None) -> bool:
    wall = local(at, tz)
    if business_days_only and not is_business_day(wall.date(), country):
        return False
    return window.start <= wall.time() < window.end


@lru_cache(maxsize=65_536)  # the cycle asks for the same few days in the same few zones thousands of times
def wall_to_utc(day: date, at: time, tz: str) -> datetime:
    """The first instant whose local wall time is at or after `day at`.

    Usually that is simply `day at` in tz. When the wall time does not exist (the hour skipped
    when clocks go forward) it is the moment the clocks jumped; when it exists twice (clocks go
    back) it is the first of the two.
    """
    zi = zone(tz)
    wall = datetime.combine(day, at)
    candidates = []
    for fold in (0, 1):
        utc = wall.replace(tzinfo=zi, fold=fold).astimezone(UTC)
        if utc.astimezone(zi).replace(tzinfo=None) == wall:
            candidates.append(utc)
    if candidates:
        return min(candidates)
    # In the gap: the clocks jumped somewhere between the two readings of the wall time.
    # Transitions fall on whole seconds, so bisect on those.
    lo, hi = sorted(int(wall.replace(tzinfo=zi, fold=f).timestamp()) for f in (0, 1))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zi).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def start_of_day(day: date, tz: str) -> datetime:
    return wall_to_utc(day, time(0), tz)


def next_contact_time(
    earliest: datetime, tz: str, window: Window, business_days_only: bool, country: str | None
) -> datetime:
    """The first moment at or after `earliest` inside the window, on a business day if required."""
    return _next_contact_time(earliest, tz, window.start, window.end, business_days_only, country)


@lru_cache(maxsize=65_536)  # a first cycle asks for the same first open slot for thousands of new cases
def _next_contact_time(
    earliest: datetime, tz: str, start: time, end: time, business_days_only: bool, country: str | None
) -> datetime:
    earliest = earliest.astimezone(UTC)
    wall = local(earliest, tz)
    day = wall.date()
    # 400 days covers any run of weekends and holidays with room to spare; running out means the
    # window itself is impossible, which the policy validation already refuses.
    for _ in range(400):
        if not business_days_only or is_business_day(day, country):
            opens = wall_to_utc(day, start, tz)
            closes = wall_to_utc(day, end, tz)
            candidate = max(earliest, opens)
            if candidate < closes:
                return candidate
        day += timedelta(days=1)
    raise ValueError(f"no contact time within 400 days of {earliest.isoformat()} in {tz}")
