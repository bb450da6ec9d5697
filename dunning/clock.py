"""The injected clock.

Everything that needs "now" asks a Clock, never datetime.now(): tests and simulations move
time across months in milliseconds, and `run-cycle --now` replays a given moment.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def today(clock: Clock) -> date:
    return clock.now().date()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to. Thread-safe, since the API runs sync routes in threads."""

    def __init__(self, at: datetime):
        self._lock = threading.Lock()
        self._now = as_utc(at)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = as_utc(at)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now


def as_utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)
