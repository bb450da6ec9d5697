"""One cycle over 100,000 customers and 1,000,000 invoices (generated), against a floor measured in
the same run on the same database: a plain SELECT of the same open invoices, through sqlite3 on
SQLite and psycopg on PostgreSQL.

SQLite always; PostgreSQL too when DUNNING_BENCH_DATABASE_URL is set: the benchmark makes its own
scratch schema there (every table, by the migrations) and drops it at the end.
DUNNING_BENCH_CUSTOMERS sets another number of customers (ten invoices each), to profile smaller.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import load_portfolio, peak_rss_mb, report  # noqa: E402
from dunning.cases.cycle import run_cycle  # noqa: E402
from dunning.clock import FrozenClock  # noqa: E402
from dunning.config import Settings  # noqa: E402
from dunning.db import Database, make_engine  # noqa: E402
from dunning.migrate import upgrade  # noqa: E402
from dunning.simulation import Portfolio, generate_portfolio  # noqa: E402

CUSTOMERS, PER_CUSTOMER = int(os.environ.get("DUNNING_BENCH_CUSTOMERS", 100_000)), 10
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SCHEMA = "bench_cycle"
OPEN_INVOICES = (
    "SELECT id, customer_id, currency, number, due_on, balance_minor FROM invoice"
    " WHERE balance_minor > 0 AND NOT voided AND due_on <= {} ORDER BY customer_id, currency, due_on"
)
STAMP = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def sqlite_database(portfolio: Portfolio, tmp: Path) -> Iterator[tuple[str, dict, Callable[[], tuple[float, int]]]]:
    path = tmp / "cycle.db"
    upgrade(make_engine(f"sqlite:///{path}"))
    load_portfolio(path, portfolio)

    def floor() -> tuple[float, int]:
        con = sqlite3.connect(path)
        started = time.perf_counter()
        rows = con.execute(OPEN_INVOICES.format("?"), (NOW.date().isoformat(),)).fetchall()
        elapsed = time.perf_counter() - started
        con.close()
        return elapsed, len(rows)

    yield f"sqlite:///{path}", {}, floor


@contextmanager
def postgres_database(portfolio: Portfolio, url: str) -> Iterator[tuple[str, dict, Callable[[], tuple[float, int]]]]:
    """A scratch schema in the database at `url`, the service's tables in it, the portfolio loaded
    with COPY (the cycle is measured, not the loading)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    options = {"options": f"-csearch_path={SCHEMA}"}
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        con.execute(f"CREATE SCHEMA {SCHEMA}")
    try:
        engine = make_engine(url, connect_args=options)
        upgrade(engine)
        engine.dispose()
        with psycopg.connect(dsn, **options) as con:
            _copy_portfolio(con, portfolio)
        with psycopg.connect(dsn, autocommit=True, **options) as con:
            con.execute("VACUUM ANALYZE")

        def floor() -> tuple[float, int]:
            with psycopg.connect(dsn, **options) as con:
                started = time.perf_counter()
                rows = con.execute(OPEN_INVOICES.format("%s"), (NOW.date(),)).fetchall()
                return time.perf_counter() - started, len(rows)

        yield url, options, floor
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _copy_portfolio(con: psycopg.Connection, portfolio: Portfolio) -> None:
    c = portfolio.customers
    with con.cursor().copy(
        "COPY customer (external_id, name, email, phone, language, timezone, country, kind, address, tags,"
        " content_hash, excluded, refused_channels, created_at, updated_at) FROM STDIN"
    ) as copy:
        for row in zip(c["external_id"], c["name"], c["email"], c["phone"], c["language"], c["timezone"],
                       c["country"], c["kind"]):  # fmt: skip
            copy.write_row((*row, "1 Example Street\nExample Town", "[]", "", False, "[]", STAMP, STAMP))
    # the customer's own fields are its primary contact, as the ledger writes them (dunning/contacts)
    con.execute(
        "INSERT INTO contact (customer_id, external_id, name, email, phone, address, roles, invalid_channels,"
        " content_hash, created_at, updated_at)"
        " SELECT id, 'primary', name, email, phone, address, '[\"primary\"]', '[]', '', created_at, updated_at"
        " FROM customer"
    )
    ids = dict(con.execute("SELECT external_id, id FROM customer").fetchall())
    inv = portfolio.invoices
    dates = {k: [None if v != v else v.date() for v in inv[k]] for k in ("issued_on", "due_on", "paid_on")}
    with con.cursor().copy(
        "COPY invoice (external_id, customer_id, number, currency, total_minor, reported_balance_minor,"
        " allocated_minor, balance_minor, issued_on, due_on, paid_on, voided, content_hash, created_at, updated_at)"
        " FROM STDIN"
    ) as copy:
        balances = inv["balance_minor"].astype(int).tolist()
        for ext, cust, number, currency, total, balance, issued, due, paid in zip(
            inv["external_id"],
            inv["customer_external_id"],
            inv["number"],
            inv["currency"],
            inv["total_minor"].astype(int).tolist(),
            balances,
            dates["issued_on"],
            dates["due_on"],
            dates["paid_on"],
        ):
            copy.write_row(
                (ext, ids[cust], number, currency, total, balance, 0, balance, issued, due, paid, False, "", STAMP,
                 STAMP)
            )  # fmt: skip


