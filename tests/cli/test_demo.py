from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dunning.app import create_app
from dunning.cli.demo import load_demo
from dunning.errors import Conflict
from dunning.ledger.models import Customer, Invoice
from dunning.outbox.models import Message
from dunning.scoring.models import Score


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


def test_serve_loads_the_demo_into_an_empty_database_when_asked(db, clock, settings):
    app = create_app(settings.model_copy(update={"demo": True}), database=db, clock=clock, embedded_worker=False)
    with TestClient(app):
        pass
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Customer)).scalar() == 200
        assert s.execute(select(func.count()).select_from(Score)).scalar() > 0
