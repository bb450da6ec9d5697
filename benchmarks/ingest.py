"""Ingest over HTTP: 100,000 invoices for 10,000 customers in batches of 5,000 into a fresh SQLite
service on loopback, against raw sqlite3 executemany of the same rows in the same run."""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import auth_header, peak_rss_mb, report, service  # noqa: E402

CUSTOMERS, INVOICES, BATCH = 10_000, 100_000, 5_000


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


def raw_sqlite(invoices: list[dict], path: Path) -> float:
    """The floor: the same rows, already parsed, into an equivalent table with plain executemany."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("""CREATE TABLE invoice (id INTEGER PRIMARY KEY, external_id TEXT UNIQUE NOT NULL,
        customer_id INTEGER, number TEXT, currency TEXT, total_minor INTEGER, reported_balance_minor INTEGER,
        allocated_minor INTEGER, balance_minor INTEGER, issued_on TEXT, due_on TEXT, paid_on TEXT, voided INTEGER,
        content_hash TEXT, created_at TEXT, updated_at TEXT)""")
    con.execute("CREATE INDEX ix_due ON invoice (due_on)")
    con.execute("CREATE INDEX ix_cc ON invoice (customer_id, currency)")
    rows = [
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
            0,
            "h" * 32,
            "2026-01-01 00:00:00",
            "2026-01-01 00:00:00",
        )
        for r in invoices
    ]
    started = time.perf_counter()
    for part in range(0, len(rows), BATCH):
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO invoice (external_id, customer_id, number, currency, total_minor, "
            "reported_balance_minor, allocated_minor, balance_minor, issued_on, due_on, paid_on, "
            "voided, content_hash, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows[part : part + BATCH],
        )
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return len(rows) / elapsed


def main() -> None:
    customers, invoices = generate()
    with tempfile.TemporaryDirectory() as tmp:
        floor = raw_sqlite(invoices, Path(tmp) / "raw.db")
        with (
            service(Path(tmp) / "var") as (url, pid),
            httpx.Client(base_url=url, headers=auth_header(), timeout=300) as client,
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
            server_peak = peak_rss_mb(pid)
    rate = INVOICES / elapsed
    report(
        "ingest: 100,000 invoices / 10,000 customers over HTTP, batches of 5,000, fresh SQLite",
        [
            ("service", f"{rate:,.0f} invoices/s ({elapsed:.2f} s)"),
            ("replay (all unchanged)", f"{INVOICES / replay:,.0f} invoices/s"),
            ("raw sqlite3 executemany", f"{floor:,.0f} rows/s"),
            ("ratio service / raw", f"{rate / floor:.3f}  (goal >= 0.25)"),
            ("service peak memory", f"{server_peak:,.0f} MB"),
        ],
    )


if __name__ == "__main__":
    main()
