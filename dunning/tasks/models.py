"""Work for a person: calls to make, disputes, replies nobody could read, messages in doubt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

KINDS = (
    "call",
    "dispute",
    "reply",
    "in_doubt",
    "approval",
    "contact_invalid",
    "unknown_sender",
    "broken_promise",
    "plan_default",
    "review",
    "rate_missing",
    "failure",
    "webhook",
    "manual",
)
MANUAL_KINDS = ("manual", "call")  # what a person may open by hand (/v1/tasks)
# One open call per case, whoever asks for it at the same moment: a person calls once, for every
# reason there is (the same text on both databases).
OPEN_CALL = "status = 'open' AND kind = 'call' AND case_id IS NOT NULL"


class Task(SQLModel, table=True):
    __table_args__ = (
        Index("ix_task_open", "status", "due_at"),
        Index(
            "uq_task_open_call_case",
            "case_id",
            unique=True,
            sqlite_where=text(OPEN_CALL),
            postgresql_where=text(OPEN_CALL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)
    title: str = Field(max_length=300)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="dunning_case.id")
    message_id: int | None = Field(default=None, foreign_key="message.id")
    # dedupe: one open task per subject and kind (a rerun of the job that found it adds nothing)
    key: str | None = Field(default=None, max_length=200, unique=True)
    status: str = Field(default="open", max_length=10)  # open | done
    assignee: str | None = Field(default=None, max_length=200)
    notes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    done_by: str | None = Field(default=None, max_length=200)