def measure(name: str, portfolio: Portfolio, database) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp, database as (url, connect_args, floor):
        floor_s, open_rows = floor()
        engine = make_engine(url, connect_args=connect_args) if connect_args else make_engine(url)
        settings = Settings(_env_file=None, database_url=url, var_dir=Path(tmp) / "var")
        db = Database(engine)
        before = peak_rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        with db.session() as session:
            result = run_cycle(session, FrozenClock(NOW), settings)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        with db.session() as session:  # an hour later: the planned steps are pending, decided again
            again = run_cycle(session, FrozenClock(NOW + timedelta(hours=1)), settings)
        second = time.perf_counter() - started
        started = time.perf_counter()
        with db.session() as session:  # and once more: nothing changed since, nothing is re-decided
            run_cycle(session, FrozenClock(NOW + timedelta(hours=2)), settings)
        steady = time.perf_counter() - started
        peak = peak_rss_mb()
        engine.dispose()
    counts = result.counts
    floor_name = "raw psycopg" if name == "PostgreSQL" else "raw sqlite3"
    return [
        (
            f"{name}: first cycle",
            f"{elapsed:.2f} s ({cpu:.2f} s CPU in this process): {counts['opened']:,} cases opened, "
            f"{counts['plan']:,} steps planned, {counts['pass']:,} passed, {counts['wait']:,} waiting "
            f"({open_rows:,} invoices open and due)",
        ),
        (f"{name}: next cycle, an hour later", f"{second:.2f} s: {again.counts['plan']:,} planned"),
        (f"{name}: steady state, another hour later", f"{steady:.2f} s: nothing changed, nothing looked at"),
        (f"{name}: floor, a {floor_name} SELECT of the open invoices", f"{floor_s:.2f} s"),
        (f"{name}: ratio first cycle / floor", f"{elapsed / floor_s:.1f}x  (goal: within 5x)"),
        (f"{name}: ratio next cycle / floor", f"{second / floor_s:.1f}x"),
        (f"{name}: ratio steady state / floor", f"{steady / floor_s:.1f}x"),
        (f"{name}: peak memory", f"{peak:,.0f} MB (before the cycle: {before:,.0f} MB; goal under 1,500 MB)"),
    ]


def main() -> None:
    portfolio = generate_portfolio(CUSTOMERS, PER_CUSTOMER, date(2024, 3, 1), NOW.date(), seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure("SQLite", portfolio, sqlite_database(portfolio, Path(tmp)))
    if pg_url := os.environ.get("DUNNING_BENCH_DATABASE_URL"):
        rows += measure("PostgreSQL", portfolio, postgres_database(portfolio, pg_url))
    report(f"cycle: {CUSTOMERS:,} customers, {len(portfolio.invoices):,} invoices, fresh database", rows)


if __name__ == "__main__":
    main()
