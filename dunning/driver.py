"""Bulk writes through the driver: a statement compiled once, plain values handed to the driver's
executemany. Used where rows go by the thousand (ingest, the cycle, the rescore, events)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
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
    columns = [_column(rows, name, compiled.params, convert) for name in names]
    params = list(zip(*columns)) if compiled.positional else [dict(zip(names, values)) for values in zip(*columns)]
    return conn.exec_driver_sql(str(compiled), params).rowcount


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
