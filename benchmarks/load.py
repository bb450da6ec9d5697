"""The API under load: twenty Locust clients for 60 s against `main.py serve` on loopback, reading
(customers, one customer, invoices, a case, tasks, the event feed) and pushing invoice batches,
first with the jobs stopped, then while a `main.py worker` runs the cycle and dispatch (to an
aiosmtpd sink on loopback). The dataset is benchmarks/ingest.py's (10,000 customers, 100,000
invoices), pushed over HTTP, with the nightly rescore and one cycle run before (scores, cases,
queued messages, events).

On SQLite, and on PostgreSQL when DUNNING_BENCH_DATABASE_URL is set (that database is emptied).
Then the cost of a /metrics scrape: on this dataset over HTTP, and on the cycle benchmark's
100,000 customers and 1,000,000 invoices (SQLite) read in-process."""

from __future__ import annotations

import csv
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import BENCH_KEY, auth_header, load_portfolio, report, service  # noqa: E402
from benchmarks.dispatch import ONE_REMINDER, smtp_sink  # noqa: E402
from benchmarks.ingest import BATCH, generate  # noqa: E402
from dunning.cases.cycle import run_cycle  # noqa: E402
from dunning.clock import FrozenClock, SystemClock  # noqa: E402
from dunning.config import Settings  # noqa: E402
from dunning.db import Database, make_engine  # noqa: E402
from dunning.migrate import upgrade  # noqa: E402
from dunning.monitoring.state import read  # noqa: E402
from dunning.scoring.jobs import rescore  # noqa: E402
from dunning.simulation import generate_portfolio  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "benchmarks" / "loadtest" / "locustfile.py"
USERS = 20
SECONDS = int(os.environ.get("DUNNING_LOAD_SECONDS", "60"))  # each run; shorter for a quick look
READ_GOAL_MS = 200  # p99 of every read


# One email reminder, contact window open at every hour: whenever this runs, the first cycle plans
# an email for every customer with an overdue invoice and dispatch can send it (the shipped policy
# enters this dataset's year-old debts at steps that wait for a manager's approval).
REMIND_BY_EMAIL = ONE_REMINDER + (
    'contact: {window: {start: "00:00", end: "23:59"}, business_days_only: false, min_days_between_contacts: 1}\n'
)


def fresh_postgresql(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def prepare(url: str, database_url: str, var: Path) -> int:
    """The dataset over HTTP, the one-reminder policy, a rescore, one cycle; returns the messages queued."""
    customers, invoices = generate()
    with httpx.Client(base_url=url, headers=auth_header(), timeout=300) as client:
        for part in range(0, len(customers), BATCH):
            client.post("/v1/customers/bulk", json={"customers": customers[part : part + BATCH]}).raise_for_status()
        for part in range(0, len(invoices), BATCH):
            client.post("/v1/invoices/bulk", json={"invoices": invoices[part : part + BATCH]}).raise_for_status()
        client.put(
            "/v1/policies/default", content=REMIND_BY_EMAIL, headers={"Content-Type": "application/yaml"}
        ).raise_for_status()
    engine = make_engine(database_url)
    settings = Settings(_env_file=None, database_url=database_url, var_dir=var)
    # a service in operation: the nightly rescore has stored every customer's risk, which the case
    # pages read (a customer never scored gets the baseline, whose overall late rate reads the ledger)
    rescore(Database(engine), SystemClock(), settings)
    with Database(engine).session() as session:
        result = run_cycle(session, SystemClock(), settings)
    engine.dispose()
    return result.counts["plan"]


def locust(url: str, folder: Path, label: str) -> list[dict[str, str]]:
    prefix = folder / label
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--only-summary",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{SECONDS}s",
            "--stop-timeout",
            "10",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--loglevel",
            "WARNING",
        ],
        env={**os.environ, "DUNNING_LOAD_KEY": BENCH_KEY},
        cwd=ROOT,
        check=False,  # locust exits 1 when a request failed: the errors are reported below
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_failures.csv", newline="") as f:
        for failure in csv.DictReader(f):  # what went wrong, once per kind of error
            print(
                f"  {label} error: {failure['Occurrences']} x {failure['Method']} {failure['Name']}: {failure['Error']}"
            )
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


@contextmanager
def worker(env: dict[str, str], var: Path):
    """`main.py worker` (cycle every 15 s, dispatch every 2 s) sending to an aiosmtpd sink; yields
    a dict that holds, once both are stopped, the cycles logged and the emails the sink took
    (a dispatch round drains the queue, so it may still be running when the clients stop)."""
    found: dict[str, int] = {}
    with smtp_sink() as (port, counts):
        log = var / "worker.log"
        environment = {
            **env,
            "DUNNING_CYCLE_INTERVAL_SECONDS": "15",
            "DUNNING_DISPATCH_INTERVAL_SECONDS": "2",
            "DUNNING_SMTP_HOST": "127.0.0.1",
            "DUNNING_SMTP_PORT": str(port),
            "DUNNING_SMTP_SECURITY": "none",
            "DUNNING_SMTP_REPLY_DOMAIN": "replies.example.com",
        }
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "main.py"), "worker"], env=environment, cwd=ROOT, stdout=out, stderr=out
            )
        try:
            deadline = time.monotonic() + 120
            while "worker running" not in log.read_text():  # the clients start once the jobs do
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield found
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            lines = log.read_text().splitlines()
            found["cycles"] = sum(" cycle: " in line for line in lines)
    found["sent"] = counts["accepted"]


