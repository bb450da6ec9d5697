"""Dispatch: 5,000 consolidated reminder emails planned by the cycle in a fresh database, sent by
the Dispatcher over SMTP to an aiosmtpd sink in another process on loopback, against a raw
aiosmtplib loop sending the same 5,000 messages (the bytes the outbox stored) on one connection
to the same sink in the same run, batch by batch in turn; on SQLite, and on PostgreSQL when
DUNNING_BENCH_DATABASE_URL is set.

On PostgreSQL, then, workers that scale: 1, 2 and 4 worker processes drain copies of one planned
outbox against a sink that takes 20 ms a message; what the sink took says whether any message
went twice or not at all, and the claim's plan is checked to read an index.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiosmtplib
from sqlalchemy import select
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import Compared, compared, databases, fresh_database, label, report  # noqa: E402
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
from dunning.outbox.dispatch import Dispatcher, settle_heap  # noqa: E402
from dunning.outbox.models import Message  # noqa: E402
from dunning.outbox.service import due_query  # noqa: E402
from dunning.policies import service as policy_service  # noqa: E402

MESSAGES = 5_000
SCALE_MESSAGES = 2_000
WORKERS = (1, 2, 4)
# what a worker claims at once (dispatch_batch): a worker holds up to two batches (it claims the
# next while it sends one), which no other worker can take; at 200 the last batches of a queue of
# 2,000 were shared 600/600/400/400 among four workers
SCALE_BATCH = 50
SINK_LATENCY = 0.020  # seconds the sink takes per message, as a provider's relay might
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday 10:00 in Paris: inside the contact window
ONE_REMINDER = """
name: default
bands: [{name: all}]
paths:
  all:
    steps:
      - {key: r1, after_days: 3, kind: reminder, channels: [email]}
"""

# An aiosmtpd sink in its own process, taking each message in `latency` seconds (the provider's
# own time: asyncio.sleep, so that it costs the machine nothing) and counting what it took per
# our message id: on SIGTERM it prints what it counted as JSON.
SINK = r"""
import asyncio, json, re, signal, sys, time
from collections import Counter
from aiosmtpd.smtp import SMTP

LATENCY = float(sys.argv[1])
OURS = re.compile(rb"^X-Dunning-Message-Id: (\d+)\r?$", re.M)
seen, times = Counter(), []

class Handler:
    async def handle_DATA(self, server, session, envelope):
        if LATENCY:
            await asyncio.sleep(LATENCY)
        seen[int(OURS.search(envelope.original_content).group(1))] += 1
        times.append(time.monotonic())
        return "250 2.0.0 Accepted"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="sink"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(json.dumps({"accepted": sum(seen.values()), "distinct": len(seen),
                      "twice": sum(1 for n in seen.values() if n > 1)}), flush=True)

