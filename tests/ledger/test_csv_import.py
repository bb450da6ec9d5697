from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dunning.cli import app as cli
from dunning.config import get_settings
from dunning.db import Database, make_engine
from dunning.errors import InvalidInput
from dunning.ledger import service as ledger_service
from dunning.ledger.csv_import import import_file
from dunning.ledger.models import Customer, Invoice, Payment
from tests.datasets import IBM, IBM_MAP, needs_ibm

IBM_ARGS = ["--map", IBM_MAP, "--date-format", "%m/%d/%Y", "--currency", "USD", "--create-customers"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.csv"
    path.write_text(text)
    return path


def count(db, model) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar()


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(db, clock, tmp_path):
    path = write(
        tmp_path, "external_id,name,timezone,Phone\nA,Alice,Europe/Paris,\nB,Bob,Nowhere/Town,\nC,,UTC,\nA,Again,UTC,\n"
    )
    report = import_file(db, clock, path, "customers", mapping={})
    assert [(e["line"], e["field"]) for e in report.errors] == [(3, "timezone"), (4, "name"), (5, "external_id")]
    assert count(db, Customer) == 0


def test_mapped_columns_and_date_format(db, clock, tmp_path):
    cust = write(tmp_path, "id,label\nK1,Kim\n")
    assert not import_file(db, clock, cust, "customers", mapping={"external_id": "id", "name": "label"}).errors
    inv = tmp_path / "inv.csv"
    inv.write_text(
        "ref,client,amount,date,due,settled,ccy\n"
        "X1,K1,12.50,01/02/2026,03/03/2026,,EUR\n"
        "X2,K1,7.00,01/02/2026,03/03/2026,03/01/2026,EUR\n"
    )
    mapping = {
        "external_id": "ref",
        "customer_external_id": "client",
        "number": "ref",
        "total": "amount",
        "issued_on": "date",
        "due_on": "due",
        "paid_on": "settled",
        "currency": "ccy",
    }
    report = import_file(db, clock, inv, "invoices", mapping=mapping, date_format="%m/%d/%Y")
    assert not report.errors and report.result.created == 2
    with db.session() as s:
        rows = dict(s.execute(select(Invoice.external_id, Invoice.balance_minor)).all())
    assert rows == {"X1": 1250, "X2": 0}


def test_unknown_customers_need_the_flag(db, clock, tmp_path):
    path = write(
        tmp_path,
        "external_id,customer_external_id,number,currency,total,issued_on,due_on\n"
        "I1,NEW,1,EUR,5,2026-01-01,2026-01-31\n",
    )
    report = import_file(db, clock, path, "invoices", mapping={})
    assert report.errors[0]["field"] == "customer_external_id" and report.errors[0]["line"] == 2
    assert not import_file(db, clock, path, "invoices", mapping={}, create_customers=True).errors
    assert count(db, Customer) == 1


@needs_ibm
def test_the_ibm_sample_imports_through_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DUNNING_DATABASE_URL", f"sqlite:///{tmp_path / 'ibm.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["import", "invoices", str(IBM), *IBM_ARGS])
        assert result.exit_code == 0, result.output
        assert "2466 created" in result.output
        again = CliRunner().invoke(cli, ["import", "invoices", str(IBM), *IBM_ARGS])
        assert "2466 unchanged" in again.output
    finally:
        get_settings.cache_clear()
    db = Database(make_engine(f"sqlite:///{tmp_path / 'ibm.db'}"))
    assert count(db, Customer) == 100
    with db.session() as s:
        assert s.execute(select(func.count()).where(Invoice.paid_on.is_not(None))).scalar() == 2466


def test_a_file_that_is_not_csv_text_is_refused_with_a_message(db, clock, tmp_path):
    path = tmp_path / "picture.csv"
    path.write_bytes(b"external_id,name\nA,\x89PNG\x00\xff\xfe\n")
    with pytest.raises(InvalidInput, match="not a CSV file"):
        import_file(db, clock, path, "customers", mapping={})
    assert count(db, Customer) == 0


def ledger_with_invoices(db, clock, tmp_path) -> None:
    customers = write(tmp_path, "external_id,name\nK1,Kim\nL1,Lou\n")
    assert not import_file(db, clock, customers, "customers", mapping={}).errors
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(
        "external_id,customer_external_id,number,currency,total,issued_on,due_on\n"
        "X1,K1,X1,EUR,100.00,2026-01-01,2026-01-31\n"
        "X2,K1,X2,EUR,50.00,2026-01-05,2026-02-04\n"
        "Y1,L1,Y1,EUR,70.00,2026-01-05,2026-02-04\n"
    )
    assert not import_file(db, clock, invoices, "invoices", mapping={}).errors


def balances(db) -> dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(Invoice.external_id, Invoice.balance_minor)).all())


