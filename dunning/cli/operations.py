"""`run-cycle`, `dispatch`, `deliver-events` and `worker`: the service's jobs run by hand, or kept running."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from dunning.cli.base import JsonLogs, NowOpt, app, clock_at, console, domain_errors, fail, open_database

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable

    from dunning.outbox.dispatch import Dispatcher
    from dunning.webhooks.deliver import Deliverer

SHOWN = 30  # outbox rows a dry run lists; the count says how many more


@app.command("run-cycle")
@domain_errors
def run_cycle_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be planned; write nothing")] = False,
    now: NowOpt = None,
) -> None:
    """Plan the steps that are due, and show what waits.

    One consolidated message per case, step and channel; --dry-run writes nothing. Lists what
    waits in the outbox."""
    from rich.table import Table

    from dunning.cases.cycle import run_cycle
    from dunning.config import get_settings
    from dunning.money import display
    from dunning.outbox import service as outbox_service
    from dunning.words import plural

    settings, clock = get_settings(), clock_at(now)
    database = open_database(settings)
    session = database.new_session()
    try:
        report = run_cycle(session, clock, settings)
        # Read before the rollback: a dry run shows what would wait after it, as a real run leaves it.
        waiting, first = outbox_service.pending(session, SHOWN)
        session.rollback() if dry_run else session.commit()
    finally:
        session.close()
    decided = [o for o in report.outcomes if o.action in ("plan", "pass", "close")]
    if decided:
        table = Table(
            "customer",
            "currency",
            "action",
            "step",
            "channels",
            "send from (UTC)",
            "amount",
            "invoices",
            title="would be planned now (dry run: nothing written)" if dry_run else "planned now",
        )
        for o in decided:
            table.add_row(
                o.customer_external_id,
                o.currency,
                o.action + (" (approval)" if o.requires_approval else ""),
                o.step_name or o.step_key or "",
                ",".join(o.channels),
                f"{o.send_at:%Y-%m-%d %H:%M}" if o.send_at else "",
                display(o.amount_minor, o.currency) if o.amount_minor else "",
                " ".join(o.invoices[:6]),
            )
        console.print(table)
    console.print(("would do: " if dry_run else "cycle: ") + report.summary(), highlight=False)
    # What earlier cycles planned is not planned again: it waits in the outbox, and is what a
    # person asking "what will go out?" wants to see.
    if not waiting:
        console.print("nothing waits in the outbox")
        return
    table = Table(
        "customer",
        "step",
        "channel",
        "status",
        "not before (UTC)",
        "amount",
        title=f"waiting in the outbox: {plural(waiting, 'message')}"
        + (f", the first {len(first)}" if waiting > len(first) else ""),
    )
    for column in table.columns:  # one line a message; on a narrow terminal values are cut, never the headers
        column.no_wrap, column.min_width = True, len(str(column.header))
    for m in first:
        table.add_row(
            m.external_id,
            m.step_key or m.kind,
            m.channel,
            m.status.replace("_", " "),
            f"{m.send_after:%Y-%m-%d %H:%M}",
            display(m.amount_minor, m.currency) if m.amount_minor and m.currency else "",
        )
    console.print(table)
    console.print(
        "they leave when `dispatch` (or the server's worker) runs inside each customer's contact window; "
        "`dispatch --once --next-window` sends them as of the first window to open",
        highlight=False,
    )


@app.command()
def dispatch(
    once: Annotated[bool, typer.Option("--once", help="send what is due now, then exit")] = False,
    now: NowOpt = None,
    next_window: Annotated[
        bool,
        typer.Option(
            "--next-window",
            help="with --once: when nothing can leave now, send as of the first contact "
            "window to open (file transports only)",
        ),
    ] = False,
) -> None:
    """Send the messages whose time has come.

    Without --once, keep doing it (as the worker does)."""
    from dunning.clock import FrozenClock
    from dunning.config import get_settings
    from dunning.outbox import service as outbox_service
    from dunning.outbox.dispatch import settle_heap, summary

    settings, clock = get_settings(), clock_at(now)
    if next_window:
        if not once or now:
            fail("--next-window goes with --once, and without --now")
        real = [channel for channel, value in settings.real_providers().items() if value]
        if real:  # ahead of time, a real provider would reach people outside their contact window
            fail(
                f"--next-window sends ahead of time, and {', '.join(real)} reach(es) real people: "
                "use it with the file transports only"
            )
    database = open_database(settings)
    if not once:
        settle_heap()
        asyncio.run(_forever(_dispatcher(settings, database, clock), settings.dispatch_interval_seconds, summary))
        return
    counts = asyncio.run(_drain(_dispatcher(settings, database, clock)))
    if next_window and not counts["sent"]:
        with database.session() as session:
            at = outbox_service.next_due(session)
        if at is not None and at > clock.now():
            console.print(
                f"{summary(counts) if any(counts.values()) else 'nothing can leave now'}; as of "
                f"{at:%Y-%m-%d %H:%M} UTC, when the first contact window opens:",
                highlight=False,
            )
            counts = asyncio.run(_drain(_dispatcher(settings, database, FrozenClock(at))))
    console.print(summary(counts) if any(counts.values()) else "nothing was due", highlight=False)


@app.command("deliver-events")
def deliver_events(
    once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False, now: NowOpt = None
) -> None:
    """Deliver events to the webhook endpoints.

    Without --once, keep doing it (as the worker does)."""
    from dunning.config import get_settings
    from dunning.webhooks.deliver import Deliverer

    settings = get_settings()
    deliverer = Deliverer(open_database(settings), clock_at(now), settings)
    if not once:
        asyncio.run(_forever(deliverer, settings.webhook_interval_seconds, _counted))
        return
    counts = asyncio.run(_drain(deliverer))
    console.print(_counted(counts) or "nothing was due", highlight=False)


def _counted(counts: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v)


def _dispatcher(settings, database, clock) -> Dispatcher:
    from dunning.cases.compose import Composer
    from dunning.channels.transports import build_transports
    from dunning.outbox.dispatch import Dispatcher

    return Dispatcher(
        database,
        clock,
        build_transports(settings),
        Composer(settings, clock),
        batch=settings.dispatch_batch,
        max_attempts=settings.max_send_attempts,
    )


async def _drain(job: Dispatcher | Deliverer) -> Counter:
    try:
        return await job.drain()
    finally:
        await job.close()


async def _forever(job: Dispatcher | Deliverer, interval: int, said: Callable[[Counter], str]) -> None:
    """Everything due, then a pause of `interval` seconds; says what each round did, if anything."""
    try:
        while True:
            counts = await job.drain()
            if any(counts.values()):
                console.print(said(counts), highlight=False)
            await asyncio.sleep(interval)
    finally:
        await job.close()


@app.command()
def worker(json_logs: JsonLogs = False) -> None:
    """Run the periodic jobs until stopped.

    The cycle, dispatch, the arrangements job, the nightly rescore and the weekly retrain."""
    from dunning import logs
    from dunning.clock import SystemClock
    from dunning.config import get_settings
    from dunning.outbox.dispatch import settle_heap
    from dunning.scheduler import Worker

    settings = get_settings()
    logs.configure("json" if json_logs else settings.log_format)
    logs.startup(settings, "this process (`main.py worker`)")
    w = Worker(settings, open_database(settings), SystemClock())
    if settings.worker_metrics_port:
        from dunning.monitoring import metrics

        metrics.serve(settings.host, settings.worker_metrics_port)
        console.print(f"metrics on http://{settings.host}:{settings.worker_metrics_port}/metrics")
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
