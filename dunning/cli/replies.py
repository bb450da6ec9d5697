"""`replies classify`: what the service reads in a reply; `arrangements run`: the hourly job, by hand."""
from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from dunning.cli.base import app, clock_at, console, domain_errors, fail, open_database
from dunning.config import get_settings
from dunning.replies.intents import CHANNELS, LexiconError, classify

replies_app = typer.Typer(help="Customers' replies: what the service reads in them.", no_args_is_help=True)
arrangements_app = typer.Typer(help="Promises to pay and installment plans.", no_args_is_help=True)
app.add_typer(replies_app, name="replies")
app.add_typer(arrangements_app, name="arrangements")

NowOpt = Annotated[str | None, typer.Option("--now", help="act as if it were this UTC timestamp")]


@replies_app.command("classify")
def classify_command(
    text: Annotated[str, typer.Argument(help="the reply, as the customer wrote it")],
    lang: Annotated[str, typer.Option("--lang", help="the customer's language (a lexicon: en, fr)")] = "en",
    tz: Annotated[str, typer.Option("--tz", help="the customer's IANA time zone, for relative dates")] = "UTC",
    channel: Annotated[str, typer.Option("--channel", help="sms or email (keywords differ)")] = "sms",
    currency: Annotated[str | None, typer.Option("--currency", help="the case's currency")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    now: NowOpt = None,
) -> None:
    """Show what the service understands in TEXT: intent, date, amount, invoice number, confidence."""
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
    for name, value in (("date", u.promised_date), ("amount", u.amount), ("currency", u.currency),
                        ("invoice", u.invoice_number)):
        if value is not None:
            table.add_row(name, str(value))
    if u.reasons:
        table.add_row("why not sure", "; ".join(u.reasons))
    table.add_row("rules", ", ".join(u.matched) or "-")
    console.print(table)


@arrangements_app.command("run")
@domain_errors
def run_command(now: NowOpt = None) -> None:
    """Judge promises, move installment plans, end pauses that are over (what the hourly job does)."""
    from dunning.arrangements.jobs import run_once

    settings = get_settings()
    counts = run_once(open_database(settings), clock_at(now), settings)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to do")
