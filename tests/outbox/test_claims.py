"""Workers claiming from one outbox at the same moment never hold the same message.

Threads with connections of their own, on the committed database (SQLite, or PostgreSQL when
DUNNING_TEST_DATABASE_URL is set), each doing what Dispatcher._claim does: pick the due messages,
move them to `sending` for itself, commit.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dunning.outbox import service
from dunning.outbox.models import Message
from tests.outbox.support import plan_emails

pytestmark = pytest.mark.committed

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLAIMERS, MESSAGES, BATCH = 4, 60, 4


def test_concurrent_claimers_never_hold_the_same_message(committed_db, clock):
    plan_emails(committed_db, clock, NOW, MESSAGES)
    postgres = committed_db.engine.dialect.name == "postgresql"
    # On PostgreSQL the first claims stay open until every claimer holds its batch: each pick must
    # skip the rows the others have locked (a plain FOR UPDATE would wait here and break the
    # barrier). SQLite has one writer at a time (BEGIN IMMEDIATE): the claims queue instead.
    together = threading.Barrier(CLAIMERS, timeout=10)
    held: dict[str, list[int]] = {f"w{i}": [] for i in range(CLAIMERS)}
    errors: list[BaseException] = []

    def claimer(worker: str) -> None:
        try:
            first = True
            while True:
                with committed_db.session() as session:
                    ids = service.claim(session, clock, worker, service.due_ids(session, NOW, BATCH))
                    if first and postgres:
                        together.wait()
                    first = False
                held[worker] += ids
                if not ids:
                    return
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=claimer, args=(w,)) for w in held]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors

    claimed = Counter(i for ids in held.values() for i in ids)
    assert sum(claimed.values()) == MESSAGES and len(claimed) == MESSAGES, claimed.most_common(3)
    with committed_db.session() as session:
        rows = session.execute(select(Message.id, Message.status, Message.claimed_by)).all()
    owner = {i: w for w, ids in held.items() for i in ids}
    assert {(r.id, r.status, r.claimed_by) for r in rows} == {(i, "sending", owner[i]) for i in owner}
    if postgres:
        assert all(len(ids) >= BATCH for ids in held.values()), {w: len(ids) for w, ids in held.items()}
