"""What every command shares: the Typer app, the consoles, the database, the clock, failures.

The command line imports only Typer and Rich before it parses its arguments: `--help` must not
load the database layer, pandas or XGBoost (they took seconds). Every module under dunning/cli/
imports what a command needs inside that command (benchmarks/cli_startup.py measures it).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dunning.errors import DomainError

if TYPE_CHECKING:
    from dunning.clock import Clock
    from dunning.config import Settings
    from dunning.db import Database

JsonLogs = Annotated[bool, typer.Option("--json", help="log one JSON object per line (or DUNNING_LOG_FORMAT=json)")]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", metavar="TIMESTAMP", help="act as if it were this UTC moment, e.g. 2026-03-01T09:00:00Z"),
]

# Plain help (Click's): Rich's panels labelled every flag "<bool>", and cost time to import.
app = typer.Typer(
    help="Dunning and collections automation service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
console = Console()
err = Console(stderr=True)


def open_database(settings: Settings | None = None, *, migrate: bool = True) -> Database:
    from dunning import subscriptions
    from dunning.config import get_settings
    from dunning.db import Database, make_engine

    subscriptions.connect()  # every command that writes opens the database here
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    if migrate:
        from dunning.migrate import upgrade

        upgrade(engine)
    return Database(engine)


def clock_at(now: str | None) -> Clock:
    from datetime import datetime

    from dunning.bounds import check_moment
    from dunning.clock import FrozenClock, SystemClock

    if not now:
        return SystemClock()
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        fail(f"--now takes an ISO timestamp such as 2026-03-01T09:00:00Z, not '{now}'")
    try:
        return FrozenClock(check_moment(moment))
    except ValueError as e:
        fail(f"--now: {e}")


def fail(message: str, code: int = 2):
    # Not wrapped: a message often ends with the command or path to use, for copying whole.
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def domain_errors(fn):
    """Show a DomainError as a message and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as e:
            fail(e.message)

    return wrapper
