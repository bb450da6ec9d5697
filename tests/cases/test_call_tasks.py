"""One open call task per case (issue 14): a customer nobody can reach by email, text or post is
one phone call for the team, not one call per step of the path; the database decides, also when
several workers ask at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import select, update

from dunning.cases.models import Case
from dunning.events.models import EventRecord
from dunning.tasks.models import Task
from dunning.tasks.service import open_task
from tests.builders import customer, invoice
from tests.outbox.support import cycle, seed, tasks, use_policy

FOUR_STEPS = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, name: First reminder, after_days: 1, kind: reminder, channels: [email]}
      - {key: r2, name: Second reminder, after_days: 3, kind: reminder, channels: [email, sms]}
      - {key: r3, name: Third reminder, after_days: 5, kind: reminder, channels: [sms]}
      - {key: notice, name: Formal notice, after_days: 7, kind: formal_notice, channels: [email, letter]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def unreachable(db, clock) -> None:
    use_policy(db, clock, FOUR_STEPS)
    seed(
        db,
        clock,
        [customer("NEWCO", name="NEWCO Ltd", email=None, phone=None, address=None)],
        [invoice("I1", "NEWCO", due=date(2026, 3, 1))],
    )


def test_a_customer_nobody_can_reach_is_one_open_call_with_every_step_noted(db, clock, settings):
    unreachable(db, clock)
    for _ in range(10):
        cycle(db, clock, settings)
        clock.advance(days=1)
    [call] = tasks(db, kind="call")
    assert call.status == "open" and call.title == "Call NEWCO Ltd about 1 overdue invoice (First reminder)"
    assert [n["text"].splitlines()[0] for n in call.notes] == [
        "Call NEWCO Ltd about 1 overdue invoice (Second reminder)",
        "Call NEWCO Ltd about 1 overdue invoice (Third reminder)",
        "Call NEWCO Ltd about 1 overdue invoice (Formal notice)",
    ]
    for _ in range(3):  # cycles that decide nothing new add nothing
        cycle(db, clock, settings)
    assert len(tasks(db, kind="call")[0].notes) == 3


def test_the_cycle_opens_its_calls_together_each_with_its_event(db, clock, settings):
    use_policy(db, clock, FOUR_STEPS)
    names = ["NEWCO", "OLDCO", "MIDCO"]
    seed(
        db,
        clock,
        [customer(n, name=f"{n} Ltd", email=None, phone=None, address=None) for n in names]
        + [customer("MAILCO")],  # reachable: an email, no call
        [invoice(f"I-{n}", n, due=date(2026, 3, 1)) for n in [*names, "MAILCO"]],
    )
    cycle(db, clock, settings)

    def created() -> list[EventRecord]:
        with db.session() as session:
            return list(session.execute(select(EventRecord).where(EventRecord.type == "task.created")).scalars())

    calls = {t.id: t for t in tasks(db, kind="call")}
    events = created()
    assert sorted(e.data["customer"] for e in events) == sorted(names)
    for event in events:
        call = calls[event.data["task_id"]]
        assert (event.case_id, event.customer_id, event.data["case_id"]) == (
            call.case_id,
            call.customer_id,
            call.case_id,
        )
        assert (
            event.data["title"]
            == call.title
            == f"Call {event.data['customer']} Ltd about 1 overdue invoice (First reminder)"
        )
        assert event.data["kind"] == "call" and event.data["assignee"] is None
    clock.advance(hours=1)
    cycle(db, clock, settings)  # nothing new to decide: no task, no event
    assert len(tasks(db, kind="call")) == 3 and len(created()) == 3


def test_a_call_for_a_case_with_an_open_call_joins_it_in_the_cycle(db, clock, settings):
    unreachable(db, clock)
    cycle(db, clock, settings)
    with db.session() as session:  # the first call's task is someone else's reason now
        session.execute(update(Task).values(key="another:reason"))
    clock.advance(days=3)
    cycle(db, clock, settings)
    [call] = tasks(db, kind="call")
    assert call.key == "another:reason"
    assert [n["text"].splitlines()[0] for n in call.notes] == [
        "Call NEWCO Ltd about 1 overdue invoice (Second reminder)"
    ]


def test_once_the_call_is_done_the_next_reason_opens_a_new_one(db, clock, settings):
    unreachable(db, clock)
    cycle(db, clock, settings)
    with db.session() as session:
        session.execute(update(Task).values(status="done"))
    clock.advance(days=3)
    cycle(db, clock, settings)
    assert [(t.status, t.title.endswith("(Second reminder)")) for t in tasks(db, kind="call")] == [
        ("done", False),
        ("open", True),
    ]


def test_other_tasks_and_calls_without_a_case_are_not_merged(db, clock, settings):
    unreachable(db, clock)
    cycle(db, clock, settings)
    with db.session() as session:
        case_id = session.execute(select(Case.id)).scalar_one()
        open_task(session, clock, kind="review", key="r:1", case_id=case_id, title="look")
        open_task(session, clock, kind="review", key="r:2", case_id=case_id, title="look again")
        open_task(session, clock, kind="call", key="c:1", title="call someone")
        open_task(session, clock, kind="call", key="c:2", title="call someone else")
    assert len(tasks(db, kind="review")) == 2 and len(tasks(db, kind="call", status="open")) == 3


@pytest.mark.committed
def test_calls_asked_for_at_the_same_moment_make_one_open_task(committed_db, clock, settings):
    db = committed_db
    unreachable(db, clock)
    cycle(db, clock, settings)
    with db.session() as session:
        case_id = session.execute(select(Case.id)).scalar_one()
        session.execute(update(Task).values(status="done"))  # the cycle's own call, out of the way
    n = 6
    barrier = threading.Barrier(n, timeout=60)

    def ask(i: int) -> int:
        barrier.wait()
        with db.session() as session:
            return open_task(
                session, clock, kind="call", key=f"reason:{i}", case_id=case_id, title=f"Call about reason {i}"
            ).id

    with ThreadPoolExecutor(n) as pool:
        ids = list(pool.map(ask, range(n)))
    [call] = tasks(db, kind="call", status="open")
    assert set(ids) == {call.id}  # every caller got the one open call
    reasons = [call.title] + [note["text"] for note in call.notes]
    assert sorted(reasons) == sorted(f"Call about reason {i}" for i in range(n))
