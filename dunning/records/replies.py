"""Every reply a customer sent, what we read in it, and what the service did about it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from dunning.db import utc_column


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=10)  # sms | email
    # "<channel>:<provider id>" (Twilio MessageSid, the mail's Message-ID): a provider retrying its
    # webhook after a timeout must not make us act twice. Null when the provider gave no id.
    dedupe_key: str | None = Field(default=None, max_length=300, unique=True)
    sender: str = Field(max_length=320)
    recipient: str | None = Field(default=None, max_length=320)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")  # the customer's contact who wrote
    case_id: int | None = Field(default=None, foreign_key="dunning_case.id")
    message_id: int | None = Field(default=None, foreign_key="message.id")  # the message of ours it answers
    matched_by: str = Field(max_length=20)  # phone | reply_token | in_reply_to | references | sender | none
    language: str = Field(max_length=20)
    subject: str | None = Field(default=None, max_length=500)
    raw_text: str = Field(sa_column=Column(Text, nullable=False))  # the SMS body, the mail's whole text
    reply_text: str = Field(sa_column=Column(Text, nullable=False))  # what was read: quotes and signatures cut
    intent: str = Field(max_length=30, index=True)
    confidence: float
    extracted: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # what the service did: promise_recorded, payment_check, dispute_opened, opted_out, help_sent, task...
    action: str | None = Field(default=None, max_length=40)
    task_id: int | None = Field(default=None, foreign_key="task.id")
    promise_id: int | None = Field(default=None, foreign_key="promise.id")
    dispute_id: int | None = Field(default=None, foreign_key="dispute.id")
    answer_message_id: int | None = Field(default=None, foreign_key="message.id")  # a queued email answer
    answer_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the TwiML answer
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(sa_column=utc_column(nullable=False))
