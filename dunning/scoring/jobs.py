"""What the scheduler calls: the nightly rescore and the weekly retrain.

Each step gets its own short transaction (read, then compute with no transaction open, then
write), so a long training never holds SQLite's write lock while ingest waits behind it. The
write steps re-check what they rely on (the fingerprint, the champion), so a second run or a
second worker doing the same thing is harmless: same data gives no new version, and a rescore
that finds every score unchanged appends nothing.
"""
from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import Database
from dunning.scoring import rescore as scoring, service

log = logging.getLogger(__name__)


_pause_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a rescore allocates millions of rows, tuples and lists
    that hold no cycles (reference counting frees them), and the collector, woken again and again
    by the allocations, walked the whole heap each time: a third of the job. Re-entrant across
    threads (the embedded worker runs jobs next to the API); the collector resumes after the last."""
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def rescore(db: Database, clock: Clock, settings: Settings) -> scoring.RescoreResult:
    with collector_paused():
        with db.session() as session:
            data = scoring.read_for_scoring(session, clock)
        computed = scoring.score_customers(data, settings.late_days_threshold)
        with db.session() as session:
            result = scoring.store_scores(session, computed, data)
    log.info("rescore with %s: %d customers scored, %d new scores", result.scorer, result.customers, result.written)
    return result


def retrain(db: Database, clock: Clock, settings: Settings, *, actor: str = "scheduler") -> service.TrainResult:
    """Train a challenger; when it is promoted, rescore at once so the new champion's scores apply
    from the next cycle rather than the next night."""
    with db.session() as session:
        plan = service.prepare_training(session, clock, settings)
    if plan.result is not None:
        result = plan.result
    else:
        candidate = service.fit_challenger(plan)
        with db.session() as session:
            result = service.record_training(session, clock, settings, candidate, actor=actor)
    log.info("retrain: %s", result.message)
    if result.promoted:
        rescore(db, clock, settings)
    return result
