"""Publishing an event about one case (the cycle publishes its own in bulk)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from dunning.cases.models import Case
from dunning.clock import Clock
from dunning.events.publish import publish
from dunning.ledger.models import Customer


def publish_for_case(session: Session, clock: Clock, event_type: str, case: Case, **data: Any) -> None:
    customer = session.execute(select(col(Customer.external_id)).where(col(Customer.id) == case.customer_id)).scalar()
    publish(
        session,
        clock,
        event_type,
        customer_id=case.customer_id,
        case_id=case.id,
        customer=customer,
        currency=case.currency,
        **data,
    )
