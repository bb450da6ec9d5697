"""CSV import: the same validation and upsert as the API, for a finance person's export.

The whole file is one transaction: every bad row is reported with its line number, and if there
is any, nothing is written.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning.clock import Clock
from dunning.db import Database
from dunning.errors import InvalidInput
from dunning.ledger import service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.schemas import CreditNoteIn, CustomerIn, InvoiceIn, PaymentIn, UpsertResult, fields_of
from dunning.words import plural

CHUNK = 5_000
NEW_SOURCE_SHARE = 0.9  # of a file's customers new to the ledger: another history, not this month's invoices
DATE_FIELDS = {"issued_on", "due_on", "paid_on", "received_on"}
KINDS: dict[str, type] = {
    "customers": CustomerIn,
    "invoices": InvoiceIn,
    "payments": PaymentIn,
    "credit_notes": CreditNoteIn,
}


@dataclass
class ImportReport:
    result: UpsertResult = field(default_factory=UpsertResult)
    errors: list[dict[str, Any]] = field(default_factory=list)  # line, field, message
    rows: int = 0
    # Set when the invoices joined a database holding another history (see `other_history`).
    mixed: str | None = None


@dataclass
class Ledgered:
    """Who had invoices before an import, and when those were issued."""

    invoices: dict[str, int]  # customer external id -> invoices
    first: date | None
    last: date | None

    @classmethod
    def read(cls, session: Session) -> Ledgered:
        rows = session.execute(
            select(
                col(Customer.external_id),
                func.count(col(Invoice.id)),
                func.min(col(Invoice.issued_on)),
                func.max(col(Invoice.issued_on)),
            )
            .join(Invoice, col(Invoice.customer_id) == col(Customer.id))
            .group_by(col(Customer.external_id))
        ).all()
        return cls(
            {r[0]: r[1] for r in rows}, min((r[2] for r in rows), default=None), max((r[3] for r in rows), default=None)
        )


def other_history(before: Ledgered, file_customers: set[str], file_invoices: int) -> str | None:
    """A file whose customers (nearly all) had no invoice yet, into a database holding others'
    invoices, is another history: training and backtests would read both as one ledger, and a
    backtest's figures would be neither's. A routine import names customers the ledger knows."""
    others = {customer: n for customer, n in before.invoices.items() if customer not in file_customers}
    new = [customer for customer in file_customers if customer not in before.invoices]
    if not others or len(new) < NEW_SOURCE_SHARE * len(file_customers):
        return None
    return (
        f"this database already held {plural(sum(others.values()), 'invoice')} of "
        f"{plural(len(others), 'other customer')}, issued {before.first} to {before.last}, and these "
        f"{plural(file_invoices, 'invoice')} are of {plural(len(new), 'customer')} "
        "new to it: `model train` and `model backtest` now read both histories as one ledger, which skews a "
        "backtest. To measure this file alone, import it into a database of its own "
        "(DUNNING_DATABASE_URL=sqlite:///var/<name>.db)"
    )


def parse_map(text: str | None) -> dict[str, str]:
    """`field=column,field=column` -> {field: column}."""
    mapping = {}
    for part in (text or "").split(","):
        if part.strip():
            name, sep, column = part.partition("=")
            if not sep or not name.strip() or not column.strip():
                raise InvalidInput(f"--map takes field=column pairs; '{part}' is not one")
            mapping[name.strip()] = column.strip()
    return mapping


def _rows(
    path: Path, kind: str, mapping: dict[str, str], date_format: str | None, defaults: dict[str, str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    fields = fields_of(KINDS[kind])
    unknown = set(mapping) - set(fields)
    if unknown:
        raise InvalidInput(f"--map names unknown fields: {', '.join(sorted(unknown))}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {name: mapping.get(name, name) for name in fields}
        try:
            yield from _parse(reader, columns, date_format, defaults)
        except (csv.Error, UnicodeDecodeError) as e:
            raise InvalidInput(
                f"{path.name} is not a CSV file this can read (UTF-8 text, comma-separated; "
                f"stopped near line {reader.line_num + 1}): {e}"
            ) from None


def _parse(
    reader: csv.DictReader[str], columns: dict[str, str], date_format: str | None, defaults: dict[str, str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    for offset, raw in enumerate(reader):
        row: dict[str, Any] = dict(defaults)
        for name, column in columns.items():
            value = (raw.get(column) or "").strip()
            if value:
                row[name] = value
        if date_format:
            for name in DATE_FIELDS & row.keys():
                try:
                    row[name] = datetime.strptime(row[name], date_format).date().isoformat()
                except ValueError:
                    pass  # left as text: validation reports it with its field
        if "tags" in row and isinstance(row["tags"], str):
            row["tags"] = [t.strip() for t in row["tags"].split(";") if t.strip()]
        yield offset + 2, row  # line 1 is the header


def import_file(
    database: Database,
    clock: Clock,
    path: Path,
    kind: str,
    *,
    mapping: dict[str, str],
    date_format: str | None = None,
    defaults: dict[str, str] | None = None,
    create_customers: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Rows are validated in chunks and written in one transaction; a row's index is its line."""
    report = ImportReport()
    rows = list(_rows(path, kind, mapping, date_format, defaults or {}))
    report.rows = len(rows)
    seen: dict[str, int] = {}
    file_customers: set[str] = set()
    session = database.new_session()
    try:
        before = Ledgered.read(session) if kind == "invoices" else None
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            batch: Batch[Any] = Batch.validate(chunk, KINDS[kind]).refuse_text()
            for line, item in batch.items:  # duplicates across chunks; within one, the service finds them
                key = item["external_id"]
                if key in seen and seen[key] < chunk[0][0]:
                    batch.add(line, "external_id", f"'{key}' is already on line {seen[key]}")
                seen.setdefault(key, line)
                if kind == "invoices":
                    file_customers.add(item["customer_external_id"])
            try:
                result: UpsertResult
                if kind == "customers":
                    result = service.push_customers(session, clock, batch)
                elif kind == "invoices":
                    result = service.push_invoices(session, clock, batch, create_customers=create_customers)
                else:  # payments and credit notes: the customers and invoices they name must be known
                    result = service.push_payments(session, clock, batch, kind.removesuffix("s"))
                for name in ("created", "updated", "unchanged"):
                    setattr(report.result, name, getattr(report.result, name) + getattr(result, name))
            except InvalidInput as e:
                report.errors += [
                    {"line": err["index"], "field": err["field"], "message": err["message"]} for err in e.detail or []
                ]
            if progress:
                progress(len(chunk))
        if report.errors:
            session.rollback()
            report.result = UpsertResult()
        else:
            session.commit()
            if before is not None:
                report.mixed = other_history(before, file_customers, report.rows)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return report