asyncio.run(main())
"""


@contextmanager
def smtp_sink(latency: float = 0.0) -> Iterator[tuple[int, dict]]:
    """Yields (port, counts): counts is filled when the block ends."""
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(latency)], stdout=subprocess.PIPE, text=True)
    counts: dict = {}
    try:
        yield int(sink.stdout.readline()), counts
    finally:
        sink.send_signal(signal.SIGTERM)
        counts.update(json.loads(sink.stdout.read().strip().splitlines()[-1]))
        sink.wait(30)


def bench_settings(url: str, port: int, var_dir: Path, **more) -> Settings:
    return Settings(
        _env_file=None,
        **more,
        database_url=url,
        var_dir=var_dir,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_reply_domain="replies.example.com",
        public_url="https://dunning.example.com",
    )


def plan(db: Database, clock: FrozenClock, settings: Settings, messages: int) -> None:
    """French customers with one to three overdue invoices each; one cycle plans a reminder each."""
    customers = [
        CustomerIn(
            external_id=f"C{i:05d}",
            name=f"Client {i} SARL",
            email=f"c{i}@example.com",
            language="fr",
            timezone="Europe/Paris",
            country="FR",
        )
        for i in range(messages)
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
        for i in range(messages)
        for k in range(1 + i % 3)
    ]
    with db.session() as session:
        policy_service.save(session, clock, "default", ONE_REMINDER, "benchmark")
        ledger_service.push_customers(session, clock, Batch.of(CustomerIn, customers))
        ledger_service.push_invoices(session, clock, Batch.of(InvoiceIn, invoices))
    with db.session() as session:
        result = run_cycle(session, clock, settings)
    assert result.counts["plan"] == messages, result.counts


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


def compare(kind: str, tmp: Path) -> tuple[Compared, list[tuple[str, str]]]:
    """The outbox against the raw loop on one kind of database, batch by batch in turn."""
    with fresh_database(kind, tmp, "dispatch") as url, smtp_sink() as (port, sink):
        engine = make_engine(url)
        db, clock = Database(engine), FrozenClock(NOW)
        settings = bench_settings(url, port, tmp / "var")
        plan(db, clock, settings, MESSAGES)
        settle_heap()  # as `main.py dispatch` does once set up
        elapsed, raw, sent, connections = asyncio.run(run(db, clock, settings, port))
        assert sent == MESSAGES, sent
        engine.dispose()
    assert sink["accepted"] == 2 * MESSAGES and sink["distinct"] == MESSAGES, sink
    rate, floor = MESSAGES / elapsed, MESSAGES / raw
    row = Compared(
        label(kind),
        f"{rate:,.0f} messages/s",
        f"raw aiosmtplib {floor:,.0f} messages/s",
        f"{rate / floor:.2f} (goal >= 0.5)",
    )
    return row, [
        (
            f"{label(kind)}: outbox (claim, re-check, render, store, send, record)",
            f"{rate:,.0f} messages/s ({elapsed:.2f} s, {connections} SMTP connection(s))",
        ),
        (
            f"{label(kind)}: raw aiosmtplib loop, same messages, one connection",
            f"{floor:,.0f} messages/s ({raw:.2f} s)",
        ),
        (f"{label(kind)}: accepted by the sink", f"{sink['accepted']:,} (both runs)"),
    ]


def worker(url: str, port: int, var_dir: str) -> None:
    """One worker process, as `main.py dispatch --once` builds it; it says when it is ready and
    starts on a line from its parent, so that the processes start sending together."""
    from dunning.cli.base import open_database
    from dunning.cli.operations import _dispatcher, _drain

    settings = bench_settings(url, port, Path(var_dir), dispatch_batch=SCALE_BATCH)
    dispatcher = _dispatcher(settings, open_database(settings), FrozenClock(NOW))
    settle_heap()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    counts = asyncio.run(_drain(dispatcher))
    print(json.dumps({**counts, "cpu": time.process_time() - cpu}), flush=True)


def scale(tmp: Path) -> list[str]:
    """1, 2 and 4 worker processes on PostgreSQL, each a copy of one planned outbox, against a
    sink that takes SINK_LATENCY a message: the provider, not the machine, is the bottleneck."""
    lines, rates = [], {}
    with fresh_database("postgresql", tmp, "dispatch_planned") as planned:
        engine = make_engine(planned)
        plan(Database(engine), FrozenClock(NOW), bench_settings(planned, 25, tmp / "var"), SCALE_MESSAGES)
        engine.dispose()
        for n in WORKERS:
            with (
                fresh_database("postgresql", tmp, f"dispatch_{n}w", like=planned) as url,
                smtp_sink(SINK_LATENCY) as (port, sink),
            ):
                args = [sys.executable, __file__, "--worker", url, str(port), str(tmp / "var")]
                procs = [
                    subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)
                ]
                for proc in procs:
                    assert proc.stdout.readline().strip() == "ready"
                started = time.perf_counter()
                for proc in procs:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                outs = [json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1]) for proc in procs]
                elapsed = time.perf_counter() - started
                if n == WORKERS[-1]:
                    plan_text = claim_plan(url)
            sent = [out.get("sent", 0) for out in outs]
            cpu_ms = 1000 * sum(out["cpu"] for out in outs) / max(sum(sent), 1)
            rates[n] = sum(sent) / elapsed
            lost = SCALE_MESSAGES - sink["distinct"]
            lines += [
                f"{n} worker(s): {rates[n]:.1f} messages/s ({elapsed:.1f} s), {rates[n] / rates[WORKERS[0]]:.2f}x one",
                f"  sent per worker {'/'.join(map(str, sent))}; {cpu_ms:.1f} ms of worker CPU a message;"
                f" machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                f"  at the sink: {sink['accepted']:,} accepted, {sink['distinct']:,} distinct messages,"
                f" {sink['twice']} twice, {lost} lost",
            ]
    ratio = rates[WORKERS[-1]] / rates[WORKERS[0]]
    lines.append(f"{WORKERS[-1]} workers / 1 worker: {ratio:.2f}x (goal >= 3x)")
    lines.append("the claim's plan, on the outbox after the last run (ANALYZEd):")
    lines += ["  " + line for line in plan_text]
    return lines


def claim_plan(url: str) -> list[str]:
    """EXPLAIN of the claim's sweep as the dispatcher issues it, with real statistics."""
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE message")
        with Session(conn) as session:
            query = due_query(session, NOW, 200).compile(dialect=engine.dialect)
            lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(query), query.params)]
    engine.dispose()
    assert not any("Seq Scan" in line for line in lines), lines
    return lines


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    rows, details, scaling = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in databases():
            row, lines = compare(kind, Path(tmp))
            rows.append(row)
            details += lines
        if "postgresql" in databases():
            scaling = scale(Path(tmp))
    report(f"dispatch: {MESSAGES:,} consolidated reminder emails, SMTP to an aiosmtpd sink on loopback", details)
    compared("dispatch: the outbox against raw aiosmtplib, same messages, same sink", rows)
    if scaling:
        print(
            f"dispatch scaling on PostgreSQL: {SCALE_MESSAGES:,} reminders, worker processes draining one outbox,"
            f" a sink taking {SINK_LATENCY * 1000:.0f} ms a message"
        )
        for line in scaling:
            print("  " + line)


if __name__ == "__main__":
    main()
