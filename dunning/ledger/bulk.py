"""Bulk upsert by external key with SQL Core statements.

Ingest is the hot path (an accounting system pushes tens of thousands of rows at once), so rows
go to the database as one executemany of INSERT ... ON CONFLICT DO UPDATE rather than ORM
objects. Rows whose content hash already matches are not written at all: a replayed batch
leaves the database exactly as it was, `updated_at` included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, SQLColumnExpression, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from dunning.clock import Clock
from dunning.driver import insert_rows, upsert_rows
from dunning.events.publish import publish
from dunning.ledger.schemas import UpsertResult

# The INSERT an upsert builds (driver.insert_for); `update` reads its `excluded` row.
Upsert = postgresql.Insert | sqlite.Insert


def accounts_changed(session: Session, clock: Clock, customer_ids: Iterable[int]) -> None:
    """Tell the layers above that these customers' rows were written (one event for the whole
    write): the cycle's sweep looks at their cases again (dunning/subscriptions.py)."""
    if ids := sorted(set(customer_ids)):
        publish(session, clock, "ledger.accounts_changed", customer_ids=ids)


def content_hash(values: tuple[Any, ...]) -> str:
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def lookup(
    session: Session,
    column: SQLColumnExpression[Any],
    keys: Iterable[Any],
    *extra: SQLColumnExpression[Any],
    where: SQLColumnExpression[bool] | None = None,
) -> dict[Any, tuple[Any, ...]]:
    """Map each key found to the row (column, *extra) of the table."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    conn = session.connection()  # Core, not the ORM: these are plain tuples, thousands at a time
    stmt = select(column, *extra).where(one_of(column, "keys", conn.dialect.name))
    if where is not None:
        stmt = stmt.where(where)
    return {row[0]: tuple(row) for row in conn.execute(stmt, {"keys": keys})}


def one_of(
    column: SQLColumnExpression[Any], name: str, dialect: str, values: Iterable[Any] | None = None
) -> SQLColumnExpression[bool]:
    """`column IN (the list bound to parameter name)`: one JSON array on SQLite, one array on
    PostgreSQL, both searched through the column's index. Thousands of keys as an IN list were
    thousands of parameters to name, bind and (for a literal list) compile on every call, which
    cost more than the query. The list is given when the statement runs, or here as `values`."""
    # col() is typed Mapped, which declares no `type`; the attribute it returns has one.
    array = JSON() if dialect == "sqlite" else postgresql.ARRAY(column.type)  # type: ignore[attr-defined]
    param = bindparam(name, type_=array) if values is None else bindparam(name, list(values), type_=array)
    if dialect == "sqlite":
        return column.in_(select(func.json_each(param).table_valued("value").c.value))
    return column == func.any(param)


def upsert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    conflict: Sequence[str],
    existing: dict[Any, str],
    key_of: Callable[[dict[str, Any]], Any],
    update: Callable[[Upsert], dict[str, Any]] | None = None,
    insert_only: Sequence[str] = (),
) -> UpsertResult:
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
        _write(session, table, to_write, conflict, update, insert_only)
    return result


def insert_or_update(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    key: str = "external_id",
    update: Callable[[Upsert], dict[str, Any]] | None = None,
    insert_only: Sequence[str] = (),
) -> UpsertResult:
    """`upsert` without looking first: most pushes are new records, so insert them all (ON CONFLICT
    DO NOTHING) and only when some were already there, read the stored hashes and update the rows
    whose content differs. A concurrent writer's row counts as already there, and still gets our
    content when it differs, so nothing pushed is silently dropped."""
    if not rows:
        return UpsertResult()
    created = insert_rows(session, table, rows, skip_existing=[key])
    if created == len(rows):
        return UpsertResult(created=created)
    stored = lookup(session, table.c[key], (r[key] for r in rows), table.c.content_hash)
    differ = [r for r in rows if stored[r[key]][1] != r["content_hash"]]
    if differ:
        _write(session, table, differ, [key], update, insert_only)
    return UpsertResult(created=created, updated=len(differ), unchanged=len(rows) - created - len(differ))


def _write(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: Sequence[str],
    update: Callable[[Upsert], dict[str, Any]] | None,
    insert_only: Sequence[str],
) -> None:
    def assignments(stmt: Upsert) -> dict[str, Any]:
        kept = (*conflict, *insert_only, "created_at")
        return {name: stmt.excluded[name] for name in rows[0] if name not in kept} | (update(stmt) if update else {})

    upsert_rows(session, table, rows, conflict, assignments)


def lock_rows(session: Session, table: Table, ids: Iterable[int]) -> None:
    """Serialise writers that touch the same rows (PostgreSQL; SQLite already has one writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted(set(ids))
    if ids:  # in id order, so two writers can't deadlock on each other
        session.execute(
            select(table.c.id).where(one_of(table.c.id, "ids", "postgresql")).order_by(table.c.id).with_for_update(),
            {"ids": ids},
        )
