"""The people a customer's messages go to: each with its own addresses, roles and marks.

A customer (the company or person who owes) has contacts; a policy step writes to the contacts
holding some roles and copies others. The customer's own email, phone and address fields are the
contact keyed `primary` (PRIMARY_KEY), kept in step with them by every push.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

Role = Literal["primary", "billing", "legal", "buyer"]
ROLES: tuple[str, ...] = get_args(Role)
PRIMARY_KEY = "primary"  # the contact of the customer's own email, phone and address fields


class Contact(SQLModel, table=True):
    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("customer_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    external_id: str = Field(max_length=200)  # the sender's id, unique within the customer
    name: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    address: str | None = Field(default=None, max_length=1000)
    language: str | None = Field(default=None, max_length=20)  # None: the customer's
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Channels whose address is known to be bad (a bounce, a refusal): set by us, never by a push,
    # and cleared when a push or the portal gives that channel a new address.
    invalid_channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))

    def address_for(self, channel: str) -> str | None:
        return {"email": self.email, "sms": self.phone, "letter": self.address}.get(channel)


class ContactOptOut(SQLModel, table=True):
    """One contact's opt-out of a channel (STOP from their number, "unsubscribe" from their
    address). The customer-wide opt_out table holds those we cannot place on one contact."""

    __tablename__ = "contact_opt_out"
    __table_args__ = (UniqueConstraint("contact_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    channel: str = Field(max_length=10)
    source: str = Field(max_length=30)
    at: datetime = Field(sa_column=utc_column(nullable=False))
