"""Customers, invoices, payments and credit notes as pushed by accounting systems.

Money is integer minor units with its ISO 4217 code. Every pushed record carries the sender's
`external_id` and a `content_hash` of what was pushed, so a replayed record is recognised as
unchanged without comparing columns one by one, and is not written again.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dunning.db import utc_column


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, index=True)
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    language: str = Field(default="en", max_length=20)
    timezone: str = Field(default="UTC", max_length=64)
    country: str | None = Field(default=None, max_length=2)
    kind: str = Field(default="business", max_length=10)
    address: str | None = Field(default=None, max_length=1000)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=32)
    # Set by the collections team, never by a push: an upsert leaves them alone.
    policy_name: str | None = Field(default=None, max_length=100)
    hold_until: date | None = None
    excluded: bool = False
    refused_channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # email, phone and address are the contact keyed "primary" (dunning/contacts): a bad address
    # is marked on that contact, not here.
    # Carried by every portal and unsubscribe link; moving it on (a new email, phone or address, or
    # "Revoke links" at the desk) makes the links sent before it worthless (dunning/links.py).
    link_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class Invoice(SQLModel, table=True):
    __table_args__ = (Index("ix_invoice_customer_currency", "customer_id", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, index=True)
    customer_id: int = Field(foreign_key="customer.id")
    number: str = Field(max_length=100)
    currency: str = Field(max_length=3)
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    # What the accounting system says is open, what our payments and credit notes took off it, and
    # the open balance we act on: the smaller of the two views, so that a payment the sender
    # already netted into its balance is never counted twice.
    reported_balance_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    allocated_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    balance_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    issued_on: date
    due_on: date = Field(index=True)
    paid_on: date | None = None
    voided: bool = False
    content_hash: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class Payment(SQLModel, table=True):
    """A payment or a credit note: both take money off invoices the same way (`kind` tells them apart)."""

    __table_args__ = (UniqueConstraint("kind", "external_id"), Index("ix_payment_customer", "customer_id"))

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=12)  # payment | credit_note
    external_id: str = Field(max_length=200)
    customer_id: int = Field(foreign_key="customer.id")
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")  # the first of invoice_ids
    # Every invoice the payment names, in the order it pays them: one for a pushed payment, those the
    # customer chose for an online one.
    invoice_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    unallocated_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    received_on: date
    # The payment's id at an online payment provider (a Stripe PaymentIntent, pi_...). Recorded from
    # the provider's webhook (source "stripe") or pushed by the accounting system with its own
    # record of the same money: only one of them counts (service.record_payments).
    provider_reference: str | None = Field(default=None, max_length=200, index=True)
    source: str = Field(default="push", max_length=10, sa_column_kwargs={"server_default": "push"})
    content_hash: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class Allocation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
