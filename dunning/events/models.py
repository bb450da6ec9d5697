"""The event table: what happened, when, to whom, in the order the changes were committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

# BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the rowid that numbers rows itself.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventRecord(SQLModel, table=True):
    """One event. `id` is the cursor: ids grow in commit order (dunning/events/publish.py), so a
    reader that has seen event n never meets an event below n later. No foreign keys: inserting an
    event must not wait on a lock of the rows it names (it is written last, under the event lock)."""

    __tablename__ = "event"
    # AUTOINCREMENT on SQLite: an id is never given out twice, even after the newest rows are removed.
    __table_args__ = (Index("ix_event_type", "type", "id"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True, autoincrement=True))
    type: str = Field(max_length=50)
    occurred_at: datetime = Field(sa_column=utc_column(nullable=False))
    customer_id: int | None = None
    case_id: int | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
