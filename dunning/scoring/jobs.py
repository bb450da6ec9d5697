"""What the scheduler calls: the nightly rescore and the weekly retrain.

Each step gets its own short transaction (read, then compute with no transaction open, then
write), so a long training never holds SQLite's write lock while ingest waits behind it. The
write steps re-check what they rely on (the fingerprint, the champion), so a second run or a
second worker doing the same thing is harmless: same data gives no new version, and a rescore
that finds every score unchanged appends nothing.
"""

from __future__ import annotations

import logging

from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import Database
from dunning.memory import collector_paused
from dunning.scoring import service
from dunning.scoring.rescore import RescoreResult, read_for_scoring, score_customers, store_scores

log = logging.getLogger(__name__)


def rescore(db: Database, clock: Clock, settings: Settings) -> RescoreResult:
    with collector_paused():
        with db.session() as session:
            data = read_for_scoring(session, clock)
        computed = score_customers(data, settings.late_days_threshold)
        with db.session() as session:
            result = store_scores(session, clock, computed.scores, data, computed.pay_dates)
    log.info(
        "rescore with %s: %d customers scored, %d new scores, %d payment dates",
        result.scorer,
        result.customers,
        result.written,
        result.pay_dates,
    )
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