def rows(stats: list[dict[str, str]], label: str) -> list[tuple[str, str]]:
    out = []
    for s in stats:
        name = "all requests" if s["Name"] == "Aggregated" else s["Name"]
        out.append(
            (
                f"{label}: {name}",
                f"{float(s['Requests/s']):6.1f} req/s  p50 {s['50%']:>4} ms  p95 {s['95%']:>4} ms  "
                f"p99 {s['99%']:>4} ms  errors {s['Failure Count']} of {s['Request Count']}",
            )
        )
    return out


def verdict(stats: list[dict[str, str]]) -> str:
    reads = [s for s in stats if s["Name"].startswith("GET")]
    worst = max(reads, key=lambda s: float(s["99%"]))
    errors = sum(int(s["Failure Count"]) for s in stats if s["Name"] != "Aggregated")
    return (
        f"errors {errors}; worst read p99 {worst['99%']} ms ({worst['Name']}); "
        f"goal: 0 errors, every read p99 under {READ_GOAL_MS} ms"
    )


SERIAL = {  # one request of each read kind, alone: the service's own time, without a queue
    "GET /v1/customers": "/v1/customers?limit=100",
    "GET /v1/customers/{id}": "/v1/customers/C00042",
    "GET /v1/customers/{id}/case": "/v1/customers/C00042/case",
    "GET /v1/invoices?customer": "/v1/invoices?customer=C00042&status=open",
    "GET /v1/invoices?overdue": "/v1/invoices?status=open&overdue=true&limit=100",
    "GET /v1/tasks": "/v1/tasks?status=open&limit=100",
    "GET /v1/events": "/v1/events?after=0&limit=100",
}


def serial(url: str, times: int = 10) -> list[tuple[str, str]]:
    out = []
    with httpx.Client(base_url=url, headers=auth_header(), timeout=60) as client:
        for name, path in SERIAL.items():
            spent = []
            for _ in range(times):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                spent.append((time.perf_counter() - started) * 1000)
            out.append((f"one client alone: {name}", f"median {statistics.median(spent):.1f} ms"))
    return out


def scrape_http(url: str, times: int = 20) -> str:
    spent = []
    with httpx.Client(base_url=url, headers=auth_header()) as client:
        for _ in range(times):
            started = time.perf_counter()
            client.get("/metrics").raise_for_status()
            spent.append((time.perf_counter() - started) * 1000)
    return f"median {statistics.median(spent):.1f} ms, max {max(spent):.1f} ms ({times} scrapes over HTTP)"


def run(kind: str, database_url: str | None, folder: Path) -> list[tuple[str, str]]:
    var, load_before = folder / kind, os.getloadavg()[0]
    env = {"DUNNING_DATABASE_URL": database_url} if database_url else {}
    with service(var, **env) as (url, _pid):
        database_url = database_url or f"sqlite:///{var / 'dunning.db'}"
        planned = prepare(url, database_url, var)
        alone = serial(url)
        quiet = locust(url, folder, f"{kind}-quiet")
        environment = {
            **os.environ,
            "DUNNING_DATABASE_URL": database_url,
            "DUNNING_VAR_DIR": str(var),
            "DUNNING_BOOTSTRAP_API_KEY": BENCH_KEY,
        }
        with worker(environment, var) as did:
            busy = locust(url, folder, f"{kind}-busy")
        scrape = scrape_http(url)
    return [
        ("dataset", f"10,000 customers, 100,000 invoices; the first cycle planned {planned:,} messages"),
        *alone,
        *rows(quiet, "jobs stopped"),
        ("jobs stopped, verdict", verdict(quiet)),
        *rows(busy, "cycle and dispatch running"),
        ("cycle and dispatch running, verdict", verdict(busy)),
        (
            "the worker meanwhile",
            f"{did['cycles']} cycles, {did['sent']:,} emails at the sink",
        ),
        ("a /metrics scrape after", scrape),
        ("machine load (1-minute average, 2 cores)", f"{os.getloadavg()[0]:.1f} at the end, {load_before:.1f} before"),
    ]


def scrape_large(folder: Path) -> str:
    """The state queries of /metrics on the cycle benchmark's portfolio after its first cycle."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    portfolio = generate_portfolio(100_000, 10, date(2024, 3, 1), now.date(), seed=11)
    path = folder / "large.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_portfolio(path, portfolio)
    db = Database(engine)
    with db.session() as session:
        planned = run_cycle(
            session,
            FrozenClock(now),
            Settings(_env_file=None, database_url=f"sqlite:///{path}", var_dir=folder / "large"),
        )
    spent = []
    for _ in range(20):
        started = time.perf_counter()
        with db.session() as session:
            list(read(session, now + timedelta(hours=1)))
        spent.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return (
        f"median {statistics.median(spent):.1f} ms, max {max(spent):.1f} ms "
        f"({planned.counts['plan']:,} messages planned; 20 reads, in-process)"
    )


def main() -> None:
    pg = os.environ.get("DUNNING_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report(f"load, SQLite: {USERS} clients for {SECONDS} s each run", run("sqlite", None, folder))
        if pg:
            fresh_postgresql(pg)
            report(f"load, PostgreSQL: {USERS} clients for {SECONDS} s each run", run("postgresql", pg, folder))
        report(
            "/metrics state queries, 100,000 customers and 1,000,000 invoices, SQLite",
            [("scrape", scrape_large(folder))],
        )


if __name__ == "__main__":
    main()
