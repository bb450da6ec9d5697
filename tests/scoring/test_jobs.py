from __future__ import annotations

import asyncio

from apscheduler.triggers.cron import CronTrigger

from dunning.db import Database, make_engine
from dunning.scheduler import Worker
from dunning.scoring import jobs, scores
from tests.scoring.ledger import as_of, push, world


def test_the_retrain_job_promotes_and_rescores_at_once(db, clock, settings):
    push(db, clock, as_of(world(), clock.now().date()))
    result = jobs.retrain(db, clock, settings)
    assert result.promoted, result.message
    with db.session() as s:
        got = scores.newest(s)
    assert got and {g.model_version for g in got.values()} == {result.version}
    again = jobs.retrain(db, clock, settings)  # the same data: nothing new, and no rescore needed
    assert again.outcome == "unchanged"
    assert jobs.rescore(db, clock, settings).written == 0


def test_the_worker_schedules_a_nightly_rescore_and_a_weekly_retrain(settings, clock, tmp_path):
    # its own database: the scheduler's job store writes outside the test's transaction
    worker = Worker(settings, Database(make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")), clock)

    async def go():
        await worker.start()
        try:
            return {job.id: job for job in worker.scheduler.get_jobs()}
        finally:
            await worker.stop()

    found = asyncio.run(go())
    for job_id, expected in (
        ("rescore", "hour='2', minute='0'"),
        ("retrain", "day_of_week='sun', hour='3', minute='0'"),
    ):
        trigger = found[job_id].trigger
        assert isinstance(trigger, CronTrigger) and str(trigger.timezone) == "UTC"
        assert expected in repr(trigger), repr(trigger)
