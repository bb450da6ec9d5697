"""Promises to pay, installment plans and disputes: what pauses a case, and what resumes it."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from dunning.db import utc_column


class Dispute(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    status: str = Field(default="open", max_length=10, index=True)  # open | resolved
    reason_code: str = Field(max_length=40)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source: str = Field(max_length=20)  # api | sms | email | portal | desk
    outcome: str | None = Field(default=None, max_length=40)
    respond_by: date | None = None
    opened_at: datetime = Field(sa_column=utc_column(nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_by: str | None = Field(default=None, max_length=200)


class Promise(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="dunning_case.id")
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    promised_on: date
    grace_until: date
    status: str = Field(default="open", max_length=10, index=True)  # open | kept | broken | cancelled
    source: str = Field(max_length=20)
    paid_minor_at_promise: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    settled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
