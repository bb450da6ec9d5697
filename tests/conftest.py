"""Test fixtures: one database per run and kind, a transaction rolled back per test.

Every test that asks for `db` (directly or through `client`) runs on SQLite, and again on
PostgreSQL when DUNNING_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pandas as pd
import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from dunning import api_keys, subscriptions
from dunning.app import create_app
from dunning.clock import FrozenClock
from dunning.config import Settings
from dunning.db import Database, make_engine
from dunning.migrate import upgrade
from dunning.scoring import paydate
from dunning.tables import metadata
from dunning.web.auth import users

# Property tests explore the same examples on every run, so a red build names a real regression and
# can be replayed; HYPOTHESIS_PROFILE=explore draws new examples when hunting for bugs on purpose.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PG_URL = os.environ.get("DUNNING_TEST_DATABASE_URL")
DB_KINDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture(scope="session", autouse=True)
def subscribed() -> None:
    """The layers' event subscriptions, connected as every entry point connects them."""
    subscriptions.connect()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """argon2's documented test profile: a hash takes 0.1 ms instead of ~0.3 s (the lock-out tests
    verify dozens). Still argon2id hashes verified by the same code; only the work factor differs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        yield


@pytest.fixture(scope="session", autouse=True)
def payment_date_models_trained_once():
    """paydate.train is a pure function of its rows (seeded, fixed threads): the same ledger trained
    by several tests (every `model train` and backtest trains one), and by one test on each database,
    gets a copy of the model the first training fitted. What it computes is unchanged; the
    payment-date model itself is tested in tests/scoring/test_paydate.py."""
    fitted: dict[tuple, paydate.PayDateModel | None] = {}
    train = paydate.train

    def once(X: pd.DataFrame, meta: pd.DataFrame, **kw) -> paydate.PayDateModel | None:
        key = (
            tuple(X.columns),
            pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes(),
            # every column of the labels but the ids, which differ between the databases
            pd.util.hash_pandas_object(meta.drop(columns=["invoice_id", "customer_id"]), index=False)
            .to_numpy()
            .tobytes(),
            tuple(sorted(kw.items())),
        )
        if key not in fitted:
            fitted[key] = train(X, meta, **kw)
        model = fitted[key]
        if model is None:
            return None
        return paydate.PayDateModel(model.booster.copy(), model.delta, list(model.features), dict(model.metadata))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(paydate, "train", once)
        yield


@pytest.fixture(scope="session", params=DB_KINDS)
def engine(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = PG_URL
        reset = make_engine(url)
        with reset.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        reset.dispose()
    engine = make_engine(url)
    upgrade(engine)  # the migrations, not create_all: they are what production runs
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine):
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def db(connection) -> Database:
    return Database(connection)


@pytest.fixture
def committed_db(engine):
    """For tests that need several connections to see each other's commits."""
    yield Database(engine)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(_env_file=None, database_url="sqlite://", var_dir=tmp_path / "var", embedded_worker=False)


def make_client(app, secret: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return TestClient(app, headers=headers, raise_server_exceptions=False)


def new_key(db: Database, clock, scopes: list[str], name: str = "test") -> str:
    with db.session() as session:
        return api_keys.create_key(session, clock, name, scopes)[1]


@pytest.fixture
def app(settings, db, clock):
    return create_app(settings, database=db, clock=clock, embedded_worker=False)


@pytest.fixture
def client(app, db, clock) -> TestClient:
    with make_client(app, new_key(db, clock, ["admin"], "admin")) as c:  # start-up runs (default policy)
        yield c
