"""Webhook endpoints and the delivery of each event to each of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dunning.db import utc_column
from dunning.events.models import BIG_ID

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # ["*"] or types
    description: str | None = Field(default=None, max_length=500)
    secret: str = Field(max_length=100)  # whsec_<base64>: shown once, kept to sign
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    created_by: str = Field(max_length=200)
    # The last event the fan-out has looked at for this endpoint: later ones get deliveries.
    cursor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    failing_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_success_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    disabled_reason: str | None = Field(default=None, max_length=1000)

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint. Sent again, with the same webhook-id, until the endpoint answers
    2xx or the attempts run out."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_delivery"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True, autoincrement=True))
    event_id: int = Field(sa_column=Column(BigInteger, ForeignKey("event.id"), nullable=False))
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True)
    status: str = Field(default=PENDING, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=utc_column(nullable=False))
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_status: int | None = None  # the endpoint's HTTP status; None when no answer came
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
