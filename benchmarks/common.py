"""Helpers shared by the benchmark scripts.

Which databases, a fresh one for each measurement, a table of figures against their floors:

    for kind in databases():                     # "sqlite", then "postgresql" when asked for
        with fresh_database(kind, tmp, "ingest") as url:   # migrated, empty; dropped afterwards
            ...                                  # measure the service and its floor on `url`
            rows.append(Compared(label(kind), "12,000 invoices/s", "raw executemany 40,000 rows/s", "0.30"))
    compared("ingest", rows)                     # one table: database, figure, floor, ratio

PostgreSQL is used when DUNNING_BENCH_DATABASE_URL names a database on a server where its role may
CREATE DATABASE: each fresh database is created beside it (`<its name>_<name>`) and dropped after.
Also here: the service under uvicorn on loopback, memory, a portfolio loaded with raw inserts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "dk_benchmark_key_0123456789abcdefghij"
BENCH_DATABASE_URL = "DUNNING_BENCH_DATABASE_URL"
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def databases() -> list[str]:
    """The kinds of database the benchmarks run on: SQLite always, PostgreSQL when asked for."""
    return ["sqlite", "postgresql"] if os.environ.get(BENCH_DATABASE_URL) else ["sqlite"]


def kind_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def label(kind_or_url: str) -> str:
    """ "SQLite" or "PostgreSQL", from a kind or a database URL."""
    return LABELS[kind_of(kind_or_url)]


@contextmanager
def fresh_database(kind: str, tmp: Path, name: str, *, like: str | None = None) -> Iterator[str]:
    """Yields the URL of a new database for one measurement, dropped afterwards: a SQLite file in
    `tmp`, or a PostgreSQL database beside DUNNING_BENCH_DATABASE_URL's. Migrated to head; or,
    with `like` (the URL of another fresh database of the same kind), a copy of that one."""
    if kind == "sqlite":
        path = tmp / f"{name}.db"
        if like is not None:
            import sqlite3

            with closing(sqlite3.connect(make_url(like).database)) as source, closing(sqlite3.connect(path)) as copy:
                source.backup(copy)
        url = f"sqlite:///{path}"
        if like is None:
            _migrate(url)
        try:
            yield url
        finally:
            path.unlink(missing_ok=True)
        return
    base = make_url(os.environ[BENCH_DATABASE_URL])
    database = f"{base.database}_{name}"
    url = base.set(database=database).render_as_string(hide_password=False)
    template = f" TEMPLATE {make_url(like).database}" if like is not None else ""
    _admin(base, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", f"CREATE DATABASE {database}{template}")
    try:
        if like is None:
            _migrate(url)
        yield url
    finally:
        _admin(base, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _admin(base, *statements: str) -> None:
    """Statements that cannot run in a transaction, on DUNNING_BENCH_DATABASE_URL's database
    (created first, from the server's `postgres` database, if it does not exist yet)."""
    import psycopg

    def connect(database: str):
        url = base.set(drivername="postgresql", database=database).render_as_string(hide_password=False)
        return psycopg.connect(url, autocommit=True)

    try:
        con = connect(base.database)
    except psycopg.OperationalError:
        with connect("postgres") as server:
            server.execute(f"CREATE DATABASE {base.database}")
        con = connect(base.database)
    with con:
        for statement in statements:
            con.execute(statement)


def _migrate(url: str) -> None:
    from dunning.db import make_engine
    from dunning.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def raw_connection(url: str):
    """A plain DB-API connection to a benchmark database, for the floors: sqlite3 or psycopg."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        return sqlite3.connect(parsed.database, isolation_level=None)
    import psycopg

    return psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))


def best_of(runs: int, measure: Callable[[], float]) -> float:
    """The shortest of several timings: on a shared machine the others measure the neighbours."""
    return min(measure() for _ in range(runs))


class Compared(NamedTuple):
    database: str  # "SQLite" | "PostgreSQL"
    figure: str  # what the service did, with its unit
    floor: str  # the same work done the plainest way on the same database, in the same run
    ratio: str  # figure against floor, with the goal when there is one


def compared(title: str, rows: list[Compared]) -> None:
    """The benchmark's summary: one line per database."""
    header = Compared("database", "figure", "floor", "ratio")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    print(title)
    for row in (header, *rows):
        print("  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)).rstrip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service(var_dir: Path, database_url: str | None = None, **env: str):
    """`main.py serve` in a subprocess, on its own SQLite file unless given a database; yields (base_url, pid)."""
    port = free_port()
    environment = {
        **os.environ,
        "DUNNING_DATABASE_URL": database_url or f"sqlite:///{var_dir / 'dunning.db'}",
        "DUNNING_VAR_DIR": str(var_dir),
        "DUNNING_EMBEDDED_WORKER": "false",
        "DUNNING_BOOTSTRAP_API_KEY": BENCH_KEY,
        "DUNNING_PORT": str(port),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve"],
        env=environment,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a busy machine imports slowly
        while True:
            try:
                if httpx.get(f"{url}/v1/customers", headers=auth_header()).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the service did not start")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def auth_header() -> dict[str, str]:
    return {"Authorization": f"Bearer {BENCH_KEY}"}


def peak_rss_mb(pid: int | None = None) -> float:
    """VmHWM: the resident-set high-water mark of a process (this one by default)."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    line = next(s for s in status.splitlines() if s.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(title)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def load_portfolio(database: Path | str, portfolio) -> None:
    """Write a generated portfolio straight into the service's tables (a SQLite file's path, or a
    database URL) with raw inserts, COPY on PostgreSQL: the benchmarks measure the cycle or the
    scoring, not the loading."""
    if isinstance(database, Path) or label(database) == "SQLite":
        path = database if isinstance(database, Path) else Path(make_url(database).database)
        con = raw_connection(f"sqlite:///{path}")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("BEGIN")
        _insert_portfolio(con, portfolio, _sqlite_rows, postgres=False)
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.close()
        return
    with raw_connection(database) as con:
        _insert_portfolio(con, portfolio, _copy_rows, postgres=True)
    with raw_connection(database) as con:
        con.autocommit = True
        con.execute("VACUUM ANALYZE")


CUSTOMER_COLUMNS = (
    "external_id, name, email, phone, language, timezone, country, kind, address, tags,"
    " content_hash, excluded, refused_channels, created_at, updated_at"
)
INVOICE_COLUMNS = (
    "external_id, customer_id, number, currency, total_minor, reported_balance_minor,"
    " allocated_minor, balance_minor, issued_on, due_on, paid_on, voided, content_hash, created_at, updated_at"
)


def _sqlite_rows(con, table: str, columns: str, rows) -> None:
    con.executemany(f"INSERT INTO {table} ({columns}) VALUES ({','.join('?' * (columns.count(',') + 1))})", rows)


def _copy_rows(con, table: str, columns: str, rows) -> None:
    with con.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_portfolio(con, portfolio, write: Callable, *, postgres: bool) -> None:
    # as the service stores them: a timestamp with its zone and booleans on PostgreSQL, text and 0 on SQLite
    stamp = "2026-01-01 00:00:00.000000" + ("+00" if postgres else "")
    no = False if postgres else 0
    c = portfolio.customers
    write(
        con,
        "customer",
        CUSTOMER_COLUMNS,
        zip(
            c["external_id"],
            c["name"],
            c["email"],
            c["phone"],
            c["language"],
            c["timezone"],
            c["country"],
            c["kind"],
            repeat("1 Example Street\nExample Town"),
            repeat("[]"),
            repeat(""),
            repeat(no),
            repeat("[]"),
            repeat(stamp),
            repeat(stamp),
        ),
    )
    ids = dict(con.execute("SELECT external_id, id FROM customer").fetchall())
    # the customer's own fields are its primary contact, as the ledger writes them (dunning/contacts)
    con.execute(
        "INSERT INTO contact (customer_id, external_id, name, email, phone, address, roles, invalid_channels,"
        " content_hash, created_at, updated_at)"
        " SELECT id, 'primary', name, email, phone, address, '[\"primary\"]', '[]', '', created_at,"
        " updated_at FROM customer"
    )
    inv = portfolio.invoices
    # object first: a string column's where() would put NaN, not None (NULL), in the gaps
    dates = {
        k: inv[k].dt.strftime("%Y-%m-%d").astype(object).where(inv[k].notna(), None)
        for k in ("issued_on", "due_on", "paid_on")
    }
    balances = inv["balance_minor"].astype(int).tolist()
    write(
        con,
        "invoice",
        INVOICE_COLUMNS,
        zip(
            inv["external_id"],
            map(ids.__getitem__, inv["customer_external_id"]),
            inv["number"],
            inv["currency"],
            inv["total_minor"].astype(int).tolist(),
            balances,
            repeat(0),
            balances,
            dates["issued_on"],
            dates["due_on"],
            dates["paid_on"],
            repeat(no),
            repeat(""),
            repeat(stamp),
            repeat(stamp),
        ),
    )
