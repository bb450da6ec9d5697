"""What a policy would send over the next days, to whom, by which channel and when: the engine's
own simulation over the cases as they are now, written nowhere."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field
from sqlmodel import Session

from dunning.cases.cycle import Cycle
from dunning.clock import Clock
from dunning.config import Settings
from dunning.money import as_string
from dunning.policies import calendar, engine, service


class PreviewRow(BaseModel):
    customer_external_id: str
    customer_name: str
    currency: str
    send_at: datetime
    send_on: date = Field(description="the day it goes out in the customer's calendar")
    timezone: str
    step: str
    step_name: str
    kind: str
    channels: list[str]
    to: list[str] = Field(description="the contacts it writes to, by name (the step's `to` roles)")
    cc: list[str] = Field(description="the contacts in copy (the step's `cc` roles)")
    requires_approval: bool
    amount: str
    invoices: list[str]


def preview(
    session: Session, clock: Clock, settings: Settings, name: str, document: str | None, days: int
) -> list[PreviewRow]:
    policy = service.validate(name, document) if document else service.policy_for(session, name)
    rows = []
    nested = session.begin_nested()  # the cycle opens cases as it goes; none of that is kept
    try:
        cycle = Cycle(session, clock, settings)
        for _case, customer, view, customer_policy, _risk in cycle.views():
            if customer_policy.name != policy.name:
                continue
            try:
                sends = engine.preview([view], policy, clock.now(), days, clock.now())
            except Exception:  # a case the engine cannot decide: the cycle records it, the preview goes on
                continue
            for send in sends:
                tz = view.customer.tz
                rows.append(
                    PreviewRow(
                        customer_external_id=customer.external_id,
                        customer_name=customer.name,
                        currency=send.currency,
                        send_at=send.send_at,
                        send_on=calendar.local_date(send.send_at, tz),
                        timezone=tz,
                        step=send.step.key,
                        step_name=send.step.name,
                        kind=send.kind,
                        channels=list(send.channels),
                        to=list(send.to),
                        cc=list(send.cc),
                        requires_approval=send.requires_approval,
                        amount=as_string(send.amount_minor, send.currency),
                        invoices=list(send.invoice_numbers),
                    )
                )
    finally:
        nested.rollback()
    return sorted(rows, key=lambda r: (r.send_at, r.customer_external_id))
