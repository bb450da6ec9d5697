from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from dunning import bounds
from dunning.bounds import Day
from dunning.inputs import Input
from dunning.ledger.schemas import Amount
from dunning.money import as_string, check_currency

Source = Literal["api", "portal", "desk"]
Notify = Literal["email", "sms"]


class _In(Input):
    pass


class _Currency(_In):
    currency: bounds.line(10)

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        return check_currency(v)


class PromiseIn(_Currency):
    amount: Amount
    date: Day = Field(description="the day the customer will pay, in their time zone")
    source: Source = "api"
    notify: Notify | None = Field(None, description="confirm the promise to the customer on this channel")


class PromiseOut(BaseModel):
    id: int
    currency: str
    amount: str
    promised_on: date
    grace_until: date
    status: str
    source: str
    pauses_case: bool
    paid: str
    created_at: datetime
    settled_at: datetime | None

    @classmethod
    def of(cls, p) -> PromiseOut:
        return cls(
            id=p.id,
            currency=p.currency,
            amount=as_string(p.amount_minor, p.currency),
            promised_on=p.promised_on,
            grace_until=p.grace_until,
            status=p.status,
            source=p.source,
            pauses_case=p.pauses_case,
            paid=as_string(p.paid_minor, p.currency),
            created_at=p.created_at,
            settled_at=p.settled_at,
        )


class InstallmentIn(_In):
    due_on: Day
    amount: Amount


class PlanIn(_Currency):
    installments: list[InstallmentIn] = Field(min_length=1, max_length=60)
    source: Source = "api"
    outside_policy: bool = Field(False, description="a person sets the policy's bounds aside (audited)")
    notify: Notify | None = Field(None, description="confirm the plan, and send its reminders, on this channel")


class InstallmentOut(BaseModel):
    number: int
    due_on: date
    amount: str
    paid: str
    status: str
    paid_on: date | None


class PlanOut(BaseModel):
    id: int
    currency: str
    total: str
    paid: str
    status: str
    source: str
    outside_policy: bool
    installments: list[InstallmentOut]
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, plan, rows) -> PlanOut:
        c = plan.currency
        return cls(
            id=plan.id,
            currency=c,
            total=as_string(plan.total_minor, c),
            paid=as_string(plan.paid_minor, c),
            status=plan.status,
            source=plan.source,
            outside_policy=plan.outside_policy,
            created_at=plan.created_at,
            ended_at=plan.ended_at,
            installments=[
                InstallmentOut(
                    number=r.number,
                    due_on=r.due_on,
                    amount=as_string(r.amount_minor, c),
                    paid=as_string(r.paid_minor, c),
                    status=r.status,
                    paid_on=r.paid_on,
                )
                for r in rows
            ],
        )


class DisputeIn(_In):
    reason_code: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9_]+$",
        description="e.g. not_received, wrong_amount, not_ordered, quality",
    )
    text: bounds.text(10_000) | None = None
    source: Source = "api"


class ResolveIn(_In):
    outcome: Literal["upheld", "rejected", "withdrawn"]
    note: bounds.text(10_000) | None = None


class DisputeOut(BaseModel):
    id: int
    invoice_external_id: str
    status: str
    reason_code: str
    text: str | None
    source: str
    respond_by: date | None
    outcome: str | None
    note: str | None
    task_id: int | None
    opened_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def of(cls, d, invoice_external_id: str) -> DisputeOut:
        return cls(
            id=d.id,
            invoice_external_id=invoice_external_id,
            status=d.status,
            reason_code=d.reason_code,
            text=d.text,
            source=d.source,
            respond_by=d.respond_by,
            outcome=d.outcome,
            note=d.note,
            task_id=d.task_id,
            opened_at=d.opened_at,
            resolved_at=d.resolved_at,
            resolved_by=d.resolved_by,
        )
