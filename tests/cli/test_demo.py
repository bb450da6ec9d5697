from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dunning.app import create_app
from dunning.config import get_settings
from dunning.db import Database, make_engine
from dunning.demo import load_demo
from dunning.errors import Conflict
from dunning.ledger.models import Customer, Invoice
from dunning.outbox.models import PENDING, Message
from dunning.scoring.models import Score
from dunning.words import plural


def test_the_demo_loads_a_scored_portfolio_with_reminders_planned(shell):
    out = shell.run("demo", "--customers", "60", "--seed", "2").output
    assert "60 customers" in out and "messages planned" in out
    with shell.database().session() as s:
        customers = list(s.execute(select(Customer)).scalars())
        assert all(c.address and c.email and c.country for c in customers)  # letters need the address
        assert any(c.phone for c in customers) and any(c.phone is None for c in customers)
        assert s.execute(select(func.count()).where(Invoice.paid_on.is_not(None))).scalar() > 300
        assert s.execute(select(func.count()).select_from(Score)).scalar() > 0
        assert s.execute(select(func.count()).select_from(Message)).scalar() > 0
    assert "empty database" in shell.run("demo", code=2).output  # never mixed into real data


def test_the_demo_refuses_to_run_with_a_real_transport(db, clock, settings):
    real = settings.model_copy(update={"letter_provider_url": "https://print.example/api"})
    with pytest.raises(Conflict, match="DUNNING_LETTER_PROVIDER_URL"):
        load_demo(db, clock, real, customers=10)


def test_serve_loads_the_demo_into_an_empty_database_when_asked(db, clock, settings, caplog):
    app = create_app(settings.model_copy(update={"demo": True}), database=db, clock=clock, embedded_worker=False)
    with caplog.at_level(logging.INFO, logger="dunning.app"), TestClient(app):
        pass
    said = [r.getMessage() for r in caplog.records if r.name == "dunning.app"]
    assert said[0].startswith("demo: loading a made-up portfolio")
    assert said[1].startswith("demo loaded: 200 customers, 2421 invoices (") and "messages planned" in said[1]
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 200
        assert s.execute(select(func.count()).select_from(Score)).scalar() > 0


def test_the_demo_has_a_database_of_its_own_and_the_dry_run_shows_what_it_queued(shell, monkeypatch):
    monkeypatch.delenv("DUNNING_DATABASE_URL")  # as a newcomer runs it: nothing set
    out = " ".join(shell.run("demo", "--customers", "40", "--seed", "3").output.split())
    demo_db = shell.var / "demo.db"
    assert f"loaded into sqlite:///{demo_db}; serve it with `DUNNING_DEMO=true make run`" in out
    assert demo_db.exists() and not (shell.var / "dunning.db").exists()  # the real database stays empty
    again = " ".join(shell.run("demo", code=2).output.split())
    assert f"the demo is loaded already in sqlite:///{demo_db}: serve it with `DUNNING_DEMO=true make run`" in again

    monkeypatch.setenv("DUNNING_DEMO", "true")
    get_settings.cache_clear()
    with Database(make_engine(f"sqlite:///{demo_db}")).session() as s:
        waiting = s.execute(select(func.count()).where(Message.status.in_(PENDING))).scalar()
    assert waiting > 0
    dry = " ".join(shell.run("run-cycle", "--dry-run").output.split())
    # The demo's cycle planned them already: the dry run plans nothing new, and shows what waits.
    assert f"waiting in the outbox: {plural(waiting, 'message')}" in dry and "would do:" in dry
    with Database(make_engine(f"sqlite:///{demo_db}")).session() as s:  # a dry run writes nothing
        assert s.execute(select(func.count()).where(Message.status.in_(PENDING))).scalar() == waiting

    sent = " ".join(shell.run("dispatch", "--once", "--next-window").output.split())
    assert int(sent.split(" sent,")[0].split()[-1]) > 0, sent
    assert list((shell.var / "outbox").rglob("*.eml")) or (shell.var / "outbox" / "sms.jsonl").exists()


def test_next_window_refuses_to_send_ahead_through_a_real_transport(shell, monkeypatch):
    monkeypatch.setenv("DUNNING_SMTP_HOST", "smtp.example.com")
    get_settings.cache_clear()
    out = " ".join(shell.run("dispatch", "--once", "--next-window", code=2).output.split())
    assert "--next-window sends ahead of time, and email reach(es) real people" in out
    assert "goes with --once" in " ".join(shell.run("dispatch", "--next-window", code=2).output.split())
