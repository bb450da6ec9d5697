"""What the outbox knows after a crash or an uncertain send, and what a person can do about it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from dunning.cases.compose import Composer
from dunning.channels.contract import TransportError
from dunning.outbox import service
from dunning.outbox.dispatch import Dispatcher
from dunning.outbox.models import Attempt, Message
from tests.builders import customer, invoice
from tests.fakes.transport import Crash, ScriptedTransport
from tests.outbox.support import cycle, messages, seed, tasks

LATER = timedelta(hours=1)  # past the send lease: whoever held these is gone


def plan(db, clock, settings, n: int) -> list[Message]:
    seed(
        db,
        clock,
        [customer(f"C{i:02d}") for i in range(n)],
        [invoice(f"I{i:02d}", f"C{i:02d}", due=date(2026, 2, 20)) for i in range(n)],
    )
    cycle(db, clock, settings)
    planned = messages(db, channel="email")
    assert len(planned) == n
    return planned


def run(dispatcher: Dispatcher, *, drain: bool = True) -> Counter:
    return asyncio.run(dispatcher.drain() if drain else dispatcher.run_once())


def test_a_crash_leaves_one_group_in_doubt_and_the_rest_queued(db, clock, settings):
    plan(db, clock, settings, 30)
    dying = ScriptedTransport(crash_on=15)  # the 5th message of the second group of 10 never returns
    with pytest.raises(Crash):
        run(Dispatcher(db, clock, {"email": dying}, Composer(settings, clock), group=10, worker="w1"), drain=False)
    assert Counter(m.status for m in messages(db)) == {"sent": 10, "sending": 20}

    clock.advance(LATER)
    survivor = ScriptedTransport()
    counts = run(Dispatcher(db, clock, {"email": survivor}, Composer(settings, clock), group=10, worker="w2"))

    assert (counts["in_doubt"], counts["requeued"], counts["sent"]) == (10, 10, 10)
    rows = messages(db)
    assert Counter(m.status for m in rows) == {"sent": 20, "in_doubt": 10}
    seen = Counter(e.message_id for e in dying.sent + survivor.sent)
    assert max(seen.values()) == 1  # nothing twice
    assert {m.id for m in rows if m.status == "sent"} <= set(seen)
    requeued = [m for m in rows if m.id in {e.message_id for e in survivor.sent}]
    assert all(m.attempts == 1 and m.claimed_by == "w2" for m in requeued)  # the lost claim was no attempt
    doubts = tasks(db, kind="in_doubt")
    assert sorted(t.message_id for t in doubts) == sorted(m.id for m in rows if m.status == "in_doubt")
    with db.session() as session:
        unfinished = session.execute(select(Attempt.id).where(Attempt.finished_at.is_(None))).all()
    assert unfinished == []


def test_an_uncertain_error_is_in_doubt_at_once_and_not_retried(db, clock, settings):
    [row] = plan(db, clock, settings, 1)
    transport = ScriptedTransport()
    transport.errors["c00@example.com"] = TransportError(
        "SMTP data: timeout", permanent=False, code="data_timeout", uncertain=True
    )
    counts = run(Dispatcher(db, clock, {"email": transport}, Composer(settings, clock)))
    assert counts["in_doubt"] == 1 and not transport.sent
    [row] = messages(db)
    assert row.status == "in_doubt" and row.last_error.startswith("data_timeout")
    [task] = tasks(db, kind="in_doubt")
    assert task.message_id == row.id and "may have taken it" in task.detail
    clock.advance(days=1)
    assert run(Dispatcher(db, clock, {"email": transport}, Composer(settings, clock)))["sent"] == 0


def test_a_resend_a_person_asks_for_carries_the_same_message_id(db, clock, settings):
    [row] = plan(db, clock, settings, 1)
    transport = ScriptedTransport()
    transport.errors["c00@example.com"] = TransportError("dropped", permanent=False, uncertain=True)
    run(Dispatcher(db, clock, {"email": transport}, Composer(settings, clock)))
    first_token = messages(db)[0].reply_token
    with db.session() as session:
        service.resolve_in_doubt(session, clock, row.id, outcome="resend", actor="ops@example.com")
    transport.errors.clear()
    assert run(Dispatcher(db, clock, {"email": transport}, Composer(settings, clock)))["sent"] == 1
    [envelope] = transport.sent
    assert envelope.headers["Message-ID"].startswith(f"<dunning.{row.id}.{first_token}@")
    [row] = messages(db)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_worker_does_not_send_what_a_recovery_took_back(db, clock, settings):
    rows = plan(db, clock, settings, 3)
    slow = Dispatcher(db, clock, {"email": ScriptedTransport()}, Composer(settings, clock), worker="slow")
    batch = slow._claim()
    decided = [(m, slow._compose_one(batch, m)) for m in batch.messages]
    assert [p.action for _, p in decided] == ["send"] * 3
    clock.advance(LATER)  # the slow worker stalls past its lease; another worker recovers its claims
    with db.session() as session:
        recovered = service.recover_stale(session, clock)
    assert sorted(recovered.requeued) == [r.id for r in rows] and not recovered.in_doubt
    counts = Counter()
    assert slow._hand_over(decided, [], counts) == [] and counts["lost_claim"] == 3
    assert all(m.status == "queued" and m.body_text is None for m in messages(db))


def test_attempts_run_out_into_a_review_task(db, clock, settings):
    [row] = plan(db, clock, settings, 1)
    transport = ScriptedTransport()
    transport.errors["c00@example.com"] = TransportError("451 busy", permanent=False, code="451")
    dispatcher = Dispatcher(db, clock, {"email": transport}, Composer(settings, clock), max_attempts=3)
    for _ in range(3):
        run(dispatcher)
        clock.advance(minutes=30)  # past the backoff, still inside the contact window
    [row] = messages(db)
    assert (row.status, row.attempts) == ("failed", 3)
    [task] = tasks(db, kind="review")
    assert "failed after 3 attempts" in task.title


@pytest.mark.committed
def test_a_batch_claimed_ahead_and_not_sent_goes_back_to_the_queue(committed_db, clock, settings):
    plan(committed_db, clock, settings, 12)
    transport = ScriptedTransport()
    dispatcher = Dispatcher(committed_db, clock, {"email": transport}, Composer(settings, clock), batch=5)
    dispatcher.claim_ahead = True  # as on PostgreSQL; SQLite only makes the two transactions take turns
    counts = asyncio.run(dispatcher.drain(rounds=1))
    assert counts["sent"] == 5 and len(transport.sent) == 5
    left = [m for m in messages(committed_db) if m.status != "sent"]
    assert len(left) == 7
    assert all(m.status == "queued" and m.attempts == 0 and m.claimed_by is None for m in left)
    assert asyncio.run(dispatcher.drain())["sent"] == 7  # nothing waits out a lease


def test_a_message_that_cannot_be_rendered_fails_alone(db, clock, settings):
    rows = plan(db, clock, settings, 3)
    with db.session() as session:
        session.get(Message, rows[1].id).template = "no_such_template"
    transport = ScriptedTransport()
    counts = run(Dispatcher(db, clock, {"email": transport}, Composer(settings, clock)))
    assert (counts["sent"], counts["failed"]) == (2, 1)
    broken = messages(db, id=rows[1].id)[0]
    assert broken.status == "failed" and broken.attempts == 0 and "no_such_template" in broken.last_error
    [task] = tasks(db, kind="failure")  # one task for the case, with the first message that failed
    assert task.message_id == broken.id and task.case_id == broken.case_id and task.status == "open"
    assert "TemplateNotFound" in task.detail
