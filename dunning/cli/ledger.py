"""`import customers|invoices|payments|credit-notes`: a CSV export through the ledger's own validation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dunning.cli.base import app, console, domain_errors, err, fail, open_database

import_app = typer.Typer(help="Import a CSV export (all or nothing).", no_args_is_help=True)
app.add_typer(import_app, name="import")

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="the CSV file, with a header line")]
MapOpt = Annotated[
    str | None,
    typer.Option("--map", metavar="FIELD=COLUMN,...", help="the file's column for each field named otherwise"),
]
DateOpt = Annotated[
    str | None,
    typer.Option("--date-format", metavar="FORMAT", help="strptime format of the date columns, e.g. %m/%d/%Y"),
]
CurrencyOpt = Annotated[str | None, typer.Option(metavar="CODE", help="the currency of rows without one")]


def _currency(currency: str | None) -> dict[str, str]:
    return {"currency": currency} if currency else {}


def _run(
    kind: str,
    path: Path,
    mapping: str | None,
    date_format: str | None,
    defaults: dict[str, str],
    create_customers: bool = False,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from dunning.clock import SystemClock
    from dunning.ledger.csv_import import import_file, parse_map
    from dunning.words import plural

    if not path.is_file():
        fail(f"no such file: {path}")
    with path.open(encoding="utf-8-sig", errors="replace") as handle:  # only counting lines here
        total = sum(1 for _ in handle) - 1
    database = open_database()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"importing {kind}", total=max(total, 0))
        report = import_file(
            database,
            SystemClock(),
            path,
            kind,
            mapping=parse_map(mapping),
            date_format=date_format,
            defaults=defaults,
            create_customers=create_customers,
            progress=lambda n: progress.advance(task, n),
        )
    if report.errors:
        table = Table("line", "field", "reason", title=f"{plural(len(report.errors), 'problem')}; nothing was imported")
        for e in report.errors:
            table.add_row(str(e["line"]), e["field"], e["message"])
        console.print(table)
        raise typer.Exit(1)
    r = report.result
    console.print(f"{report.rows} rows: {r.created} created, {r.updated} updated, {r.unchanged} unchanged")
    if report.mixed:
        err.print(f"[yellow]warning:[/yellow] {report.mixed}", highlight=False)


@import_app.command("customers")
@domain_errors
def import_customers(path: FileArg, map: MapOpt = None, date_format: DateOpt = None) -> None:
    """Create or update customers from FILE.

    Columns named as the API's customer fields import as they are; the same validation as the
    API; a file with any bad row imports nothing."""
    _run("customers", path, map, date_format, {})


@import_app.command("invoices")
@domain_errors
def import_invoices(
    path: FileArg,
    map: MapOpt = None,
    date_format: DateOpt = None,
    currency: CurrencyOpt = None,
    create_customers: Annotated[
        bool, typer.Option("--create-customers", help="create customers the file names but the service lacks")
    ] = False,
) -> None:
    """Create or update invoices from FILE.

    Open invoices, or a settled history (with paid_on) for the risk model. An invoice without
    `balance` is fully open, or fully paid when it has `paid_on`. The same validation as the API;
    a file with any bad row imports nothing."""
    _run("invoices", path, map, date_format, _currency(currency), create_customers)


@import_app.command("payments")
@domain_errors
def import_payments(
    path: FileArg, map: MapOpt = None, date_format: DateOpt = None, currency: CurrencyOpt = None
) -> None:
    """Record payments received from FILE.

    Each is allocated to the named invoice first, then the oldest open ones. A row with
    `provider_reference` (a Stripe PaymentIntent id) replaces the payment recorded from Stripe."""
    _run("payments", path, map, date_format, _currency(currency))


@import_app.command("credit-notes")
@domain_errors
def import_credit_notes(
    path: FileArg, map: MapOpt = None, date_format: DateOpt = None, currency: CurrencyOpt = None
) -> None:
    """Record credit notes from FILE.

    They take money off invoices as payments do, dated by `issued_on`."""
    _run("credit_notes", path, map, date_format, _currency(currency))
