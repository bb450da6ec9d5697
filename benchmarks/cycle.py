"""One cycle over 100,000 customers and 1,000,000 invoices (generated), against a floor measured in
the same run: raw sqlite3 reading the same open overdue invoices."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import load_portfolio, peak_rss_mb, report  # noqa: E402
from dunning.cases.cycle import run_cycle  # noqa: E402
from dunning.clock import FrozenClock  # noqa: E402
from dunning.config import Settings  # noqa: E402
from dunning.db import Database, make_engine  # noqa: E402
from dunning.migrate import upgrade  # noqa: E402
from dunning.simulation import generate_portfolio  # noqa: E402

CUSTOMERS, PER_CUSTOMER = 100_000, 10
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def floor(path: Path) -> tuple[float, int]:
    con = sqlite3.connect(path)
    started = time.perf_counter()
    rows = con.execute(
        "SELECT id, customer_id, currency, number, due_on, balance_minor FROM invoice"
        " WHERE balance_minor > 0 AND voided = 0 AND due_on <= ? ORDER BY customer_id, currency, due_on",
        (NOW.date().isoformat(),),
    ).fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed, len(rows)


def main() -> None:
    portfolio = generate_portfolio(CUSTOMERS, PER_CUSTOMER, date(2024, 3, 1), NOW.date(), seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cycle.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        load_portfolio(path, portfolio)
        floor_s, open_rows = floor(path)
        settings = Settings(_env_file=None, database_url=f"sqlite:///{path}", var_dir=Path(tmp) / "var")
        db = Database(engine)
        before = peak_rss_mb()
        started = time.perf_counter()
        with db.session() as session:
            result = run_cycle(session, FrozenClock(NOW), settings)
        elapsed = time.perf_counter() - started
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
    report(
        f"cycle: {CUSTOMERS:,} customers, {len(portfolio.invoices):,} invoices ({open_rows:,} open and due), "
        "fresh SQLite",
        [
            (
                "cycle",
                f"{elapsed:.2f} s: {counts['opened']:,} cases opened, {counts['plan']:,} steps planned, "
                f"{counts['pass']:,} passed, {counts['wait']:,} waiting",
            ),
            ("next cycle, an hour later", f"{second:.2f} s: {again.counts['plan']:,} planned"),
            ("steady state, another hour later", f"{steady:.2f} s: nothing changed, nothing looked at"),
            ("floor: raw sqlite3 read of the open invoices", f"{floor_s:.2f} s"),
            ("ratio first cycle / floor", f"{elapsed / floor_s:.1f}x  (goal: within 5x)"),
            ("ratio steady state / floor", f"{steady / floor_s:.1f}x"),
            ("peak memory", f"{peak:,.0f} MB (before the cycle: {before:,.0f} MB; goal under 1,500 MB)"),
        ],
    )


if __name__ == "__main__":
    main()
