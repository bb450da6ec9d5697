"""Replicas and workers all migrate at start-up: started together on PostgreSQL, they take turns."""

from __future__ import annotations

import multiprocessing
import secrets

import pytest
from sqlalchemy import text

from dunning.db import make_engine
from dunning.migrate import _scripts
from tests.conftest import PG_URL
from tests.migrate_starter import start

STARTERS = 2


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only: SQLite has one writer at a time anyway")
def test_processes_migrating_a_fresh_database_together_all_succeed():
    schema = f"migrate_together_{secrets.token_hex(4)}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    spawn = multiprocessing.get_context("spawn")
    together, results = spawn.Barrier(STARTERS), spawn.Queue()
    starters = [spawn.Process(target=start, args=(PG_URL, schema, together, results)) for _ in range(STARTERS)]
    try:
        for p in starters:
            p.start()
        outcomes = [results.get(timeout=120) for _ in starters]
        for p in starters:
            p.join(30)
        assert outcomes == ["ok"] * STARTERS
        with admin.connect() as conn:
            version = conn.execute(text(f"SELECT version_num FROM {schema}.alembic_version")).scalars().all()
        assert version == list(_scripts().get_heads())
    finally:
        for p in starters:
            if p.is_alive():
                p.kill()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