def test_payments_import_with_a_mapping_and_allocate_as_pushed_ones(db, clock, tmp_path):
    ledger_with_invoices(db, clock, tmp_path)
    path = write(tmp_path, "Ref,Client,Invoice,Paid,Date\nP1,K1,X2,50.00,15/02/2026\nP2,K1,,30.00,16/02/2026\n")
    mapping = {
        "external_id": "Ref",
        "customer_external_id": "Client",
        "invoice_external_id": "Invoice",
        "amount": "Paid",
        "received_on": "Date",
    }
    report = import_file(
        db, clock, path, "payments", mapping=mapping, date_format="%d/%m/%Y", defaults={"currency": "EUR"}
    )
    assert not report.errors and report.result.created == 2
    assert balances(db) == {"X1": 7000, "X2": 0, "Y1": 7000}  # P1 to the invoice named, P2 to the oldest
    with db.session() as s:
        assert s.execute(select(Payment.received_on).where(Payment.external_id == "P1")).scalar_one() == date(
            2026, 2, 15
        )
    again = import_file(
        db, clock, path, "payments", mapping=mapping, date_format="%d/%m/%Y", defaults={"currency": "EUR"}
    )
    assert again.result.unchanged == 2 and balances(db) == {"X1": 7000, "X2": 0, "Y1": 7000}


def test_a_bad_payment_row_imports_nothing_and_every_one_is_named(db, clock, tmp_path):
    ledger_with_invoices(db, clock, tmp_path)
    path = write(
        tmp_path,
        "external_id,customer_external_id,invoice_external_id,currency,amount,received_on\n"
        "P1,K1,X1,EUR,10.00,2026-02-15\n"
        "P2,NOBODY,,EUR,10.00,2026-02-15\n"
        "P3,K1,Y1,EUR,10.00,2026-02-15\n"
        "P4,K1,,EUR,0,2026-02-15\n"
        "P5,K1,,EUR,10.001,2026-02-15\n"
        "P6,K1,,EUR,10.00,0001-01-01\n"
        "P1,K1,,EUR,10.00,2026-02-15\n",
    )
    report = import_file(db, clock, path, "payments", mapping={})
    assert [(e["line"], e["field"]) for e in report.errors] == [
        (3, "customer_external_id"),
        (4, "invoice_external_id"),
        (5, "amount"),
        (6, "amount"),
        (7, "received_on"),
        (8, "external_id"),
    ]
    assert count(db, Payment) == 0 and balances(db) == {"X1": 10000, "X2": 5000, "Y1": 7000}


def test_a_payment_imported_with_the_stripe_reference_replaces_the_one_recorded_from_stripe(db, clock, tmp_path):
    ledger_with_invoices(db, clock, tmp_path)
    with db.session() as s:
        kim = s.execute(select(Customer.id).where(Customer.external_id == "K1")).scalar_one()
        ledger_service.record_payments(
            s,
            clock,
            [
                {
                    "kind": "payment",
                    "external_id": "stripe:pi_1",
                    "customer_id": kim,
                    "invoice_ids": [],
                    "currency": "EUR",
                    "amount_minor": 10000,
                    "received_on": date(2026, 2, 20),
                    "provider_reference": "pi_1",
                    "source": "stripe",
                }
            ],
            "payment",
        )
    assert balances(db)["X1"] == 0
    path = write(
        tmp_path,
        "external_id,customer_external_id,currency,amount,received_on,provider_reference\n"
        "ERP-1,K1,EUR,100.00,2026-02-21,pi_1\n",
    )
    assert not import_file(db, clock, path, "payments", mapping={}).errors
    with db.session() as s:
        assert s.execute(select(Payment.external_id)).scalars().all() == ["ERP-1"]
    assert balances(db) == {"X1": 0, "X2": 5000, "Y1": 7000}


def test_payments_and_credit_notes_import_through_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DUNNING_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        files = {
            "customers": "external_id,name\nK1,Kim\n",
            "invoices": "external_id,customer_external_id,number,total,issued_on,due_on\nX1,K1,X1,100,2026-01-01,2026-01-31\n",
            "payments": "id,client,paid,day\nP1,K1,40,02/15/2026\n",
            "credit-notes": "external_id,customer_external_id,amount,issued_on\nCN1,K1,60,2026-02-16\n",
        }
        extra = {
            "invoices": ["--currency", "EUR"],
            "payments": [
                "--map",
                "external_id=id,customer_external_id=client,amount=paid,received_on=day",
                "--date-format",
                "%m/%d/%Y",
                "--currency",
                "EUR",
            ],
            "credit-notes": ["--currency", "EUR"],
        }
        for kind, text in files.items():
            path = tmp_path / f"{kind}.csv"
            path.write_text(text)
            result = runner.invoke(cli, ["import", kind, str(path), *extra.get(kind, [])])
            assert result.exit_code == 0 and "1 rows: 1 created" in result.output, (kind, result.output)
        bad = tmp_path / "bad.csv"
        bad.write_text("external_id,customer_external_id,currency,amount,received_on\nP9,NOBODY,EUR,5,2026-02-15\n")
        result = runner.invoke(cli, ["import", "payments", str(bad)])
        assert result.exit_code == 1 and "nothing was imported" in result.output and "NOBODY" in result.output
    finally:
        get_settings.cache_clear()
    db = Database(make_engine(f"sqlite:///{tmp_path / 'cli.db'}"))
    assert balances(db) == {"X1": 0}
    with db.session() as s:
        assert dict(s.execute(select(Payment.external_id, Payment.kind)).all()) == {
            "P1": "payment",
            "CN1": "credit_note",
        }
