"""The case: one per customer and currency, walking its escalation path (DESIGN.md section 4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from sqlalchemy import Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

ACTIVE, PAUSED, ESCALATED, CLOSED = "active", "paused", "escalated", "closed"


class Case(SQLModel, table=True):
    __tablename__ = "dunning_case"  # "case" is an SQL keyword
    __table_args__ = (UniqueConstraint("customer_id", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    currency: str = Field(max_length=3)
    state: str = Field(default=ACTIVE, max_length=12, index=True)
    # A case closes when nothing is overdue and reopens when something is again; each opening is an
    # episode, and a message's dedupe key includes it so the path can start over.
    episode: int = 1
    opened_at: datetime = Field(sa_column=utc_column(nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    anchor_due_on: date | None = None
    policy_name: str = Field(max_length=100)
    policy_version: int | None = None
    band: str | None = Field(default=None, max_length=20)
    risk: float | None = None
    path_name: str | None = Field(default=None, max_length=50)
    step_index: int = -1
    step_key: str | None = Field(default=None, max_length=50)
    step_name: str | None = Field(default=None, max_length=100)  # as the policy named it when it was taken
    step_after_days: int | None = None
    step_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    paused_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    pause_reason: str | None = Field(default=None, max_length=30)
    next_check_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    # What the engine last saw (a digest of the case view and policy version) and when: a cycle
    # skips a case whose inputs are unchanged since earlier that day and that nothing wakes yet.
    fingerprint: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


# The table, for Core reads and bulk writes; SQLModel sets __table__ without declaring it
CASE: Table = Case.__table__  # type: ignore[attr-defined]


class _Stored(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Stored) -> int:
    """The id of a row read from its table (the models say `int | None` for one not yet inserted)."""
    assert row.id is not None, "a row read from its table has its id"
    return row.id
