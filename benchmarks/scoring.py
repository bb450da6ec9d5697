"""The nightly rescore over 100,000 customers and 1,000,000 invoices read from the database, on
SQLite and, when DUNNING_BENCH_DATABASE_URL is set, on PostgreSQL, against a floor measured on the
same database in the same run: a raw read of the same invoices (sqlite3, psycopg), plus raw XGBoost
`inplace_predict` on the final feature matrix with the same booster.

The portfolio is generated (dunning/simulation.py) and written into a fresh, migrated database with
raw inserts (COPY on PostgreSQL); the champion is trained on a separate, smaller portfolio from the same generator
(the benchmark is about scoring, not training). The timed part runs in a fresh child process,
so its peak memory is the rescore's and not the generator's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import (  # noqa: E402
    Compared,
    compared,
    databases,
    fresh_database,
    kind_of,
    label,
    load_portfolio,
    peak_rss_mb,
    raw_connection,
    report,
)

CUSTOMERS, PER_CUSTOMER = 100_000, 10
TRAIN_CUSTOMERS = 10_000
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # the nightly run
START = date(2024, 3, 1)
REPEAT = 3


def build(url: str, tmp: Path) -> None:
    from dunning.clock import FrozenClock
    from dunning.config import Settings
    from dunning.db import Database, make_engine
    from dunning.scoring import registry
    from dunning.scoring.model import train
    from dunning.scoring.models import ModelVersion
    from dunning.simulation import generate_portfolio

    engine = make_engine(url)
    load_portfolio(url, generate_portfolio(CUSTOMERS, PER_CUSTOMER, START, NOW.date(), seed=11))

    small = generate_portfolio(TRAIN_CUSTOMERS, PER_CUSTOMER, START, NOW.date(), seed=12)
    model = train(small.ledger(), events=small.scoring_events(), cutoff=NOW, created_at=NOW)
    settings = Settings(_env_file=None, var_dir=tmp / "var")
    artifact = model.save(settings.model_dir / model.version)
    db = Database(engine)
    with db.session() as s:
        s.add(
            ModelVersion(
                version=model.version,
                fingerprint=model.version,
                late_days=15,
                n_rows=model.metadata["n_rows"],
                features=model.features,
                training_window=model.metadata["training_window"],
                metrics={},
                artifact_path=str(artifact),
                created_at=NOW,
            )
        )
    with db.session() as s:
        registry.promote(s, FrozenClock(NOW), model.version, "benchmark")
    engine.dispose()


def measure(url: str, tmp: Path) -> dict:
    """In a fresh process: the rescore, step by step as the job runs it, then the floor; best of
    REPEAT, each on a fresh copy of the database (the machine may be busy with other work)."""
    kind = kind_of(url)
    runs = []
    for i in range(REPEAT):
        with fresh_database(kind, tmp, f"rescore_run{i}", like=url) as copy:
            runs.append(_once(copy))
            if i == REPEAT - 1:
                night2 = _next_night(copy)
    best = {k: min(r["t"][k] for r in runs) for k in runs[0]["t"]}
    out = {
        **runs[-1],
        "t": best,
        "peak": runs[0]["peak"],
        "floor_read": min(r["floor_read"] for r in runs),
        "floor_predict": min(r["floor_predict"] for r in runs),
        "whole": min(sum(r["t"].values()) for r in runs),
    }
    out["night2"] = night2
    return out


def _once(url: str) -> dict:
    import numpy as np

    from dunning.clock import FrozenClock
    from dunning.db import Database, make_engine
    from dunning.memory import collector_paused
    from dunning.scoring import rescore

    engine = make_engine(url)
    db, clock = Database(engine), FrozenClock(NOW)
    t: dict[str, float] = {}
    with collector_paused():  # as jobs.rescore runs
        started = time.perf_counter()
        with db.session() as session:
            data = rescore.read_for_scoring(session, clock)
        t["read"] = time.perf_counter() - started
        started = time.perf_counter()
        X, meta = rescore.open_invoice_rows(data, 15)
        t["features"] = time.perf_counter() - started
        started = time.perf_counter()
        model = rescore.scorer(data, 15)
        p = model.predict_proba(X)
        t["predict"] = time.perf_counter() - started
        started = time.perf_counter()
        picked = rescore.riskiest_accounts(data, X, meta, p)
        t["weighting"] = time.perf_counter() - started
        started = time.perf_counter()
        reasons = model.reasons(X.loc[picked["row"].to_numpy()])
        computed = rescore.scored(data, picked, reasons)
        t["reasons"] = time.perf_counter() - started
        started = time.perf_counter()
        with db.session() as session:
            result = rescore.store_scores(session, clock, computed, data)
        t["write"] = time.perf_counter() - started
    engine.dispose()
    peak = peak_rss_mb()  # before the floor allocates its own million rows

    # The floor: the same invoices read with the raw driver, and the same booster on the final
    # matrix, with the collector paused as well, so that the ratio compares the work and not it.
    with collector_paused():
        con = raw_connection(url)
        started = time.perf_counter()
        rows = con.execute(
            "SELECT id, customer_id, issued_on, due_on, paid_on, total_minor, balance_minor, currency"
            " FROM invoice WHERE NOT voided AND (paid_on IS NOT NULL OR balance_minor > 0)"
            " ORDER BY id"
        ).fetchall()
        floor_read = time.perf_counter() - started
        con.close()
        matrix = X[model.features].to_numpy(np.float32)
        started = time.perf_counter()
        model.booster.inplace_predict(matrix, predict_type="margin")
        floor_predict = time.perf_counter() - started
    return {
        "t": t,
        "peak": peak,
        "invoices": len(data.history.invoices),
        "open": len(X),
        "scored": result.customers,
        "written": result.written,
        "version": data.version,
        "floor_read": floor_read,
        "floor_predict": floor_predict,
        "floor_rows": len(rows),
    }


def _next_night(url: str) -> dict:
    """The same job a day later, now with a score history to read and compare against."""
    from datetime import timedelta

    from dunning.clock import FrozenClock
    from dunning.config import Settings
    from dunning.db import Database, make_engine
    from dunning.scoring import jobs

    started = time.perf_counter()
    engine = make_engine(url)
    result = jobs.rescore(
        Database(engine), FrozenClock(NOW + timedelta(days=1)), Settings(_env_file=None, database_url=url)
    )
    engine.dispose()
    return {"seconds": time.perf_counter() - started, "written": result.written}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]))))
        return
    rows, details = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in databases():
            with fresh_database(kind, Path(tmp), "rescore") as url:
                built = time.perf_counter()
                build(url, Path(tmp))
                built = time.perf_counter() - built
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", url, tmp],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=Path(__file__).resolve().parent.parent,
                )
            m = json.loads(out.stdout.strip().splitlines()[-1])
            row, lines = summary(label(kind), m, built)
            rows.append(row)
            details += lines
    report(
        f"rescore: {CUSTOMERS:,} customers, {m['invoices']:,} invoices from the database ({m['open']:,} open),"
        f" fresh database; best of {REPEAT}",
        details,
    )
    compared("rescore: the whole job against a raw read and raw predict", rows)


def summary(name: str, m: dict, built: float) -> tuple[Compared, list[tuple[str, str]]]:
    t, whole = m["t"], m["whole"]
    floor = m["floor_read"] + m["floor_predict"]
    row = Compared(
        name,
        f"{whole:.2f} s: {m['scored']:,} customers",
        f"read {m['floor_read']:.2f} s + predict {m['floor_predict']:.3f} s",
        f"{whole / floor:.1f}x (goal: within 3x)",
    )
    return row, [
        (f"{name}: {k}", v)
        for k, v in [
            ("DB read (invoices, events, champion)", f"{t['read']:.2f} s"),
            ("feature building", f"{t['features']:.2f} s"),
            ("prediction", f"{t['predict']:.2f} s"),
            ("per customer: weighting, riskiest account", f"{t['weighting']:.2f} s"),
            ("reasons (exact SHAP, one invoice per customer)", f"{t['reasons']:.2f} s"),
            ("write (append scores)", f"{t['write']:.2f} s: {m['written']:,} rows"),
            ("whole rescore", f"{whole:.2f} s: {m['scored']:,} customers scored with {m['version']}"),
            ("floor: raw read", f"{m['floor_read']:.2f} s ({m['floor_rows']:,} rows)"),
            ("floor: raw inplace_predict", f"{m['floor_predict']:.3f} s"),
            ("ratio whole / floor", f"{whole / floor:.1f}x  (goal: within 3x)"),
            ("ratio without the reasons", f"{(sum(t.values()) - t['reasons']) / floor:.1f}x"),
            (
                "the next night (the whole job, once)",
                f"{m['night2']['seconds']:.2f} s: "
                f"{m['night2']['written']:,} new scores, "
                f"{m['night2']['seconds'] / floor:.1f}x the floor",
            ),
            ("peak memory of the rescore process", f"{m['peak']:,.0f} MB"),
            ("(setup: generate, load, train champion)", f"{built:.0f} s"),
        ]
    ]


if __name__ == "__main__":
    main()
