from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dunning.cli.base import app, console, domain_errors, fail, open_database
from dunning.clock import SystemClock
from dunning.ledger.csv_import import import_file, parse_map

import_app = typer.Typer(help="Import a CSV export (same validation as the API; all or nothing).")
app.add_typer(import_app, name="import")

MapOpt = Annotated[str | None, typer.Option("--map", help="field=column,... for columns named otherwise")]
DateOpt = Annotated[str | None, typer.Option("--date-format", help="strptime format of date columns, e.g. %m/%d/%Y")]
CurrencyOpt = Annotated[str | None, typer.Option(help="currency for rows without one")]


def _currency(currency: str | None) -> dict[str, str]:
    return {"currency": currency} if currency else {}


def _run(kind: str, path: Path, mapping: str | None, date_format: str | None, defaults: dict[str, str],
         create_customers: bool = False) -> None:
    if not path.is_file():
        fail(f"no such file: {path}")
    with path.open(encoding="utf-8-sig", errors="replace") as handle:  # only counting lines here
        total = sum(1 for _ in handle) - 1
    database = open_database()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(f"importing {kind}", total=max(total, 0))
        report = import_file(database, SystemClock(), path, kind, mapping=parse_map(mapping), date_format=date_format,
                             defaults=defaults, create_customers=create_customers,
                             progress=lambda n: progress.advance(task, n))
    if report.errors:
        table = Table("line", "field", "reason", title=f"{len(report.errors)} problem(s); nothing was imported")
        for e in report.errors:
            table.add_row(str(e["line"]), e["field"], e["message"])
        console.print(table)
        raise typer.Exit(1)
    r = report.result
    console.print(f"{report.rows} rows: {r.created} created, {r.updated} updated, {r.unchanged} unchanged")


@import_app.command("customers")
@domain_errors
def import_customers(path: Path, map: MapOpt = None, date_format: DateOpt = None) -> None:
    """Columns named as the API's customer fields import as they are."""
    _run("customers", path, map, date_format, {})


@import_app.command("invoices")
@domain_errors
def import_invoices(path: Path, map: MapOpt = None, date_format: DateOpt = None,
                    currency: CurrencyOpt = None, create_customers: Annotated[bool, typer.Option(
                        "--create-customers", help="create customers the file names but the service lacks")] = False) -> None:
    """An invoice without `balance` is fully open, or fully paid when it has `paid_on`."""
    _run("invoices", path, map, date_format, _currency(currency), create_customers)


@import_app.command("payments")
@domain_errors
def import_payments(path: Path, map: MapOpt = None, date_format: DateOpt = None, currency: CurrencyOpt = None) -> None:
    """Payments received: allocated to the named invoice first, then the oldest open ones. A row with
    `provider_reference` (a Stripe PaymentIntent id) replaces the payment recorded from Stripe."""
    _run("payments", path, map, date_format, _currency(currency))


@import_app.command("credit-notes")
@domain_errors
def import_credit_notes(path: Path, map: MapOpt = None, date_format: DateOpt = None,
                        currency: CurrencyOpt = None) -> None:
    """Credit notes: they take money off invoices as payments do, dated by `issued_on`."""
    _run("credit_notes", path, map, date_format, _currency(currency))
