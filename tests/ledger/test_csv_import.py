from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dunning.cli import app as cli
from dunning.config import get_settings
from dunning.db import Database, make_engine
from dunning.errors import InvalidInput
from dunning.ledger.csv_import import import_file
from dunning.ledger.models import Customer, Invoice
from tests.datasets import IBM, IBM_MAP

IBM_ARGS = ["--map", IBM_MAP, "--date-format", "%m/%d/%Y", "--currency", "USD", "--create-customers"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.csv"
    path.write_text(text)
    return path


def count(db, model) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar()


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(db, clock, tmp_path):
    path = write(tmp_path, "external_id,name,timezone,Phone\n"
                           "A,Alice,Europe/Paris,\n"
                           "B,Bob,Nowhere/Town,\n"
                           "C,,UTC,\n"
                           "A,Again,UTC,\n")
    report = import_file(db, clock, path, "customers", mapping={})
    assert [(e["line"], e["field"]) for e in report.errors] == [(3, "timezone"), (4, "name"), (5, "external_id")]
    assert count(db, Customer) == 0


def test_mapped_columns_and_date_format(db, clock, tmp_path):
    cust = write(tmp_path, "id,label\nK1,Kim\n")
    assert not import_file(db, clock, cust, "customers", mapping={"external_id": "id", "name": "label"}).errors
    inv = tmp_path / "inv.csv"
    inv.write_text("ref,client,amount,date,due,settled,ccy\n"
                   "X1,K1,12.50,01/02/2026,03/03/2026,,EUR\n"
                   "X2,K1,7.00,01/02/2026,03/03/2026,03/01/2026,EUR\n")
    mapping = {"external_id": "ref", "customer_external_id": "client", "number": "ref", "total": "amount",
               "issued_on": "date", "due_on": "due", "paid_on": "settled", "currency": "ccy"}
    report = import_file(db, clock, inv, "invoices", mapping=mapping, date_format="%m/%d/%Y")
    assert not report.errors and report.result.created == 2
    with db.session() as s:
        rows = dict(s.execute(select(Invoice.external_id, Invoice.balance_minor)).all())
    assert rows == {"X1": 1250, "X2": 0}


def test_unknown_customers_need_the_flag(db, clock, tmp_path):
    path = write(tmp_path, "external_id,customer_external_id,number,currency,total,issued_on,due_on\n"
                           "I1,NEW,1,EUR,5,2026-01-01,2026-01-31\n")
    report = import_file(db, clock, path, "invoices", mapping={})
    assert report.errors[0]["field"] == "customer_external_id" and report.errors[0]["line"] == 2
    assert not import_file(db, clock, path, "invoices", mapping={}, create_customers=True).errors
    assert count(db, Customer) == 1


@pytest.mark.skipif(IBM is None, reason="the shared data set is not beside the repository")
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
