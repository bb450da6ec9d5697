from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console

from dunning.bounds import check_moment
from dunning.clock import Clock, FrozenClock, SystemClock
from dunning.config import Settings, get_settings
from dunning.db import Database, make_engine
from dunning.errors import DomainError

app = typer.Typer(help="Dunning and collections automation service.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)


def open_database(settings: Settings | None = None, *, migrate: bool = True) -> Database:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    if migrate:
        from dunning.migrate import upgrade
        upgrade(engine)
    return Database(engine)


def clock_at(now: str | None) -> Clock:
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
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def domain_errors(fn):
    """Show a DomainError as a message and exit code 2, not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as e:
            fail(e.message)
    return wrapper
