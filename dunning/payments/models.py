"""A Checkout Session the portal opened at Stripe, and where it stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

OPEN, PROCESSING, PAID, FAILED, EXPIRED = "open", "processing", "paid", "failed", "expired"


class Checkout(SQLModel, table=True):
    __tablename__ = "payment_checkout"

    id: int | None = Field(default=None, primary_key=True)
    # A keyed hash of the customer, the invoices and their balances, and the day: the Checkout
    # Session's idempotency key (a second click opens the same session) and the reference in its
    # return addresses, which must not carry the portal link (dunning/payments/checkout.py).
    key: str = Field(max_length=64, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    link_version: int  # the customer's links when it was opened: the return addresses die with them
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    invoice_ids: list[int] = Field(sa_column=Column(JSON, nullable=False))
    session_id: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default=OPEN, max_length=12)
    provider_reference: str | None = Field(default=None, max_length=200)  # the PaymentIntent, once paid
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))
