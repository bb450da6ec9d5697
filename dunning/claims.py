"""Rows that workers claim one at a time: messages in the outbox, webhook deliveries.

A worker picks due rows and moves them to its own in-flight state with a conditional UPDATE on
the state they leave, so that two workers never hold the same row. On PostgreSQL the pick also
locks the rows it returns and skips those another worker has locked (FOR UPDATE SKIP LOCKED):
workers in several processes share the queue without waiting on each other. On SQLite the
transaction already holds the only write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select
from sqlmodel import Session

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)


def skip_locked(session: Session, stmt: Select, *of) -> Select:
    """`stmt` (a pick of due rows) locking what it returns and skipping what others hold, on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=list(of) or None)
    return stmt


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, at most 6 hours."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
