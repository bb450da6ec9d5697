"""The outbox: every message planned, its state, exactly what was sent, and each attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

AWAITING_APPROVAL, QUEUED, SENDING = "awaiting_approval", "queued", "sending"
SENT, FAILED, CANCELLED, IN_DOUBT, REJECTED = "sent", "failed", "cancelled", "in_doubt", "rejected"
PENDING = (AWAITING_APPROVAL, QUEUED)  # not yet handed to a transport
FINAL = (SENT, FAILED, CANCELLED, REJECTED)


class Message(SQLModel, table=True):
    __table_args__ = (Index("ix_message_due", "status", "send_after", "id"), Index("ix_message_case", "case_id"))

    id: int | None = Field(default=None, primary_key=True)
    # (case, episode, path, step, channel): planning the same step twice hits this unique key
    dedupe_key: str = Field(max_length=200, unique=True)
    case_id: int | None = Field(default=None, foreign_key="dunning_case.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    currency: str | None = Field(default=None, max_length=3)
    channel: str = Field(max_length=10)  # email | sms | letter | agency
    kind: str = Field(max_length=30)  # reminder, formal_notice, ..., promise_confirmation, opt_out_confirmation
    template: str = Field(max_length=60)
    path_name: str | None = Field(default=None, max_length=50)
    step_index: int | None = None
    step_key: str | None = Field(default=None, max_length=50)
    step_name: str | None = Field(default=None, max_length=100)  # as the policy named the step when it was planned
    policy_version: int | None = None
    status: str = Field(default=QUEUED, max_length=20)
    send_after: datetime = Field(sa_column=utc_column(nullable=False))
    requires_approval: bool = False
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision_note: str | None = Field(default=None, max_length=1000)
    show_fees: bool = False
    invoice_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    amount_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    provider_id: str | None = Field(default=None, max_length=200, index=True)
    delivery_status: str | None = Field(default=None, max_length=30)
    last_error: str | None = Field(default=None, max_length=1000)
    reply_token: str | None = Field(default=None, max_length=40, index=True)
    # exactly what went out, stored before it is handed to the transport
    recipient: str | None = Field(default=None, max_length=1000)  # the To address(es), or the letter's address block
    # the contacts it went to: [{"contact_id", "name", "address", "as": "to" | "cc"}]
    recipients: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    subject: str | None = Field(default=None, max_length=500)
    body_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    body_html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    pdf_path: str | None = Field(default=None, max_length=500)
    segments: int | None = None
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class Attempt(SQLModel, table=True):
    """Written before the transport is called: a crash leaves an attempt with no outcome."""

    __tablename__ = "message_attempt"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    worker: str = Field(max_length=100)
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    outcome: str | None = Field(default=None, max_length=20)  # sent | retry | failed | in_doubt
    error: str | None = Field(default=None, max_length=1000)
