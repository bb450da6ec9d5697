"""Append-only audit events: who decided what, under which rule, policy version and band."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, Session, SQLModel

from dunning.clock import Clock
from dunning.db import utc_column

SUBJECT_ID_LENGTH = 200


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=utc_column(nullable=False))
    actor: str = Field(max_length=200)
    action: str = Field(max_length=100)
    subject_type: str = Field(max_length=50)
    subject_id: str = Field(max_length=SUBJECT_ID_LENGTH)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def record(
    session: Session, clock: Clock, *, actor: str, action: str, subject_type: str, subject_id: object, **data: Any
) -> AuditEvent:
    # Subjects can come from outside (a sender's address when no customer matched): bounded to the
    # column, which PostgreSQL enforces and SQLite does not.
    event = AuditEvent(
        at=clock.now(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id)[:SUBJECT_ID_LENGTH],
        data=data,
    )
    session.add(event)
    return event
