"""Call sites for the outbound events (issue 15, item 2), connected when that work is merged."""
from __future__ import annotations

from sqlmodel import Session

from dunning.clock import Clock
from dunning.ledger.models import Payment


def payment_received(session: Session, clock: Clock, payment: Payment) -> None:
    """`payment.received`: an online payment was recorded in the ledger (a case it closes emits
    `case.closed` from the cycle). Nothing to do until the outbound events exist."""
