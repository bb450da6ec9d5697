"""Dispatch: 5,000 consolidated reminder emails planned by the cycle in a fresh SQLite database, sent by
the Dispatcher over SMTP to an aiosmtpd sink in another process on loopback, against a raw
aiosmtplib loop sending the same 5,000 messages (the bytes the outbox stored) on one connection
to the same sink in the same run, batch by batch in turn."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiosmtplib
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import report  # noqa: E402
from dunning.cases.compose import Composer  # noqa: E402
from dunning.cases.cycle import run_cycle  # noqa: E402
from dunning.channels.contract import Envelope  # noqa: E402
from dunning.channels.email import MailIdentity, SmtpTransport, compose_bytes  # noqa: E402
from dunning.clock import FrozenClock  # noqa: E402
from dunning.config import Settings  # noqa: E402
from dunning.db import Database, make_engine  # noqa: E402
from dunning.ledger import service as ledger_service  # noqa: E402
from dunning.ledger.batch import Batch  # noqa: E402
from dunning.ledger.schemas import CustomerIn, InvoiceIn  # noqa: E402
from dunning.migrate import upgrade  # noqa: E402
from dunning.outbox.dispatch import Dispatcher, settle_heap  # noqa: E402
from dunning.outbox.models import Message  # noqa: E402
from dunning.policies import service as policy_service  # noqa: E402

MESSAGES = 5_000
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday 10:00 in Paris: inside the contact window
ONE_REMINDER = """
name: default
bands: [{name: all}]
paths:
  all:
    steps:
      - {key: r1, after_days: 3, kind: reminder, channels: [email]}
"""

SINK = r"""
import asyncio, signal
from aiosmtpd.smtp import SMTP

class Count:
    accepted = 0
    async def handle_DATA(self, server, session, envelope):
        Count.accepted += 1
        return "250 2.0.0 Accepted"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Count(), hostname="sink"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(Count.accepted, flush=True)

asyncio.run(main())
"""


def plan(db: Database, clock: FrozenClock, settings: Settings) -> None:
    """5,000 French customers with one to three overdue invoices each; one cycle plans a reminder each."""
    customers = [
        CustomerIn(
            external_id=f"C{i:05d}",
            name=f"Client {i} SARL",
            email=f"c{i}@example.com",
            language="fr",
            timezone="Europe/Paris",
            country="FR",
        )
        for i in range(MESSAGES)
    ]
    invoices = [
        InvoiceIn(
            external_id=f"I{i:05d}-{k}",
            customer_external_id=f"C{i:05d}",
            number=f"F-{i:05d}-{k}",
            currency="EUR",
            total=f"{100 + i % 900}.{k}0",
            issued_on=date(2026, 1, 1) + timedelta(days=k),
            due_on=date(2026, 2, 1) + timedelta(days=k),
        )
        for i in range(MESSAGES)
        for k in range(1 + i % 3)
    ]
    with db.session() as session:
        policy_service.save(session, clock, "default", ONE_REMINDER, "benchmark")
        ledger_service.push_customers(session, clock, Batch.of(CustomerIn, customers))
        ledger_service.push_invoices(session, clock, Batch.of(InvoiceIn, invoices))
    with db.session() as session:
        result = run_cycle(session, clock, settings)
    assert result.counts["plan"] == MESSAGES, result.counts


def stored(db: Database, settings: Settings, ids: list[int]) -> list[tuple[str, bytes]]:
    """The messages the outbox just sent, rebuilt from what it stored (recipient and bytes)."""
    identity = MailIdentity.from_settings(settings)
    with db.session() as session:
        rows = session.execute(select(Message).where(Message.id.in_(ids)).order_by(Message.id)).scalars().all()
    return [
        (
            m.recipient,
            compose_bytes(
                Envelope(
                    message_id=m.id,
                    channel="email",
                    recipient=m.recipient,
                    subject=m.subject,
                    text=m.body_text,
                    html=m.body_html,
                    reply_to=m.reply_token,
                    headers={"Message-ID": m.provider_id, "X-Dunning-Message-Id": str(m.id)},
                ),
                identity,
            ).data,
        )
        for m in rows
    ]


def sent_ids(db: Database, after: int) -> list[int]:
    with db.session() as session:
        return list(
            session.execute(
                select(Message.id).where(Message.status == "sent", Message.id > after).order_by(Message.id)
            ).scalars()
        )


async def run(db: Database, clock: FrozenClock, settings: Settings, port: int) -> tuple[float, float, int, int]:
    """Batch by batch, the outbox sends one batch, then the raw loop sends the same messages: the two
    see the same machine at the same moment, which on a shared machine matters more than anything."""
    transport = SmtpTransport(settings)
    dispatcher = Dispatcher(db, clock, {"email": transport}, Composer(settings, clock), batch=settings.dispatch_batch)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
    await client.connect()
    outbox_s = raw_s = 0.0
    sent = last = 0
    while True:
        started = time.perf_counter()
        counts = await dispatcher.run_once()
        outbox_s += time.perf_counter() - started
        if not counts["sent"]:
            break
        ids = sent_ids(db, last)
        sent, last = sent + len(ids), ids[-1]
        messages = stored(db, settings, ids)
        started = time.perf_counter()
        for recipient, data in messages:
            await client.sendmail(settings.smtp_from_address, [recipient], data)
        raw_s += time.perf_counter() - started
    await client.quit()
    await dispatcher.close()
    return outbox_s, raw_s, sent, transport.connections_opened


def main() -> None:
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "dispatch.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            db, clock = Database(engine), FrozenClock(NOW)
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite:///{path}",
                var_dir=Path(tmp) / "var",
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_security="none",
                smtp_reply_domain="replies.example.com",
                public_url="https://dunning.example.com",
            )
            plan(db, clock, settings)
            settle_heap()  # as `main.py dispatch` does once set up
            elapsed, raw, sent, connections = asyncio.run(run(db, clock, settings, port))
            assert sent == MESSAGES, sent
            engine.dispose()
    finally:
        sink.send_signal(signal.SIGTERM)
        accepted = int(sink.stdout.read().split()[-1])
        sink.wait(30)
    assert accepted == 2 * MESSAGES, accepted
    rate, floor = MESSAGES / elapsed, MESSAGES / raw
    report(
        f"dispatch: {MESSAGES:,} consolidated reminder emails, fresh SQLite, SMTP to an aiosmtpd sink on loopback",
        [
            (
                "outbox (claim, re-check, render, store, send, record)",
                f"{rate:,.0f} messages/s ({elapsed:.2f} s, {connections} SMTP connection(s))",
            ),
            ("raw aiosmtplib loop, same messages, one connection", f"{floor:,.0f} messages/s ({raw:.2f} s)"),
            ("ratio outbox / raw", f"{rate / floor:.2f}  (goal >= 0.5)"),
            ("accepted by the sink", f"{accepted:,} (both runs)"),
        ],
    )


if __name__ == "__main__":
    main()
