"""Helpers shared by the benchmark scripts: a service under uvicorn on loopback, memory, output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "dk_benchmark_key_0123456789abcdefghij"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service(var_dir: Path, **env: str):
    """`main.py serve` in a subprocess with its own SQLite file; yields (base_url, pid)."""
    port = free_port()
    environment = {
        **os.environ,
        "DUNNING_DATABASE_URL": f"sqlite:///{var_dir / 'dunning.db'}",
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
        deadline = time.monotonic() + 60
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


def load_portfolio(db_path: Path, portfolio) -> None:
    """Write a generated portfolio straight into the service's tables with raw sqlite3: the
    benchmarks measure the cycle or the scoring, not the loading."""
    import sqlite3

    stamp = "2026-01-01 00:00:00.000000"
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("BEGIN")
    c = portfolio.customers
    con.executemany(
        "INSERT INTO customer (external_id, name, email, phone, language, timezone, country, kind, address, tags,"
        " content_hash, excluded, refused_channels, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,'[]','',0,'[]',?,?)",
        zip(
            c["external_id"],
            c["name"],
            c["email"],
            c["phone"],
            c["language"],
            c["timezone"],
            c["country"],
            c["kind"],
            ("1 Example Street\nExample Town" for _ in range(len(c))),
            repeat(stamp),
            repeat(stamp),
        ),
    )
    ids = dict(con.execute("SELECT external_id, id FROM customer"))
    # the customer's own fields are its primary contact, as the ledger writes them (dunning/contacts)
    con.execute(
        "INSERT INTO contact (customer_id, external_id, name, email, phone, address, roles, invalid_channels,"
        " content_hash, created_at, updated_at)"
        " SELECT id, 'primary', name, email, phone, address, '[\"primary\"]', '[]', '', created_at,"
        " updated_at FROM customer"
    )
    inv = portfolio.invoices
    dates = {k: inv[k].dt.strftime("%Y-%m-%d").where(inv[k].notna(), None) for k in ("issued_on", "due_on", "paid_on")}
    con.executemany(
        "INSERT INTO invoice (external_id, customer_id, number, currency, total_minor, reported_balance_minor,"
        " allocated_minor, balance_minor, issued_on, due_on, paid_on, voided, content_hash, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,0,?,?,?,?,0,'',?,?)",
        zip(
            inv["external_id"],
            map(ids.__getitem__, inv["customer_external_id"]),
            inv["number"],
            inv["currency"],
            inv["total_minor"].astype(int).tolist(),
            inv["balance_minor"].astype(int).tolist(),
            inv["balance_minor"].astype(int).tolist(),
            dates["issued_on"],
            dates["due_on"],
            dates["paid_on"],
            repeat(stamp),
            repeat(stamp),
        ),
    )
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
