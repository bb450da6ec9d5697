"""Reference rates the team adds (`python main.py rates add`), laid over the shipped histories;
which series lack the current half-year; the one task per missing rate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.driver import insert_for
from dunning.errors import InvalidInput
from dunning.policies.law import RULES
from dunning.policies.models import ReferenceRate
from dunning.policies.rates import EARLIEST, MissingRate, RateBook, check_percent, half_year_start, shipped
from dunning.tasks.models import Task
from dunning.tasks.service import close

log = logging.getLogger(__name__)
TASK_KIND = "rate_missing"
# How far ahead a rate may be entered: central banks announce a change days before it applies,
# the Bundesbank its half-yearly rate a week before.
MAX_DAYS_AHEAD = 366


def load_book(session: Session) -> RateBook:
    rows = session.execute(
        select(col(ReferenceRate.series), col(ReferenceRate.effective_on), col(ReferenceRate.percent))
    ).all()
    return shipped().with_added(rows)


@dataclass(frozen=True)
class Added:
    series: str
    effective_on: date
    percent: Decimal
    previous: Decimal | None  # what the stored row said before, when it replaced one
    tasks_closed: int


def add(
    session: Session, clock: Clock, *, series: str, percent: str | Decimal, effective_on: date, actor: str
) -> Added:
    """Store (or correct) the rate of `series` from `effective_on`, audited; close the tasks that
    asked for it."""
    book = shipped()
    if series not in book.series:
        raise InvalidInput(f"unknown series '{series}': one of {', '.join(sorted(book.series))}")
    value = check_percent(percent)
    today = clock.now().date()
    if not EARLIEST <= effective_on <= date.fromordinal(today.toordinal() + MAX_DAYS_AHEAD):
        raise InvalidInput(f"--from must lie between {EARLIEST.isoformat()} and a year from today")
    if book[series].half_yearly and effective_on != half_year_start(effective_on):
        raise InvalidInput(f"{book[series].name} changes only on 1 January and 1 July")
    previous = session.execute(
        select(col(ReferenceRate.percent)).where(
            col(ReferenceRate.series) == series, col(ReferenceRate.effective_on) == effective_on
        )
    ).scalar_one_or_none()
    # An upsert: two people entering the same rate at once both succeed, the last one stands.
    values = {
        "series": series,
        "effective_on": effective_on,
        "percent": str(value),
        "created_by": actor,
        "created_at": clock.now(),
    }
    session.execute(
        insert_for(session, ReferenceRate.__table__)  # type: ignore[attr-defined]  # SQLModel sets it, undeclared
        .values(**values)
        .on_conflict_do_update(
            index_elements=["series", "effective_on"],
            set_={k: values[k] for k in ("percent", "created_by", "created_at")},
        )
    )
    audit.record(
        session,
        clock,
        actor=actor,
        action="rate.added" if previous is None else "rate.corrected",
        subject_type="reference_rate",
        subject_id=f"{series}:{effective_on.isoformat()}",
        percent=str(value),
        previous=previous,
    )
    closed = close_answered_tasks(session, clock, load_book(session), actor)
    return Added(series, effective_on, value, Decimal(previous) if previous is not None else None, closed)


def close_answered_tasks(session: Session, clock: Clock, book: RateBook, actor: str) -> int:
    """Mark done the missing-rate tasks whose rate the book now knows."""
    closed = 0
    for task in session.execute(select(Task).where(col(Task.kind) == TASK_KIND, col(Task.status) == "open")).scalars():
        try:
            book.in_force(task.data["series"], date.fromisoformat(task.data["on"]))
        except MissingRate:
            continue
        close(session, clock, task, actor)
        closed += 1
    return closed


def missing_task(missing: MissingRate) -> dict[str, Any]:
    """The task asking for a missing rate (tasks.service.open_task's arguments): one per rate, by
    its key, however many notices wait for it."""
    return dict(
        kind=TASK_KIND,
        key=missing.key,
        title=f"Add the {missing.series} rate in force on {missing.on.isoformat()}",
        detail=f"Notices that claim statutory fees wait for it. {missing.message}",
        series=missing.series,
        on=missing.on.isoformat(),
    )


def gaps(book: RateBook, today: date) -> list[MissingRate]:
    """The rates a debt running late today would need and that the histories don't have: every
    rule's reference for the current half-year."""
    found: dict[str, MissingRate] = {}
    for rule in RULES.values():
        try:
            rule.periods(today, today, next(iter(rule.margins)), book)
        except MissingRate as missing:
            found.setdefault(missing.key, missing)
    return list(found.values())


def warn_gaps(session: Session, clock: Clock) -> list[MissingRate]:
    missing = gaps(load_book(session), clock.now().date())
    for m in missing:
        log.warning("reference rate missing for the current half-year: %s", m.message)
    return missing
