"""Promises to pay, installment plans and disputes: what pauses a case, and what resumes it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

# A partial index over the rows still open, the same on both databases.
ONLY_OPEN = {"sqlite_where": text("status = 'open'"), "postgresql_where": text("status = 'open'")}


class Dispute(SQLModel, table=True):
    # At most one open dispute per invoice, whoever opens it at the same moment.
    __table_args__ = (Index("uq_dispute_open_invoice", "invoice_id", unique=True, **ONLY_OPEN),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    status: str = Field(default="open", max_length=10, index=True)  # open | resolved
    reason_code: str = Field(max_length=40)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source: str = Field(max_length=20)  # api | sms | email | portal | desk
    outcome: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    respond_by: date | None = None
    task_id: int | None = Field(default=None, foreign_key="task.id")
    opened_by: str | None = Field(default=None, max_length=200)
    opened_at: datetime = Field(sa_column=utc_column(nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_by: str | None = Field(default=None, max_length=200)


class Promise(SQLModel, table=True):
    # At most one open promise per account (a customer in one currency, which is what a case is):
    # a new promise replaces the open one.
    __table_args__ = (Index("uq_promise_open_account", "customer_id", "currency", unique=True, **ONLY_OPEN),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="dunning_case.id")
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    promised_on: date
    grace_until: date
    # open | kept | broken | cancelled (replaced by a newer promise, or withdrawn by the team)
    status: str = Field(default="open", max_length=10, index=True)
    source: str = Field(max_length=20)
    # False when the customer had already broken policy.promises.max_broken promises: the promise
    # is on record, but the case keeps going.
    pauses_case: bool = True
    # Payments (not credit notes) of this customer and currency received on or after this day (the
    # customer's local day the promise was made) count towards it; `paid_minor` is that sum at the
    # last check.
    counted_from: date
    paid_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    settled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class InstallmentPlan(SQLModel, table=True):
    __tablename__ = "installment_plan"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="dunning_case.id")
    currency: str = Field(max_length=3)
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    # active | completed | defaulted | cancelled
    status: str = Field(default="active", max_length=10, index=True)
    source: str = Field(max_length=20)
    # the channel reminders and notices go out on (the one the customer arranged the plan on)
    channel: str | None = Field(default=None, max_length=10)
    # the policy bounds were knowingly set aside by a person (API only)
    outside_policy: bool = False
    invoice_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # as for promises: payments received from this local day on pay the installments, in order
    counted_from: date
    paid_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Installment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="installment_plan.id", index=True)
    number: int  # 1-based, in date order
    due_on: date
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    paid_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="due", max_length=10)  # due | paid | missed
    paid_on: date | None = None
