from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from dunning.cases.compose import Composer
from dunning.cases.cycle import run_cycle
from dunning.channels.registry import build_transports
from dunning.cli.base import app, clock_at, console, domain_errors, open_database
from dunning.config import get_settings
from dunning.money import display
from dunning.outbox.dispatch import Dispatcher, settle_heap

NowOpt = Annotated[str | None, typer.Option("--now", help="act as if it were this UTC timestamp (replays, simulations)")]


@app.command("run-cycle")
@domain_errors
def run_cycle_command(dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be planned; write nothing")] = False,
                      now: NowOpt = None) -> None:
    """Plan the due steps of every case: one consolidated message per case, step and channel."""
    settings, clock = get_settings(), clock_at(now)
    database = open_database(settings)
    session = database.new_session()
    try:
        report = run_cycle(session, clock, settings)
        session.rollback() if dry_run else session.commit()
    finally:
        session.close()
    table = Table("customer", "currency", "action", "step", "channels", "send from (UTC)", "amount", "invoices",
                  title="would be planned (dry run: nothing written)" if dry_run else "planned")
    for o in report.outcomes:
        if o.action in ("plan", "pass", "close"):
            table.add_row(o.customer_external_id, o.currency, o.action + (" (approval)" if o.requires_approval else ""),
                          o.step_key or "", ",".join(o.channels), f"{o.send_at:%Y-%m-%d %H:%M}" if o.send_at else "",
                          display(o.amount_minor, o.currency) if o.amount_minor else "", " ".join(o.invoices[:6]))
    console.print(table)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())) or "nothing to do")


@app.command()
def dispatch(once: Annotated[bool, typer.Option("--once", help="send what is due now, then exit")] = False,
             now: NowOpt = None) -> None:
    """Send the messages whose time has come; without --once, keep doing it (as the worker does)."""
    settings, clock = get_settings(), clock_at(now)
    dispatcher = Dispatcher(open_database(settings), clock, build_transports(settings), Composer(settings, clock),
                            batch=settings.dispatch_batch, max_attempts=settings.max_send_attempts)
    settle_heap()
    rounds(dispatcher, once, settings.dispatch_interval_seconds)


@app.command("deliver-events")
def deliver_events(once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False,
                   now: NowOpt = None) -> None:
    """Deliver events to the webhook endpoints; without --once, keep doing it (as the worker does)."""
    from dunning.webhooks.deliver import Deliverer

    settings = get_settings()
    rounds(Deliverer(open_database(settings), clock_at(now), settings), once, settings.webhook_interval_seconds)


def rounds(job, once: bool, interval: float) -> None:
    """A dispatcher or a deliverer: until nothing is due (--once), or a round every `interval` seconds."""
    async def go() -> Counter:
        try:
            if once:
                return await job.drain()
            while True:
                counts = await job.run_once()
                if any(counts.values()):
                    console.print(dict(counts))
                await asyncio.sleep(interval)
        finally:
            await job.close()

    counts = asyncio.run(go())
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "nothing was due")


@app.command()
def worker() -> None:
    """Run the scheduler: the cycle, dispatch and the other periodic jobs, until stopped."""
    from dunning.clock import SystemClock
    from dunning.scheduler import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    w = Worker(settings, open_database(settings), SystemClock())
    settle_heap()

    async def go():
        await w.start()
        console.print("worker running; Ctrl-C stops it")
        try:
            await asyncio.Event().wait()
        finally:
            await w.stop()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass
