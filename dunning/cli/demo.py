"""`main.py demo`: the made-up portfolio, in the demo's own database (dunning/demo.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from dunning.cli.base import app, console, domain_errors, open_database


@app.command()
@domain_errors
def demo(
    customers: Annotated[int, typer.Option(min=10, max=20_000, metavar="N", help="how many customers")] = 200,
    seed: Annotated[int, typer.Option(metavar="SEED", help="same seed, same portfolio")] = 0,
) -> None:
    """Load a made-up portfolio into the demo's database.

    Then train a model, score every customer and plan the first reminders. The demo's database is
    <DUNNING_VAR_DIR>/demo.db unless DUNNING_DATABASE_URL names one; DUNNING_DEMO=true makes
    every command (and `serve`) work on it."""
    from dunning.clock import SystemClock
    from dunning.config import Settings, masked_url
    from dunning.demo import DEMO_ENV, load_demo
    from dunning.words import plural

    settings = Settings(demo=True)  # the demo's database unless DUNNING_DATABASE_URL names one
    where = masked_url(settings.database_url)
    with console.status(f"generating and loading the demo portfolio into {where}..."):
        report = load_demo(open_database(settings), SystemClock(), settings, customers=customers, seed=seed)
    console.print(f"{report.customers} customers, {report.invoices} invoices ({report.open_invoices} open)")
    console.print(f"model: {report.training}", highlight=False)
    console.print(f"{report.scored} customers scored; first cycle: {plural(report.planned, 'message')} planned")
    console.print(
        f"loaded into {where}; serve it with `{DEMO_ENV}make run` (every command works on it with "
        f"{DEMO_ENV.strip()} set); reminders appear under {settings.outbox_dir}/ as contact windows open",
        highlight=False,
        soft_wrap=True,
    )  # not wrapped: the commands are for copying
