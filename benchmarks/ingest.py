"""Ingest over HTTP: 100,000 invoices for 10,000 customers in batches of 5,000 into a fresh service
on loopback, on SQLite and, when DUNNING_BENCH_DATABASE_URL is set, on PostgreSQL; against the same
rows written the plainest way into the same database in the same run: executemany (sqlite3,
psycopg) and, on PostgreSQL, COPY."""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import (  # noqa: E402
    Compared,
    auth_header,
    best_of,
    compared,
    databases,
    fresh_database,
    kind_of,
    label,
    peak_rss_mb,
    raw_connection,
    report,
    service,
)

CUSTOMERS, INVOICES, BATCH = 10_000, 100_000, 5_000
FLOOR_RUNS = 3


def generate(seed: int = 7):
    rng = random.Random(seed)
    customers = [
        {
            "external_id": f"C{i:05d}",
            "name": f"Customer {i}",
            "email": f"c{i}@example.com",
            "country": "FR",
            "timezone": "Europe/Paris",
            "language": "fr",
        }
        for i in range(CUSTOMERS)
    ]
    invoices = []
    start = date(2025, 1, 1)
    for i in range(INVOICES):
        issued = start + timedelta(days=rng.randrange(400))
        total = rng.randrange(1_000, 500_000)
        invoices.append(
            {
                "external_id": f"INV{i:06d}",
                "customer_external_id": f"C{rng.randrange(CUSTOMERS):05d}",
                "number": f"F-{i:06d}",
                "currency": "EUR",
                "total": f"{total / 100:.2f}",
                "balance": f"{rng.choice([total, total, total // 2, 0]) / 100:.2f}",
                "issued_on": issued.isoformat(),
                "due_on": (issued + timedelta(days=30)).isoformat(),
            }
        )
    return customers, invoices


COLUMNS = (
    "external_id, customer_id, number, currency, total_minor, reported_balance_minor, allocated_minor,"
    " balance_minor, issued_on, due_on, paid_on, voided, content_hash, created_at, updated_at"
)
# The floor's table: the invoice table's columns and the indexes a write must maintain
RAW_TABLE = {
    "sqlite": """CREATE TABLE raw_invoice (id INTEGER PRIMARY KEY, external_id TEXT UNIQUE NOT NULL,
        customer_id INTEGER, number TEXT, currency TEXT, total_minor INTEGER, reported_balance_minor INTEGER,
        allocated_minor INTEGER, balance_minor INTEGER, issued_on TEXT, due_on TEXT, paid_on TEXT, voided INTEGER,
        content_hash TEXT, created_at TEXT, updated_at TEXT)""",
    "postgresql": """CREATE TABLE raw_invoice (id BIGSERIAL PRIMARY KEY, external_id VARCHAR(100) UNIQUE NOT NULL,
        customer_id INTEGER, number VARCHAR(100), currency VARCHAR(3), total_minor BIGINT,
        reported_balance_minor BIGINT, allocated_minor BIGINT, balance_minor BIGINT, issued_on DATE, due_on DATE,
        paid_on DATE, voided BOOLEAN, content_hash VARCHAR(64), created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ)""",
}


def floor_rows(invoices: list[dict], postgres: bool) -> list[tuple]:
    """The rows already parsed, as the service will have them: minor units, dates, booleans."""
    no = False if postgres else 0
    stamp = "2026-01-01 00:00:00+00" if postgres else "2026-01-01 00:00:00"
    return [
        (
            r["external_id"],
            int(r["customer_external_id"][1:]),
            r["number"],
            r["currency"],
            int(round(float(r["total"]) * 100)),
            int(round(float(r["balance"]) * 100)),
            0,
            int(round(float(r["balance"]) * 100)),
            r["issued_on"],
            r["due_on"],
            None,
            no,
            "h" * 32,
            stamp,
            stamp,
        )
        for r in invoices
    ]


