"""`replies classify`: what the service reads in a reply; `arrangements run`: the hourly job, by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dunning.cli.base import NowOpt, app, clock_at, console, domain_errors, fail, open_database

replies_app = typer.Typer(help="Customers' replies: what the service reads in them.", no_args_is_help=True)
arrangements_app = typer.Typer(help="Promises to pay and installment plans.", no_args_is_help=True)
app.add_typer(replies_app, name="replies")
app.add_typer(arrangements_app, name="arrangements")


# A batch line is one reply: bounded so one line cannot hold the process.
MAX_BATCH_LINE = 64 * 1024
BATCH_KEYS = {"text", "lang", "channel", "tz", "currency", "now"}


def classify_line(line: str) -> dict:
    """One line of a batch: the reading (`classify --json`'s keys) or {"error": ...}."""
    from dunning.replies.intents import CHANNELS, LexiconError, classify

    if len(line) > MAX_BATCH_LINE:
        return {"error": f"line longer than {MAX_BATCH_LINE} characters"}
    try:
        item = json.loads(line)
    except ValueError as e:
        return {"error": f"not JSON: {e}"}
    if not isinstance(item, dict):
        return {"error": "each line must be a JSON object"}
    unknown = set(item) - BATCH_KEYS
    if unknown:
        return {"error": f"unknown keys: {', '.join(sorted(unknown))}"}
    text = item.get("text")
    fields = {
        k: item.get(k, default)
        for k, default in (("lang", "en"), ("channel", "sms"), ("tz", "UTC"), ("currency", None), ("now", None))
    }
    if not isinstance(text, str) or not all(v is None or isinstance(v, str) for v in fields.values()):
        return {"error": "text must be a string, and lang, channel, tz, currency, now strings"}
    if fields["channel"] not in CHANNELS:
        return {"error": f"channel must be one of {', '.join(CHANNELS)}"}
    try:
        at = datetime.fromisoformat(fields["now"]) if fields["now"] else datetime.now(UTC)
    except ValueError:
        return {"error": f"now must be an ISO timestamp such as 2026-03-01T09:00:00Z, not {fields['now']!r}"}
    try:
        u = classify(
            text,
            lang=fields["lang"],
            received_at=at if at.tzinfo else at.replace(tzinfo=UTC),
            tz=fields["tz"],
            channel=fields["channel"],
            currency=fields["currency"],
        )
    except LexiconError as e:
        return {"error": str(e)}
    except (ValueError, KeyError, OverflowError) as e:  # an unknown time zone, a date out of range
        return {"error": f"cannot read with these options: {e}"}
    return u.to_dict()


@replies_app.command("classify")
def classify_command(
    text: Annotated[str | None, typer.Argument(metavar="TEXT", help="the reply, as the customer wrote it")] = None,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch",
            metavar="FILE.jsonl",
            help="one {text, lang, channel, tz, currency, now} per line; prints one JSON line per input",
        ),
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", metavar="LANG", help="the customer's language (a lexicon: en, fr)")
    ] = "en",
    tz: Annotated[
        str, typer.Option("--tz", metavar="ZONE", help="the customer's IANA time zone, for relative dates")
    ] = "UTC",
    channel: Annotated[
        str, typer.Option("--channel", metavar="CHANNEL", help="sms or email (keywords differ)")
    ] = "sms",
    currency: Annotated[str | None, typer.Option("--currency", metavar="CODE", help="the case's currency")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    now: NowOpt = None,
) -> None:
    """Show what the service reads in a reply.

    Intent, date, amount, invoice number and confidence for TEXT, or for each line of --batch."""
    from rich.table import Table

    from dunning.replies.intents import CHANNELS, LexiconError, classify

    if batch is not None:
        try:
            with batch.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    print(json.dumps(classify_line(line.rstrip("\n")), ensure_ascii=False), flush=True)
        except OSError as e:
            fail(f"cannot read {batch}: {e.strerror}")
        return
    if text is None:
        fail("give a TEXT or --batch FILE")
    if channel not in CHANNELS:
        fail(f"--channel must be one of {', '.join(CHANNELS)}")
    try:
        u = classify(text, lang=lang, received_at=clock_at(now).now(), tz=tz, channel=channel, currency=currency)
    except LexiconError as e:
        fail(str(e))
    except (ValueError, KeyError) as e:  # an unknown time zone
        fail(f"cannot read with these options: {e}")
    if as_json:
        print(json.dumps(u.to_dict(), ensure_ascii=False))
        return
    table = Table(show_header=False)
    table.add_row("intent", u.intent)
    table.add_row("confidence", f"{u.confidence:.2f}" + (" (acts on it)" if u.confident else " (a person decides)"))
    for name, value in (
        ("date", u.promised_date),
        ("amount", u.amount),
        ("currency", u.currency),
        ("invoice", u.invoice_number),
    ):
        if value is not None:
            table.add_row(name, str(value))
    if u.reasons:
        table.add_row("why not sure", "; ".join(u.reasons))
    table.add_row("rules", ", ".join(u.matched) or "-")
    console.print(table)


@arrangements_app.command("run")
@domain_errors
def run_command(now: NowOpt = None) -> None:
    """Judge promises and move plans now.

    What the hourly job does: promises kept or broken, installments, pauses that are over."""
    from dunning.arrangements.jobs import run_once, summary
    from dunning.config import get_settings

    settings = get_settings()
    console.print(summary(run_once(open_database(settings), clock_at(now), settings)))
