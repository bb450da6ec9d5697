"""Real worker processes, a real SMTP sink, a real SIGKILL: nothing is sent twice, nothing is lost.

The outbox lives in the test's committed database (a SQLite file, or PostgreSQL when
DUNNING_TEST_DATABASE_URL is set); `main.py dispatch --once` runs as a subprocess against it,
with SMTP settings pointing at an aiosmtpd sink in this process that records every message it
accepts under our message id (the X-Dunning-Message-Id header).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dunning.outbox.models import Message
from tests.fakes.smtp import smtp_server
from tests.outbox.support import plan_emails

pytestmark = pytest.mark.committed

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning in Paris: inside the contact window
OUR_ID = re.compile(rb"^X-Dunning-Message-Id: (\d+)\r?$", re.M)
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)\r?$", re.M | re.I)
GROUP = 20  # the Dispatcher's default hand-over group: at most this many in doubt after a crash


class Sink:
    """An SMTP handler that takes each message slowly and counts what it took, per our message id.

    `gate`: hold every DATA until that many SMTP connections have started a message, so that
    concurrent workers are provably sending at the same time."""

    def __init__(self, *, delay: float = 0.0, notify_at: int = 0, gate: int = 0):
        self.delay, self.notify_at, self.gate = delay, notify_at, gate
        self.seen: Counter[int] = Counter()
        self.message_ids: dict[int, bytes] = {}
        self.reached = threading.Event()
        self.connections: set[int] = set()
        self._lock = threading.Lock()
        self._open: asyncio.Event | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        self.connections.add(id(server))
        if self.gate and len(self.connections) >= self.gate:
            self._gate().set()
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.gate:
            await asyncio.wait_for(self._gate().wait(), 60)
        if self.delay:
            await asyncio.sleep(self.delay)  # the slow provider: a worker cannot race through the outbox
        data = envelope.original_content
        ours = int(OUR_ID.search(data).group(1))
        with self._lock:
            self.seen[ours] += 1
            self.message_ids[ours] = MESSAGE_ID.search(data).group(1)
            if self.notify_at and sum(self.seen.values()) >= self.notify_at:
                self.reached.set()
        return "250 2.0.0 Accepted"

    def _gate(self) -> asyncio.Event:
        if self._open is None:  # created on the server's own loop
            self._open = asyncio.Event()
        return self._open


def worker(db, tmp_path: Path, port: int, now: datetime, log: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "DUNNING_VAR_DIR": str(tmp_path / "var"),
        "DUNNING_EMBEDDED_WORKER": "false",
        "DUNNING_SMTP_HOST": "127.0.0.1",
        "DUNNING_SMTP_PORT": str(port),
        "DUNNING_SMTP_SECURITY": "none",
        "DUNNING_SMTP_REPLY_DOMAIN": "replies.example.com",
        "DUNNING_SMTP_TIMEOUT_SECONDS": "30",
    }
    with open(tmp_path / log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "main.py", "dispatch", "--once", "--now", now.isoformat()],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(proc: subprocess.Popen, tmp_path: Path, log: str) -> None:
    assert proc.wait(timeout=120) == 0, (tmp_path / log).read_text()[-3000:]


def outbox(db) -> dict[int, Message]:
    with db.session() as session:
        return {m.id: m for m in session.execute(select(Message)).scalars()}


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(committed_db, clock, tmp_path):
    n = 1000
    plan_emails(committed_db, clock, NOW, n)
    sink = Sink(delay=0.002, notify_at=250)
    with smtp_server(handler=sink) as server:
        first = worker(committed_db, tmp_path, server.port, NOW, "first.log")
        try:
            assert sink.reached.wait(timeout=90), (tmp_path / "first.log").read_text()[-3000:]
        finally:
            first.kill()  # SIGKILL: no handler, no cleanup, mid-batch
            first.wait()
        assert first.returncode == -9
        killed_at = sum(sink.seen.values())
        assert 250 <= killed_at < n

        sink.delay = 0
        recovery = worker(committed_db, tmp_path, server.port, NOW + timedelta(hours=1), "recovery.log")
        finish(recovery, tmp_path, "recovery.log")

    rows = outbox(committed_db)
    status = Counter(m.status for m in rows.values())
    assert set(status) <= {"sent", "in_doubt"} and status["sent"] + status["in_doubt"] == n, status
    assert max(sink.seen.values()) == 1, "a message reached the sink twice"
    sent = [m for m in rows.values() if m.status == "sent"]
    assert all(sink.seen[m.id] == 1 and sink.message_ids[m.id].decode() == m.provider_id for m in sent)
    # Only the group handed to SMTP when the worker died is in doubt; what it had merely claimed
    # went back to the queue and out once.
    assert status["in_doubt"] <= GROUP, status


def test_two_workers_at_once_send_each_message_once(committed_db, clock, tmp_path):
    n = 1000
    plan_emails(committed_db, clock, NOW, n)
    sink = Sink(gate=2)  # no message is accepted before both workers are in the middle of sending
    with smtp_server(handler=sink) as server:
        workers = [worker(committed_db, tmp_path, server.port, NOW, f"w{i}.log") for i in range(2)]
        for i, proc in enumerate(workers):
            finish(proc, tmp_path, f"w{i}.log")

    rows = outbox(committed_db)
    assert Counter(m.status for m in rows.values()) == {"sent": n}
    assert sink.seen == Counter({m: 1 for m in rows})
    by_worker = Counter(m.claimed_by for m in rows.values())
    assert len(by_worker) == 2 and len(sink.connections) >= 2, by_worker