def floors(url: str, invoices: list[dict]) -> dict[str, float]:
    """Rows a second for each plain way of writing them, batch by batch, one transaction a batch;
    best of FLOOR_RUNS, each into an emptied table."""
    kind = kind_of(url)
    rows = floor_rows(invoices, kind == "postgresql")
    con = raw_connection(url)
    con.execute(RAW_TABLE[kind])
    con.execute("CREATE INDEX ix_raw_due ON raw_invoice (due_on)")
    con.execute("CREATE INDEX ix_raw_cc ON raw_invoice (customer_id, currency)")
    con.commit() if kind == "postgresql" else None
    mark = "?" if kind == "sqlite" else "%s"
    insert = f"INSERT INTO raw_invoice ({COLUMNS}) VALUES ({', '.join([mark] * 15)})"

    def executemany() -> float:
        con.execute("DELETE FROM raw_invoice")
        con.commit() if kind == "postgresql" else None
        started = time.perf_counter()
        for part in range(0, len(rows), BATCH):
            if kind == "sqlite":
                con.execute("BEGIN")
                con.executemany(insert, rows[part : part + BATCH])
                con.execute("COMMIT")
            else:
                con.cursor().executemany(insert, rows[part : part + BATCH])
                con.commit()
        return time.perf_counter() - started

    def copy() -> float:
        con.execute("TRUNCATE raw_invoice")
        con.commit()
        started = time.perf_counter()
        for part in range(0, len(rows), BATCH):
            with con.cursor().copy(f"COPY raw_invoice ({COLUMNS}) FROM STDIN") as c:
                for row in rows[part : part + BATCH]:
                    c.write_row(row)
            con.commit()
        return time.perf_counter() - started

    out = {"executemany": len(rows) / best_of(FLOOR_RUNS, executemany)}
    if kind == "postgresql":
        out["COPY"] = len(rows) / best_of(FLOOR_RUNS, copy)
    con.close()
    return out


def ingest(url: str, tmp: Path, customers: list[dict], invoices: list[dict]) -> dict:
    """The service on this database: the first push of every invoice, then the same again."""
    with (
        service(tmp / "var", database_url=url) as (base, pid),
        httpx.Client(base_url=base, headers=auth_header(), timeout=300) as client,
    ):
        for part in range(0, CUSTOMERS, BATCH):
            client.post("/v1/customers/bulk", json={"customers": customers[part : part + BATCH]}).raise_for_status()
        # the bodies are encoded beforehand, as the floor's rows are prepared beforehand: what is
        # timed is the service (HTTP, parsing, validation, writing), not the client's JSON encoder
        bodies = [
            json.dumps({"invoices": invoices[part : part + BATCH]}).encode() for part in range(0, INVOICES, BATCH)
        ]
        headers = {"Content-Type": "application/json"}
        started = time.perf_counter()
        for body in bodies:
            client.post("/v1/invoices/bulk", content=body, headers=headers).raise_for_status()
        elapsed = time.perf_counter() - started
        replay_started = time.perf_counter()
        for body in bodies:
            client.post("/v1/invoices/bulk", content=body, headers=headers).raise_for_status()
        replay = time.perf_counter() - replay_started
        return {"elapsed": elapsed, "replay": replay, "peak": peak_rss_mb(pid)}


def main() -> None:
    customers, invoices = generate()
    rows, details = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in databases():
            with fresh_database(kind, Path(tmp), "ingest_floor") as url:
                floor = floors(url, invoices)
            with fresh_database(kind, Path(tmp), "ingest") as url:
                m = ingest(url, Path(tmp), customers, invoices)
            rate, name = INVOICES / m["elapsed"], label(kind)
            details += [
                (f"{name}: service", f"{rate:,.0f} invoices/s ({m['elapsed']:.2f} s)"),
                (f"{name}: replay (all unchanged)", f"{INVOICES / m['replay']:,.0f} invoices/s"),
                *((f"{name}: raw {way}, best of {FLOOR_RUNS}", f"{r:,.0f} rows/s") for way, r in floor.items()),
                (f"{name}: service peak memory", f"{m['peak']:,.0f} MB"),
            ]
            rows.append(
                Compared(
                    name,
                    f"{rate:,.0f} invoices/s",
                    ", ".join(f"{way} {r:,.0f} rows/s" for way, r in floor.items()),
                    ", ".join(f"{rate / r:.3f} of {way}" for way, r in floor.items())
                    + " (goal >= 0.25 of executemany)",
                )
            )
    report("ingest: 100,000 invoices / 10,000 customers over HTTP, batches of 5,000, fresh database", details)
    compared("ingest: the service against raw writes of the same rows", rows)


if __name__ == "__main__":
    main()
