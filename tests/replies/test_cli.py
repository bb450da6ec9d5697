"""`main.py replies classify` and `main.py arrangements run`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dunning.arrangements import promises
from dunning.cli import app as cli
from dunning.clock import FrozenClock
from dunning.config import get_settings
from dunning.db import Database, make_engine
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Customer
from dunning.ledger.schemas import CustomerIn, InvoiceIn
from dunning.migrate import upgrade
from dunning.policies import service as policy_service
from dunning.records.arrangements import Promise
from tests.builders import customer, invoice


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def test_classify_prints_what_is_understood_as_one_json_object():
    out = run(
        "replies",
        "classify",
        "je paierai 150 € vendredi",
        "--lang",
        "fr",
        "--json",
        "--tz",
        "Europe/Paris",
        "--now",
        "2026-03-02T09:00:00Z",
    ).output
    data = json.loads(out)
    assert data["intent"] == "promise_to_pay" and data["confidence"] == 1.0
    assert data["promised_date"] == "2026-03-06" and data["amount"] == "150" and data["currency"] == "EUR"


def test_classify_as_a_table_says_whether_it_would_act():
    out = run("replies", "classify", "I dispute invoice INV-42, the amount is wrong", "--channel", "email").output
    assert "dispute" in out and "INV-42" in out
    assert "acts on it" in out or "a person decides" in out
    shaky = run("replies", "classify", "I'll try to pay Friday", "--now", "2026-03-02T09:00:00Z").output
    assert "a person decides" in shaky and "hedged" in shaky


def test_classify_refuses_what_it_cannot_read():
    assert "no lexicon" in run("replies", "classify", "olá", "--lang", "pt", code=2).output
    assert "--channel" in run("replies", "classify", "STOP", "--channel", "fax", code=2).output


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DUNNING_DATABASE_URL", url)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    yield Database(engine)
    engine.dispose()
    get_settings.cache_clear()


def test_arrangements_run_breaks_an_overdue_promise_once(database):
    clock = FrozenClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    with database.session() as s:
        policy_service.ensure_default(s, clock)  # what the service's start-up does
        ledger_service.push_customers(s, clock, Batch.of(CustomerIn, [CustomerIn(**customer("C1"))]))
        ledger_service.push_invoices(s, clock, Batch.of(InvoiceIn, [InvoiceIn(**invoice("I1"))]))
        c1 = s.execute(select(Customer)).scalar_one()
        promises.record(
            s,
            clock,
            customer=c1,
            currency="EUR",
            promised_on=date(2026, 3, 6),
            amount_minor=None,
            source="desk",
            actor="test",
        )
    assert "nothing to do" in run("arrangements", "run", "--now", "2026-03-08T12:00:00Z").output
    assert "1 promise broken" in run("arrangements", "run", "--now", "2026-03-09T09:00:00Z").output
    assert "nothing to do" in run("arrangements", "run", "--now", "2026-03-09T10:00:00Z").output
    with database.session() as s:
        assert s.execute(select(Promise.status)).scalar_one() == "broken"
