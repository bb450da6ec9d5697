"""`fees explain`: the statutory fee lines a notice would carry, with their arithmetic; and `rates`:
the reference-rate histories those lines read, and adding to them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from dunning.cli.base import app, console, domain_errors, fail, open_database
from dunning.errors import InvalidInput

if TYPE_CHECKING:
    from dunning.policies import fees

fees_app = typer.Typer(help="Statutory late-payment fees, explained line by line.", no_args_is_help=True)
rates_app = typer.Typer(help="Reference-rate histories: list them, add a rate.", no_args_is_help=True)
app.add_typer(fees_app, name="fees")
app.add_typer(rates_app, name="rates")

MAX_INVOICES, MAX_PAYMENTS = 100, 1000
LATEST = date(2100, 12, 31)


@dataclass
class Request:
    debts: list[fees.Debt]
    as_of: date


def _date(text: str, what: str, errors: list[str]) -> date | None:
    from dunning.policies.rates import EARLIEST

    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        errors.append(f"{what}: '{text}' is not a date (YYYY-MM-DD)")
        return None
    if not EARLIEST <= day <= LATEST:
        errors.append(f"{what}: {day.isoformat()} is outside {EARLIEST.isoformat()} .. {LATEST.isoformat()}")
        return None
    return day


def _amount(text: str, currency: str, what: str, errors: list[str]) -> int | None:
    from dunning import money

    try:
        minor = money.to_minor(text.strip(), currency)
    except ValueError as e:
        errors.append(f"{what}: {e}")
        return None
    if minor <= 0:
        errors.append(f"{what}: the amount must be more than zero")
        return None
    return minor


def parse(invoices: list[str], payments: list[str], currency: str, as_of_text: str) -> Request:
    """The options, checked whole before any work: every bad one is named in one error."""
    from dunning.policies import fees

    errors: list[str] = []
    if len(invoices) > MAX_INVOICES or len(payments) > MAX_PAYMENTS:
        raise InvalidInput(f"at most {MAX_INVOICES} --invoice and {MAX_PAYMENTS} --payment options")
    as_of = _date(as_of_text, "--as-of", errors)
    rows: list[tuple[str, date | None, int | None]] = []
    for i, text in enumerate(invoices, 1):
        parts = text.split(":")
        if len(parts) not in (2, 3):
            errors.append(f"--invoice {text}: expected DUE_ON:BALANCE or DUE_ON:BALANCE:NUMBER")
            continue
        number = parts[2].strip() if len(parts) == 3 else str(i)
        if not number or len(number) > 100:
            errors.append(f"--invoice {text}: the invoice number must have 1 to 100 characters")
        rows.append(
            (
                number,
                _date(parts[0], f"--invoice {text}", errors),
                _amount(parts[1], currency, f"--invoice {text}", errors),
            )
        )
    numbers = [number for number, _, _ in rows]
    if len(set(numbers)) != len(numbers):
        errors.append("--invoice: each invoice needs its own number")
    paid: dict[str, list[tuple[date, int]]] = {}
    for text in payments:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            errors.append(f"--payment {text}: expected DATE:AMOUNT or DATE:AMOUNT:NUMBER")
            continue
        if len(parts) == 3:
            number = parts[2].strip()
        elif len(rows) == 1:
            number = rows[0][0]
        else:
            errors.append(f"--payment {text}: with several invoices, say which one it paid (DATE:AMOUNT:NUMBER)")
            continue
        if number not in numbers:
            errors.append(f"--payment {text}: no --invoice numbered '{number}'")
        on = _date(parts[0], f"--payment {text}", errors)
        amount = _amount(parts[1], currency, f"--payment {text}", errors)
        if on and as_of and on > as_of:
            errors.append(f"--payment {text}: paid after --as-of {as_of.isoformat()}")
        if on and amount:
            paid.setdefault(number, []).append((on, amount))
    if not rows:
        errors.append("--invoice: give at least one, as DUE_ON:BALANCE")
    if errors:
        raise InvalidInput("; ".join(errors))
    return Request(
        [fees.Debt(number, due_on, balance, tuple(paid.get(number, ()))) for number, due_on, balance in rows], as_of
    )


def explain(statement: fees.FeeStatement, language: str, country: str) -> dict:
    from dunning import money
    from dunning.channels import fee_text

    currency = statement.currency
    writer = fee_text.Writer.of(language, country, currency)
    code = statement.rule.code if statement.rule else None
    return {
        "country": country,
        "law": code,
        "currency": currency,
        "as_of": statement.as_of.isoformat(),
        "interest": money.as_string(statement.interest_minor, currency),
        "compensation": money.as_string(statement.compensation_minor, currency),
        "total": money.as_string(statement.total_minor, currency),
        "lines": [
            {
                **line.as_data(currency),
                "days": line.days or None,
                "label": writer.label(line),
                "calculation": writer.calculation(line, code),
            }
            for line in statement.lines
        ],
    }


@fees_app.command("explain")
@domain_errors
def explain_command(
    country: Annotated[
        str, typer.Option("--country", metavar="CODE", help="the debtor's country, ISO 3166 (GB, FR, DE ...)")
    ],
    as_of: Annotated[str, typer.Option("--as-of", metavar="DAY", help="the day the claim is stated, YYYY-MM-DD")],
    invoice: Annotated[
        list[str],
        typer.Option(
            "--invoice", metavar="DUE_ON:BALANCE[:NUMBER]", help="the balance still owed on --as-of; repeat for several"
        ),
    ],
    currency: Annotated[str, typer.Option("--currency", metavar="CODE", help="ISO 4217 code of the invoices")],
    kind: Annotated[str, typer.Option("--kind", metavar="KIND", help="business or consumer")] = "business",
    payment: Annotated[
        list[str] | None,
        typer.Option(
            "--payment",
            metavar="DATE:AMOUNT[:NUMBER]",
            help="a payment made after the due date (already off the balance)",
        ),
    ] = None,
    language: Annotated[
        str, typer.Option("--language", metavar="LANG", help="language of the calculation lines")
    ] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of text")] = False,
) -> None:
    """Show the fees a notice would claim on these invoices.

    The statutory interest and compensation, each line with its calculation."""
    from dunning import money
    from dunning.policies import fees, rate_store

    if kind not in ("business", "consumer"):
        fail("--kind is business or consumer")
    if len(country.strip()) != 2 or not country.strip().isalpha():
        fail("--country takes a two-letter ISO 3166 code, e.g. GB")
    try:
        currency = money.check_currency(currency)
    except ValueError as e:
        fail(str(e))
    country = country.strip().upper()
    request = parse(invoice, payment or [], currency, as_of)
    with open_database().session() as session:
        book = rate_store.load_book(session)
    statement = fees.late_payment_fees(
        request.debts, currency=currency, customer_kind=kind, country=country, as_of=request.as_of, book=book
    )
    out = explain(statement, language, country)
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if out["law"] is None:
        console.print(f"No statutory late-payment fees apply for {country}.")
        return
    for line in out["lines"]:
        console.print(f"{line['label']}: {line['calculation']}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"interest {out['interest']} {currency}, compensation {out['compensation']} {currency}, "
        f"total {out['total']} {currency} as of {out['as_of']} ({out['law']})",
        markup=False,
    )


@rates_app.command("list")
@domain_errors
def list_command(
    series: Annotated[str | None, typer.Argument(metavar="SERIES", help="one series; default: all")] = None,
) -> None:
    """List the series, how far each is known, and their rates.

    Each series with its source and its entries, shipped or added."""
    from dunning.clock import SystemClock
    from dunning.policies import rate_store

    with open_database().session() as session:
        book = rate_store.load_book(session)
    if series is not None and series not in book.series:
        fail(f"unknown series '{series}': one of {', '.join(sorted(book.series))}")
    for key in [series] if series else sorted(book.series):
        s = book[key]
        console.print(f"{key}: {s.name}, known through {s.known_through.isoformat()}", markup=False)
        console.print(f"  source: {s.source}", markup=False, highlight=False, soft_wrap=True)
        for entry in s.entries:
            console.print(
                f"  {entry.effective_on.isoformat()}  {entry.percent:>6}  {entry.origin}", markup=False, highlight=False
            )
    for missing in rate_store.gaps(book, SystemClock().now().date()):
        console.print(f"[yellow]missing:[/yellow] {missing.message}", highlight=False, soft_wrap=True)


@rates_app.command("add")
@domain_errors
def add_command(
    series: Annotated[
        str,
        typer.Argument(metavar="SERIES", help="ecb_mro, boe_bank_rate or de_basiszinssatz (`rates list` shows each)"),
    ],
    rate: Annotated[str, typer.Argument(metavar="PERCENT", help="percent a year, e.g. 2.15")],
    effective_on: Annotated[str, typer.Option("--from", metavar="DAY", help="the first day it applies, YYYY-MM-DD")],
    by: Annotated[str, typer.Option("--by", metavar="WHO", help="who is adding it (kept in the audit log)")] = "cli",
) -> None:
    """Add a rate the shipped history lacks.

    Or confirm an unchanged one for a new half-year. Notices waiting for it go out at their next
    check, and the tasks asking for it close."""
    from dunning.clock import SystemClock
    from dunning.policies import rate_store
    from dunning.words import plural

    try:
        day = date.fromisoformat(effective_on)
    except ValueError:
        fail(f"--from takes a date (YYYY-MM-DD), not '{effective_on}'")
    clock = SystemClock()
    with open_database().session() as session:
        added = rate_store.add(session, clock, series=series, percent=rate, effective_on=day, actor=by[:200])
    verb = f"replaced {added.previous}" if added.previous is not None else "added"
    closed = plural(added.tasks_closed, "task")
    console.print(f"{series} {added.percent} from {day.isoformat()}: {verb}; {closed} closed", markup=False)
