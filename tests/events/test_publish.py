"""Events are written by the transaction that makes the change, or not at all, and numbered in the
order the transactions commit, so that a reader's cursor never passes one that appears later."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text
from sqlmodel import Session

from dunning.events import feed
from dunning.events.models import EventRecord
from dunning.events.publish import publish, subscribe, unsubscribe
from dunning.tasks.models import Task
from dunning.tasks.service import open_task


def recorded(db) -> list[EventRecord]:
    with db.session() as session:
        return feed.after(session, 0, limit=1000)


def test_an_event_is_written_with_its_change_and_rolled_back_with_it(db, clock):
    with db.session() as session:
        open_task(session, clock, kind="manual", title="kept")
    with pytest.raises(RuntimeError), db.session() as session:
        open_task(session, clock, kind="manual", title="rolled back")
        raise RuntimeError("the change fails after the event was published")
    [event] = recorded(db)
    assert event.type == "task.created" and event.data["title"] == "kept"
    assert event.occurred_at == clock.now()


def test_a_savepoint_rolled_back_takes_its_events_and_one_released_keeps_them(db, clock):
    with db.session() as session:
        publish(session, clock, "task.note_added", text="before")
        savepoint = session.begin_nested()
        publish(session, clock, "task.note_added", text="in a savepoint given up")
        inner = session.begin_nested()
        publish(session, clock, "task.note_added", text="inside it, kept by its own release")
        inner.commit()
        savepoint.rollback()
        with session.begin_nested():
            publish(session, clock, "task.note_added", text="in a savepoint released")
        publish(session, clock, "task.note_added", text="after")
    assert [e.data["text"] for e in recorded(db)] == ["before", "in a savepoint released", "after"]


def test_subscribers_act_in_the_publishing_transaction(db, clock):
    seen = []

    def on_done(session: Session, event) -> None:
        seen.append(event)
        open_task(session, clock, kind="review", title=f"follow up task {event.data['task_id']}")

    subscribe("task.done", on_done)
    try:
        with pytest.raises(RuntimeError), db.session() as session:
            publish(session, clock, "task.done", task_id=1)
            raise RuntimeError("gone with the change")
        with db.session() as session:
            publish(session, clock, "task.done", task_id=2)
    finally:
        unsubscribe("task.done", on_done)
    assert [e.data["task_id"] for e in seen] == [1, 2]
    with db.session() as session:
        titles = session.execute(select(Task.title)).scalars().all()
    assert titles == ["follow up task 2"]  # the first one's reaction rolled back with it
    assert [e.type for e in recorded(db)] == ["task.done", "task.created"]


def test_an_unknown_type_is_a_programming_error(db, clock):
    with pytest.raises(ValueError, match="catalogue"), db.session() as session:
        publish(session, clock, "case.exploded")


@pytest.mark.committed
def test_ids_follow_the_order_of_the_commits(committed_db, clock):
    """A transaction that wrote its event first but commits last gets the later id: a reader that
    already read on past the other's event does not miss it."""
    if committed_db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: a second cannot commit in between")
    inserted, go = threading.Event(), threading.Event()

    def hold(session: Session) -> None:  # runs after the events were inserted, before COMMIT
        if session.info.get("hold"):
            inserted.set()
            assert go.wait(30)

    sa_event.listen(Session, "before_commit", hold)
    try:
        slow = threading.Thread(target=_publish_and_commit, args=(committed_db, clock, "slow", True))
        slow.start()
        assert inserted.wait(30)
        fast = threading.Thread(target=_publish_and_commit, args=(committed_db, clock, "fast", False))
        fast.start()
        _wait_for_a_lock_wait(committed_db)
        assert [e.data["text"] for e in recorded(committed_db)] == []  # neither is visible yet
        go.set()
        slow.join(30)
        fast.join(30)
    finally:
        go.set()
        sa_event.remove(Session, "before_commit", hold)
    events = recorded(committed_db)
    assert [e.data["text"] for e in events] == ["slow", "fast"]
    assert events[0].id < events[1].id


def _publish_and_commit(db, clock, label: str, hold: bool) -> None:
    with db.session() as session:
        session.info["hold"] = hold
        publish(session, clock, "task.note_added", text=label)


def _wait_for_a_lock_wait(db) -> None:
    """Until a session waits on the event lock (PostgreSQL's own view of its backends)."""
    with db.engine.connect() as conn:
        for _ in range(3000):
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
            if waiting:
                return
            threading.Event().wait(0.01)
    raise AssertionError("the second transaction never waited for the event lock")


def test_the_event_table_holds_no_row_before_the_commit(db, clock):
    with db.session() as session:
        publish(session, clock, "task.note_added", text="staged")
        assert session.execute(select(func.count()).select_from(EventRecord)).scalar() == 0
    assert len(recorded(db)) == 1
