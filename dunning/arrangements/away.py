"""An out-of-office reply with a return date: the case waits until the day after it.

Nothing else is read into an autoreply; the pause ends by itself (the hourly job), and a pause a
person or another arrangement set is left alone (`accounts.pause_case`)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from dunning.arrangements import accounts
from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.ledger.models import Customer
from dunning.policies import calendar

REASON = "away"


def hold(session: Session, clock: Clock, case: Case, customer: Customer, back_on: date, actor: str) -> bool:
    # The whole return day is theirs to catch up: contact resumes the customer's next morning.
    until = calendar.start_of_day(back_on + timedelta(days=1), customer.timezone)
    return accounts.pause_case(session, clock, case, reason=REASON, until=until, actor=actor)


def end_pauses(session: Session, clock: Clock) -> list[Case]:
    return accounts.end_pauses(
        session, clock, reason=REASON, why="the customer is back from the absence their autoreply gave"
    )
