"""The worker says what it did: one line per cycle (decisions, messages planned by channel), per
dispatch round that did something (sent, failed, deferred, in doubt), per arrangements run."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import date, timedelta

import pytest

from dunning import scheduler
from dunning.arrangements.jobs import summary as arrangements_summary
from dunning.outbox.dispatch import summary as dispatch_summary
from tests.builders import customer, invoice
from tests.outbox.support import ADDRESS, seed


@pytest.fixture
def worker(db, clock, settings):
    seed(
        db,
        clock,
        [customer("C1", address=ADDRESS, phone="+33612345678")],
        [invoice(f"I{i}", due=date(2026, 2, 20) + timedelta(days=i), total="400.00") for i in range(2)],
    )
    w = scheduler.Worker(settings, db, clock)
    scheduler._worker = w  # as Worker.start leaves it, without starting APScheduler
    yield w
    scheduler._worker = None
    asyncio.run(w.dispatcher.close())


def lines(caplog, prefix: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dunning.scheduler" and r.getMessage().startswith(prefix)]


def test_each_cycle_logs_what_it_decided_and_planned(worker, caplog):
    with caplog.at_level(logging.INFO, logger="dunning.scheduler"):
        worker.cycle()
        worker.cycle()
    first, second = lines(caplog, "cycle: ")
    # The pre-due nudge is too late to send, so it passes; the first reminder is planned, by email.
    assert first.getMessage() == (
        "cycle: 1 customer looked at, 2 decisions: 1 step planned, 1 passed; 1 message planned: 1 email; 1 case opened"
    )
    assert first.counts["plan"] == 1 and first.counts["pass"] == 1  # the counts as fields too, for a JSON log
    assert second.getMessage() == "cycle: 1 customer looked at, 1 decision: 1 waiting"


def test_a_dispatch_round_logs_sent_failed_deferred_and_in_doubt(worker, caplog, clock):
    worker.cycle()
    with caplog.at_level(logging.INFO, logger="dunning.scheduler"):
        asyncio.run(scheduler.dispatch_job())
        asyncio.run(scheduler.dispatch_job())  # nothing left: a quiet round says nothing
    (line,) = lines(caplog, "dispatch: ")
    assert line.getMessage() == "dispatch: 1 sent, 0 failed, 0 deferred, 0 in doubt"


def test_a_dispatch_round_sends_everything_due_batch_after_batch(db, clock, settings, caplog):
    # three customers, batches of one: a round that sent one batch and waited for the next
    # interval would leave two behind, and a busy queue would grow faster than it is sent
    names = ["C1", "C2", "C3"]
    seed(
        db,
        clock,
        [customer(name, address=ADDRESS) for name in names],
        [invoice(f"I{n}", n, due=date(2026, 2, 20)) for n in names],
    )
    w = scheduler.Worker(settings.model_copy(update={"dispatch_batch": 1}), db, clock)
    scheduler._worker = w
    try:
        w.cycle()
        with caplog.at_level(logging.INFO, logger="dunning.scheduler"):
            asyncio.run(scheduler.dispatch_job())
    finally:
        scheduler._worker = None
        asyncio.run(w.dispatcher.close())
    (line,) = lines(caplog, "dispatch: ")
    assert line.getMessage() == "dispatch: 3 sent, 0 failed, 0 deferred, 0 in doubt"


def test_the_arrangements_run_is_logged_even_when_idle(worker, caplog):
    with caplog.at_level(logging.INFO, logger="dunning.scheduler"):
        worker.arrangements()
    assert [r.getMessage() for r in lines(caplog, "arrangements: ")] == ["arrangements: nothing to do"]


def test_summaries_name_every_outcome():
    assert dispatch_summary(Counter(sent=3, postponed=2, queued=1, failed=1, in_doubt=1, cancelled=2, requeued=1)) == (
        "3 sent, 1 failed, 3 deferred (2 to the next contact window or a later check, 1 to retry), 1 in doubt, "
        "2 cancelled, 1 back in the queue after a worker stopped"
    )
    assert arrangements_summary(Counter(promise_kept=2, plan_defaulted=1, pause_ended=1, planned=1, failed=0)) == (
        "1 pause ended, 1 plan defaulted, 1 step planned for resumed cases, 2 promises kept"
    )
