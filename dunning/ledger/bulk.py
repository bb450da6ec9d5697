"""Bulk upsert by external key with SQL Core statements.

Ingest is the hot path (an accounting system pushes tens of thousands of rows at once), so rows
go to the database as one executemany of INSERT ... ON CONFLICT DO UPDATE rather than ORM
objects. Rows whose content hash already matches are not written at all: a replayed batch
leaves the database exactly as it was, `updated_at` included.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from dunning.ledger.schemas import UpsertResult

CHUNK = 2_000  # well under SQLite's bound-parameter limit


def content_hash(values: Iterable[Any]) -> str:
    return hashlib.blake2b(repr(tuple(values)).encode(), digest_size=16).hexdigest()


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def lookup(session: Session, column: ColumnElement, keys: Iterable[Any], *extra: ColumnElement,
           where: ColumnElement | None = None) -> dict[Any, tuple]:
    """Map each key found to the row (column, *extra) of the table, in chunks."""
    keys = list(dict.fromkeys(keys))
    found: dict[Any, tuple] = {}
    for part in chunks(keys):
        stmt = select(column, *extra).where(column.in_(part))
        if where is not None:
            stmt = stmt.where(where)
        for row in session.execute(stmt):
            found[row[0]] = tuple(row)
    return found


def insert_for(session: Session, table: Table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert(session: Session, table: Table, rows: list[dict[str, Any]], *, conflict: Sequence[str],
           existing: dict[Any, str], key_of: Callable[[dict], Any],
           update: Callable[[Any], dict[str, Any]] | None = None,
           insert_only: Sequence[str] = ()) -> UpsertResult:
    """Write new and changed rows; `existing` maps each stored key to its content hash.

    `update(stmt)` returns what ON CONFLICT sets for some columns instead of the pushed value (SQL
    over the stored row and `stmt.excluded`); `insert_only` columns (and created_at) are written
    when the row is created and never overwritten.
    """
    result = UpsertResult()
    to_write = []
    for row in rows:
        stored = existing.get(key_of(row))
        if stored is None:
            result.created += 1
        elif stored != row["content_hash"]:
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        to_write.append(row)
    if to_write:
        stmt = insert_for(session, table)
        set_ = {name: stmt.excluded[name] for name in to_write[0] if name not in (*conflict, *insert_only, "created_at")}
        set_.update(update(stmt) if update else {})
        stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=set_)
        session.execute(stmt, to_write)
    return result


def lock_rows(session: Session, table: Table, ids: Iterable[int]) -> None:
    """Serialise writers that touch the same rows (PostgreSQL; SQLite already has one writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted(set(ids))  # a fixed order, so two writers can't deadlock on each other
    for part in chunks(ids):
        session.execute(select(table.c.id).where(table.c.id.in_(part)).order_by(table.c.id).with_for_update())
