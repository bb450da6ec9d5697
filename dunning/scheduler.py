"""APScheduler wiring (DESIGN.md section 5): which job runs how often.

The database is the source of truth; the scheduler only fires periodic jobs, each safe to run
twice or in two processes at once (dedupe keys, SKIP LOCKED claims, an advisory lock on the
cycle). The job store is SQLAlchemy on the service's own database, so the schedule survives
restarts; job functions are referenced by name and find the running worker through `_worker`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from dunning import subscriptions
from dunning.arrangements import jobs as arrangement_jobs
from dunning.cases.compose import Composer
from dunning.cases.cycle import run_cycle
from dunning.channels.transports import build_transports
from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import Database
from dunning.monitoring import metrics
from dunning.outbox.dispatch import Dispatcher
from dunning.outbox.dispatch import summary as dispatch_summary
from dunning.scoring import jobs as scoring_jobs
from dunning.webhooks.deliver import Deliverer
from dunning.webhooks.egress import Resolver, system_resolver

log = logging.getLogger(__name__)
JOB_TABLE = "apscheduler_jobs"
_worker: Worker | None = None
# Scoring runs at night, UTC, when the ledger is quiet; the retrain comes after that night's rescore.
RESCORE_CRON = {"hour": 2, "minute": 0}
RETRAIN_CRON = {"day_of_week": "sun", "hour": 3, "minute": 0}


class Worker:
    def __init__(self, settings: Settings, db: Database, clock: Clock, resolve: Resolver = system_resolver):
        self.settings, self.db, self.clock = settings, db, clock
        subscriptions.connect()
        self.dispatcher = Dispatcher(
            db,
            clock,
            build_transports(settings),
            Composer(settings, clock),
            batch=settings.dispatch_batch,
            max_attempts=settings.max_send_attempts,
        )
        self.deliverer = Deliverer(db, clock, settings, resolve=resolve)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename=JOB_TABLE)},
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )

    @property
    def running(self) -> bool:
        """Firing jobs: neither stopped nor paused (APScheduler's own `running` is true when paused)."""
        return bool(self.scheduler.state == STATE_RUNNING)

    def cycle(self) -> None:
        with metrics.timed("cycle"), self.db.session() as session:
            report = run_cycle(session, self.clock, self.settings)
        log.info("cycle: %s", report.summary(), extra={"counts": dict(report.counts)})

    def arrangements(self) -> None:
        with metrics.timed("arrangements"):
            counts = arrangement_jobs.run_once(self.db, self.clock, self.settings)
        log.info("arrangements: %s", arrangement_jobs.summary(counts), extra={"counts": dict(counts)})

    def rescore(self) -> None:
        with metrics.timed("rescore"):
            scoring_jobs.rescore(self.db, self.clock, self.settings)

    def retrain(self) -> None:
        with metrics.timed("retrain"):
            scoring_jobs.retrain(self.db, self.clock, self.settings)

    async def start(self) -> None:
        global _worker
        _worker = self
        jobs = [
            ("cycle", "dunning.scheduler:cycle_job", self.settings.cycle_interval_seconds),
            ("dispatch", "dunning.scheduler:dispatch_job", self.settings.dispatch_interval_seconds),
            ("webhooks", "dunning.scheduler:webhooks_job", self.settings.webhook_interval_seconds),
            ("arrangements", "dunning.scheduler:arrangements_job", self.settings.arrangements_interval_seconds),
        ]
        for job_id, func, seconds in jobs:
            self.scheduler.add_job(func, "interval", seconds=seconds, id=job_id, replace_existing=True)
        self.scheduler.add_job(
            "dunning.scheduler:rescore_job", "cron", id="rescore", replace_existing=True, **RESCORE_CRON
        )
        self.scheduler.add_job(
            "dunning.scheduler:retrain_job", "cron", id="retrain", replace_existing=True, **RETRAIN_CRON
        )
        self.scheduler.start()

    async def stop(self) -> None:
        global _worker
        self.scheduler.shutdown(wait=False)
        await self.dispatcher.close()
        await self.deliverer.close()
        _worker = None


async def cycle_job() -> None:
    if _worker is not None:
        await asyncio.to_thread(_worker.cycle)


async def arrangements_job() -> None:
    if _worker is not None:
        await asyncio.to_thread(_worker.arrangements)


async def rescore_job() -> None:
    if _worker is not None:
        await asyncio.to_thread(_worker.rescore)


async def retrain_job() -> None:
    if _worker is not None:
        await asyncio.to_thread(_worker.retrain)


async def dispatch_job() -> None:
    if _worker is not None:
        with metrics.timed("dispatch"):
            # everything due, batch after batch: one batch per interval would cap a worker at
            # `dispatch_batch` messages every few seconds, however fast the provider takes them
            counts = await _worker.dispatcher.drain()
        metrics.count(metrics.DISPATCHED, counts)
        if any(counts.values()):  # every few seconds: only the rounds that did something
            log.info("dispatch: %s", dispatch_summary(counts), extra={"counts": dict(counts)})


async def webhooks_job() -> None:
    if _worker is not None:
        with metrics.timed("webhooks"):
            counts = await _worker.deliverer.drain()
        metrics.count(metrics.DELIVERIES, {k: counts[k] for k in ("delivered", "failed")})
        if counts["delivered"] or counts["failed"]:
            log.info("webhooks: %s", dict(counts))


async def start_embedded(settings: Settings, db: Database, clock: Clock, resolve: Resolver = system_resolver) -> Worker:
    worker = Worker(settings, db, clock, resolve)
    await worker.start()
    return worker
