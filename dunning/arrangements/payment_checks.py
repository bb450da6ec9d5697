""" "I already paid": the case pauses for a few days so the payment can reach the ledger, and a
person checks. If it arrives the cycle closes the case; if not, reminders resume when the pause
ends, and the task tells the team to look for the money."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from dunning.arrangements import accounts
from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.config import Settings
from dunning.ledger.models import Customer
from dunning.policies import calendar

REASON = "payment_check"


def hold(session: Session, clock: Clock, settings: Settings, case: Case, customer: Customer, actor: str) -> bool:
    # Until the end of the customer's day, N days on: a bank transfer takes working days, not hours.
    last_day = accounts.local_today(clock, customer) + timedelta(days=settings.already_paid_pause_days)
    until = calendar.start_of_day(last_day + timedelta(days=1), customer.timezone)
    return accounts.pause_case(session, clock, case, reason=REASON, until=until, actor=actor)


def end_pauses(session: Session, clock: Clock) -> list[Case]:
    return accounts.end_pauses(
        session, clock, reason=REASON, why="no payment arrived while the customer's payment was checked"
    )
