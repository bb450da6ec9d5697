"""Crashes on either side lose no event: a worker killed in the middle of deliveries, a receiver
killed in the middle of taking them. Real processes, real SIGKILLs, as tests/outbox/test_crash.py
does for messages. Deliveries are at least once: what was in flight at the crash may arrive twice,
always with the same webhook-id, which the receiver uses to drop the copy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dunning.events.models import EventRecord
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.schemas import CustomerIn, PaymentIn
from dunning.webhooks import service as webhook_service
from dunning.webhooks.deliver import GROUP
from dunning.webhooks.egress import system_resolver
from tests.builders import customer, payment
from tests.fakes.webhooks import Receiver
from tests.webhooks.support import deliver, deliveries

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parent


def payments_received(db, clock, n: int) -> list[int]:
    """n payment.received events, written as the ledger writes them; their ids."""
    with db.session() as session:
        ledger_service.push_customers(session, clock, Batch.of(CustomerIn, [CustomerIn(**customer("C1"))]))
    with db.session() as session:
        ledger_service.push_payments(
            session, clock, Batch.of(PaymentIn, [PaymentIn(**payment(f"P{i:04d}")) for i in range(n)]), "payment"
        )
    with db.session() as session:
        return list(session.execute(select(EventRecord.id).where(EventRecord.type == "payment.received")).scalars())


def endpoint(db, clock, settings, url: str) -> str:
    with db.session() as session:
        return webhook_service.create_endpoint(
            session,
            clock,
            settings,
            system_resolver,
            url=url,
            events=["payment.received"],
            description=None,
            actor="test",
        ).secret


def worker(db, tmp_path: Path, now: datetime, log: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "DUNNING_VAR_DIR": str(tmp_path / "var"),
        "DUNNING_EMBEDDED_WORKER": "false",
    }
    with open(tmp_path / log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "main.py", "deliver-events", "--once", "--now", now.isoformat()],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.committed
def test_a_worker_killed_in_the_middle_of_deliveries_loses_nothing(committed_db, clock, settings, tmp_path):
    with Receiver(tolerance=False, hold_after=60) as receiver:
        receiver.secret = endpoint(committed_db, clock, settings, receiver.url)
        events = payments_received(committed_db, clock, 200)
        first = worker(committed_db, tmp_path, NOW, "first.log")
        try:
            with receiver.arrived:  # 60 taken, and more on their way that the receiver holds
                assert receiver.arrived.wait_for(lambda: receiver.held >= 1, timeout=90), (
                    tmp_path / "first.log"
                ).read_text()[-3000:]
        finally:
            first.kill()  # SIGKILL: mid-round, answers unread
            first.wait()
        receiver.gate.set()  # what was in flight is taken now: the dead worker never learns it
        assert first.returncode == -9
        assert 60 <= len(receiver.accepted) < 200

        recovery = worker(committed_db, tmp_path, NOW + timedelta(hours=1), "recovery.log")
        assert recovery.wait(timeout=120) == 0, (tmp_path / "recovery.log").read_text()[-3000:]

    rows = deliveries(committed_db)
    assert Counter(d.status for d in rows) == {"delivered": 200}, {
        d.last_error for d in rows if d.status != "delivered"
    }
    seen = Counter(receiver.ids())
    assert set(seen) == {f"evt_{i}" for i in events}  # nothing lost
    twice = [i for i, n in seen.items() if n > 1]
    assert max(seen.values()) <= 2 and len(twice) <= GROUP  # only the group in flight came again
    assert all(f"evt_{e['id']}" == r.headers["webhook-id"] for e, r in zip(receiver.events(), receiver.accepted))
    # a request the killed worker was writing arrived cut short: its signature did not verify
    assert all(len(r.body) < int(r.headers["Content-Length"]) for r in receiver.refused)
    assert {d.attempts for d in rows if f"evt_{d.event_id}" in twice} <= {2}


def receiver_process(tmp_path: Path, secret: str, port: int, die_after: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "receiver_process.py"),
            str(port),
            str(tmp_path / "received.txt"),
            secret,
            str(die_after),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, int(proc.stdout.readline())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_receiver_killed_in_the_middle_of_deliveries_gets_everything_after_its_restart(db, clock, settings, tmp_path):
    # A loopback receiver starved of CPU (a loaded machine) is slow, not gone: give it the longest timeout.
    settings = settings.model_copy(update={"webhook_timeout_seconds": 60})
    port = free_port()
    secret = endpoint(db, clock, settings, f"http://127.0.0.1:{port}/hook")
    events = payments_received(db, clock, 200)
    first, _ = receiver_process(tmp_path, secret, port, die_after=60)
    rounds = 0
    try:
        deliver(db, clock, settings)
        assert first.wait(timeout=30) == -9  # it died at the 60th, in the middle of a round
        taken = (tmp_path / "received.txt").read_text().split()
        assert len(taken) == 60
        rows = deliveries(db)
        assert Counter(d.status for d in rows)["pending"] == 200 - Counter(d.status for d in rows)["delivered"] >= 140
        assert any(d.last_error and "ConnectError" in d.last_error for d in rows)

        second, _ = receiver_process(tmp_path, secret, port, die_after=0)
        try:
            while rounds < 5 and any(d.status != "delivered" for d in deliveries(db)):
                rounds += 1
                clock.advance(hours=1)  # past every backoff so far
                deliver(db, clock, settings)
        finally:
            second.kill()
            second.wait()
    finally:
        if first.poll() is None:
            first.kill()
    received = Counter((tmp_path / "received.txt").read_text().split())
    assert set(received) == {f"evt_{i}" for i in events}  # nothing lost
    assert Counter(d.status for d in deliveries(db)) == {"delivered": 200}
    twice = {event for event, n in received.items() if n > 1}
    assert twice <= {f"evt_{d.event_id}" for d in deliveries(db) if d.attempts > 1}  # only a retry comes again
    if rounds == 1:  # the restarted receiver took everything at once: only the one it died holding came again
        assert len(twice) <= 1
