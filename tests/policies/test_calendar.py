from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from dunning.policies import calendar
from dunning.policies.calendar import in_window, is_business_day, next_contact_time, wall_to_utc
from dunning.policies.document import ContactWindow

WINDOW = ContactWindow(start="08:00", end="21:00")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "day, country, expected",
    [
        (date(2025, 7, 14), "FR", False),  # Bastille Day, a Monday
        (date(2025, 7, 14), "GB", True),
        (date(2025, 5, 26), "GB", False),  # spring bank holiday
        # Country-wide holidays only: Easter Monday is not one in Scotland, so not for "GB".
        (date(2025, 4, 21), "GB", True),
        (date(2025, 7, 4), "US", False),
        (date(2025, 7, 12), "US", False),  # Saturday
        (date(2025, 7, 13), None, False),  # Sunday, country unknown
        (date(2025, 7, 14), None, True),
        (date(2025, 7, 14), "ZZ", True),  # a country the holidays package does not know
        (date(2025, 7, 14), "fr", False),
    ],
)
def test_business_days(day, country, expected):
    assert is_business_day(day, country) is expected


def test_holidays_are_built_once_per_country_and_year():
    calendar._holidays.cache_clear()
    for d in range(1, 28):
        is_business_day(date(2026, 2, d), "DE")
    info = calendar._holidays.cache_info()
    assert info.misses == 1 and info.hits > 10


@pytest.mark.parametrize(
    "earliest, expected",
    [
        (utc(2025, 3, 12, 5), utc(2025, 3, 12, 7)),  # 06:00 Paris: opens at 08:00
        (utc(2025, 3, 12, 10, 30), utc(2025, 3, 12, 10, 30)),  # inside: unchanged
        (utc(2025, 3, 12, 20), utc(2025, 3, 13, 7)),  # 21:00 Paris: the end is exclusive
        (utc(2025, 3, 14, 20, 30), utc(2025, 3, 17, 7)),  # Friday night: Monday
        (utc(2025, 3, 28, 21), utc(2025, 3, 31, 6)),  # across the spring change: 08:00 CEST = 06:00 UTC
        (utc(2025, 10, 24, 20), utc(2025, 10, 27, 7)),  # across the autumn change: 08:00 CET = 07:00 UTC
        (utc(2025, 7, 13, 12), utc(2025, 7, 15, 6)),  # Sunday, then Bastille Day
    ],
)
def test_next_contact_time_in_paris(earliest, expected):
    got = next_contact_time(earliest, "Europe/Paris", WINDOW, True, "FR")
    assert got == expected
    assert in_window(got, "Europe/Paris", WINDOW, True, "FR")


def test_weekends_allowed_when_business_days_only_is_off():
    assert next_contact_time(utc(2025, 3, 15, 3), "Europe/Paris", WINDOW, False, "FR") == utc(2025, 3, 15, 7)


def test_new_york_and_sydney_wall_clocks():
    # Friday 22:00 EST; New York switches on Sunday 9 March: Monday 08:00 EDT is 12:00 UTC.
    assert next_contact_time(utc(2025, 3, 8, 3), "America/New_York", WINDOW, True, "US") == utc(2025, 3, 10, 12)
    # Sydney is ahead: 23:00 UTC Sunday is already Monday morning there, before 08:00.
    assert next_contact_time(utc(2025, 6, 15, 20), "Australia/Sydney", WINDOW, True, "AU") == utc(2025, 6, 15, 22)


def test_in_window_boundaries():
    tz = "Europe/London"
    assert in_window(utc(2025, 6, 2, 7), tz, WINDOW, True, "GB")  # 08:00 BST
    assert not in_window(utc(2025, 6, 2, 6, 59), tz, WINDOW, True, "GB")
    assert not in_window(utc(2025, 6, 2, 20), tz, WINDOW, True, "GB")  # 21:00 BST
    assert not in_window(utc(2025, 5, 26, 12), tz, WINDOW, True, "GB")  # spring bank holiday
    assert in_window(utc(2025, 5, 26, 12), tz, WINDOW, False, "GB")


def test_a_window_opening_inside_the_spring_gap_opens_when_the_clocks_jump():
    early = ContactWindow(start="02:30", end="05:00")
    # Sunday 30 March 2025 in Paris, 02:00 -> 03:00: 02:30 never happens; 03:00 CEST is 01:00 UTC.
    assert wall_to_utc(date(2025, 3, 30), time(2, 30), "Europe/Paris") == utc(2025, 3, 30, 1)
    assert next_contact_time(utc(2025, 3, 29, 23), "Europe/Paris", early, False, None) == utc(2025, 3, 30, 1)


def test_an_ambiguous_autumn_time_takes_the_first_occurrence():
    # 26 October 2025, 02:30 happens twice in Paris: first at 00:30 UTC (CEST), then 01:30 UTC (CET).
    assert wall_to_utc(date(2025, 10, 26), time(2, 30), "Europe/Paris") == utc(2025, 10, 26, 0, 30)


def test_every_answer_is_inside_the_window_and_not_before_earliest():
    start = utc(2025, 1, 1)
    for hours in range(0, 24 * 400, 7):
        earliest = start + timedelta(hours=hours)
        for tz, country in (("Europe/Paris", "FR"), ("America/New_York", "US"), ("Asia/Tokyo", "JP")):
            got = next_contact_time(earliest, tz, WINDOW, True, country)
            assert got >= earliest
            assert in_window(got, tz, WINDOW, True, country)
            # and it is the first such moment: a minute earlier is either before `earliest` or outside
            before = got - timedelta(minutes=1)
            assert before < earliest or not in_window(before, tz, WINDOW, True, country)
