"""Bulk writes through the driver. Used where rows go by the thousand (ingest, the cycle, the
rescore, events).

SQLite: a statement compiled once and plain values handed to sqlite3's executemany, which runs in C.
PostgreSQL: psycopg's executemany still sends one statement per row (pipelined, each parsed, bound
and executed by the server), so plain inserts and updates go through COPY instead: the rows stream
in one command, into the table itself or, when existing rows must be skipped or updated, into a
scratch table that one INSERT ... SELECT or UPDATE ... FROM then applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Json
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlmodel import Session


def insert_for(session: Session, table: Table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def executemany(session: Session, stmt, rows: list[dict[str, Any]]) -> int:
    """Compile once and hand plain values to the driver's executemany.

    SQLAlchemy's executemany builds and type-processes a parameter set per row, which costs more
    than the insert itself; every value here is already a str, int, date or the same timestamp,
    so converting them directly is both cheaper and exact.
    """
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    convert = _sqlite_value if conn.dialect.name == "sqlite" else _postgres_value
    names = compiled.positiontup if compiled.positional else list(compiled.params)
    literals = {**compiled.params, **_defaults(stmt.table, rows[0])} if stmt.is_insert else compiled.params
    columns = [_column(rows, name, literals, convert) for name in names]
    params = list(zip(*columns)) if compiled.positional else [dict(zip(names, values)) for values in zip(*columns)]
    return conn.exec_driver_sql(str(compiled), params).rowcount


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], skip_existing: list[str] | None = None
) -> int:
    """Insert `rows` (dicts with the same keys). With `skip_existing` (the columns of a unique
    constraint), a row that meets an existing one is left out, as ON CONFLICT DO NOTHING; an empty
    list means any unique constraint. Returns the rows written (on SQLite with skip_existing, the
    driver's count)."""
    if not rows:
        return 0
    if session.get_bind().dialect.name != "postgresql":
        stmt = insert_for(session, table)
        if skip_existing is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=skip_existing or None)
        return executemany(session, stmt, rows)
    literals = _defaults(table, rows[0])
    names = [*rows[0], *literals]
    if skip_existing is None:
        with _raw_cursor(session) as cursor:
            return _copy(cursor, sql.Identifier(table.name), names, rows, literals)
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    target = sql.SQL(", ").join(map(sql.Identifier, skip_existing))
    with _staged(session, table, names, rows, literals) as (cursor, scratch):
        cursor.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT {} DO NOTHING").format(
                sql.Identifier(table.name),
                columns,
                columns,
                sql.Identifier(scratch),
                sql.SQL("({})").format(target) if skip_existing else sql.SQL(""),
            )
        )
        return cursor.rowcount


def upsert_rows(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: Sequence[str],
    assignments: Callable[[Insert], dict[str, Any]],
) -> int:
    """INSERT ... ON CONFLICT (`conflict`) DO UPDATE SET `assignments(stmt)`: SQL over the stored
    row and `stmt.excluded`, the row offered."""
    if not rows:
        return 0
    if session.get_bind().dialect.name != "postgresql":
        stmt = insert_for(session, table)
        return executemany(session, stmt.on_conflict_do_update(index_elements=conflict, set_=assignments(stmt)), rows)
    literals = _defaults(table, rows[0])
    names = [*rows[0], *literals]
    with _staged(session, table, names, rows, literals) as (_, scratch):
        offered = sa_table(scratch, *(sa_column(name) for name in names))
        stmt = postgresql.insert(table).from_select(names, select(*offered.c))
        stmt = stmt.on_conflict_do_update(index_elements=conflict, set_=assignments(stmt))
        written: int = session.connection().execute(stmt).rowcount
    return written


def update_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    """Set, in each row whose id is a dict's "_id", that dict's other columns (every dict has the same keys)."""
    if not rows:
        return 0
    names = [name for name in rows[0] if name != "_id"]
    if session.get_bind().dialect.name != "postgresql":
        stmt = update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(n) for n in names})
        return executemany(session, stmt, rows)
    with _staged(session, table, ["id", *names], [{"id": row["_id"], **row} for row in rows]) as (cursor, scratch):
        cursor.execute(
            sql.SQL("UPDATE {} AS t SET {} FROM {} AS s WHERE t.id = s.id").format(
                sql.Identifier(table.name),
                sql.SQL(", ").join(sql.SQL("{} = s.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in names),
                sql.Identifier(scratch),
            )
        )
        return cursor.rowcount


def _defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The values of the columns `row` leaves out that have a default of their own ("en", False...):
    the compiled statement names them, but its parameters hold None until SQLAlchemy executes it."""
    return {
        c.name: c.default.arg
        for c in table.c
        if c.name not in row and isinstance(c.default, ScalarElementColumnDefault)
    }


def _raw_cursor(session: Session) -> psycopg.Cursor:
    """A psycopg cursor inside the session's transaction."""
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection), "COPY is PostgreSQL's, through psycopg"
    return connection.cursor()


@contextmanager
def _staged(
    session: Session, table: Table, names: list[str], rows: list[dict[str, Any]], literals: dict[str, Any] | None = None
) -> Iterator[tuple[psycopg.Cursor, str]]:
    """The rows copied into a temporary table that has these columns of `table`, their types and
    nothing else; yields a cursor and the table's name, and drops the table after."""
    scratch = f"scratch_{table.name}"
    with _raw_cursor(session) as cursor:
        cursor.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                sql.Identifier(scratch), sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table.name)
            )
        )
        _copy(cursor, sql.Identifier(scratch), names, rows, literals)
        yield cursor, scratch
        cursor.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(scratch)))


def _copy(
    cursor: psycopg.Cursor,
    into: sql.Composable,
    names: list[str],
    rows: list[dict[str, Any]],
    literals: dict[str, Any] | None = None,
) -> int:
    columns = [_column(rows, name, literals or {}, _postgres_value) for name in names]
    with cursor.copy(
        sql.SQL("COPY {} ({}) FROM STDIN").format(into, sql.SQL(", ").join(map(sql.Identifier, names)))
    ) as copy:
        for values in zip(*columns):
            copy.write_row(values)
    return len(rows)


def _column(rows: list[dict[str, Any]], name: str, literals: dict[str, Any], convert) -> list[Any]:
    """One parameter's values for every row, converted column by column (much cheaper than per cell)."""
    if name not in rows[0]:
        return [convert(literals[name])] * len(rows)  # a literal inside the SQL
    values = [row[name] for row in rows]
    sample = next((v for v in values if v is not None), None)
    if sample is None or isinstance(sample, (str, int, float, Json)) and not isinstance(sample, bool):
        return values
    if isinstance(sample, datetime) and all(v is sample for v in values):
        return [convert(sample)] * len(values)  # created_at / updated_at: one timestamp per batch
    if type(sample) is date and convert is _sqlite_value:
        return [None if v is None else v.isoformat() for v in values]
    return [None if v is None else convert(v) for v in values]


def _sqlite_value(value: Any) -> Any:
    # the storage formats SQLAlchemy's SQLite types read back
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _postgres_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, (list, dict)):
        return Json(value)
    return value
