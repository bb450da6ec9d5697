"""Migrations over data that exists: each database kind gets a fresh schema at an old revision,
rows as they were left then, and the upgrade to head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from dunning.db import make_engine
from dunning.migrate import alembic_config
from tests.conftest import DB_KINDS, PG_URL

SCHEMA = "migration_test"
NOW = datetime(2026, 3, 2, 9, 0)  # UTC columns store naive UTC


@contextmanager
def fresh(kind: str, tmp_path) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine = make_engine(PG_URL, connect_args={"options": f"-c search_path={SCHEMA}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
        admin.dispose()


def migrate(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def add_customer(conn) -> None:
    """Customer 1, as the first revision's table holds it."""
    conn.execute(
        text(
            "INSERT INTO customer (id, external_id, name, language, timezone, kind, tags, content_hash, excluded, "
            "refused_channels, invalid_channels, created_at, updated_at) VALUES (1, 'C1', 'Acme', 'en', 'UTC', "
            "'business', '[]', 'h', false, '[]', '[]', :now, :now)"
        ),
        {"now": NOW},
    )


@pytest.mark.parametrize("kind", DB_KINDS)
def test_duplicate_open_disputes_and_promises_are_settled_before_the_unique_indexes(kind, tmp_path):
    with fresh(kind, tmp_path) as engine:
        migrate(engine, "0001")
        with engine.begin() as conn:
            stamp = {"now": NOW}
            add_customer(conn)
            conn.execute(
                text(
                    "INSERT INTO invoice (id, external_id, customer_id, number, currency, total_minor, "
                    "reported_balance_minor, allocated_minor, balance_minor, issued_on, due_on, voided, content_hash, "
                    "created_at, updated_at) VALUES (1, 'I1', 1, 'N1', 'EUR', 100, 100, 0, 100, '2026-01-01', "
                    "'2026-02-01', false, 'h', :now, :now)"
                ),
                stamp,
            )
            for n in (1, 2, 3):  # three open disputes on one invoice, each with its task
                conn.execute(
                    text(
                        "INSERT INTO task (id, kind, title, key, status, notes, data, created_at) VALUES "
                        "(:n, 'dispute', 'dispute', :key, 'open', '[]', '{}', :now)"
                    ),
                    {**stamp, "n": n, "key": f"d{n}"},
                )
                conn.execute(
                    text(
                        "INSERT INTO dispute (id, invoice_id, customer_id, status, reason_code, source, task_id, "
                        "opened_at) VALUES (:n, 1, 1, 'open', 'not_received', 'portal', :n, :now)"
                    ),
                    {**stamp, "n": n},
                )
            for n, currency in ((1, "EUR"), (2, "EUR"), (3, "EUR"), (4, "USD")):
                conn.execute(
                    text(
                        "INSERT INTO promise (id, customer_id, currency, amount_minor, promised_on, grace_until, status, "
                        "source, pauses_case, counted_from, paid_minor, created_by, created_at) VALUES (:n, 1, "
                        ":currency, 100, '2026-03-10', '2026-03-12', 'open', 'api', true, '2026-03-02', 0, 'test', :now)"
                    ),
                    {**stamp, "n": n, "currency": currency},
                )
        migrate(engine, "head")

        assert rows(engine, "SELECT id, status, outcome FROM dispute ORDER BY id") == [
            (1, "open", None),
            (2, "resolved", "duplicate"),
            (3, "resolved", "duplicate"),
        ]
        assert rows(engine, "SELECT id, status FROM task ORDER BY id") == [(1, "open"), (2, "done"), (3, "done")]
        assert rows(engine, "SELECT id, status FROM promise ORDER BY id") == [
            (1, "cancelled"),
            (2, "cancelled"),
            (3, "open"),
            (4, "open"),
        ]  # the newest per currency stays
        with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
            conn.execute(text("UPDATE dispute SET status = 'open' WHERE id = 2"))


@pytest.mark.parametrize("kind", DB_KINDS)
def test_calls_piled_up_on_a_case_are_settled_before_the_one_open_call_index(kind, tmp_path):
    with fresh(kind, tmp_path) as engine:
        migrate(engine, "0005")
        with engine.begin() as conn:
            stamp = {"now": NOW}
            add_customer(conn)
            for case_id, currency in ((1, "EUR"), (2, "USD")):
                conn.execute(
                    text(
                        "INSERT INTO dunning_case (id, customer_id, currency, state, episode, opened_at, policy_name, "
                        "step_index, updated_at) VALUES (:id, 1, :currency, 'active', 1, :now, 'default', 0, :now)"
                    ),
                    {**stamp, "id": case_id, "currency": currency},
                )
            # four identical calls on case 1 (one already done), one on case 2, and a review on case 1
            for n, case_id, kind_, status in (
                (1, 1, "call", "done"),
                (2, 1, "call", "open"),
                (3, 1, "call", "open"),
                (4, 1, "call", "open"),
                (5, 2, "call", "open"),
                (6, 1, "review", "open"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO task (id, kind, title, key, case_id, status, notes, data, created_at) VALUES "
                        "(:n, :kind, 'Call NEWCO', :key, :case_id, :status, '[]', '{}', :now)"
                    ),
                    {**stamp, "n": n, "kind": kind_, "key": f"t{n}", "case_id": case_id, "status": status},
                )
        migrate(engine, "head")

        assert rows(engine, "SELECT id, status FROM task ORDER BY id") == [
            (1, "done"),
            (2, "open"),
            (3, "done"),
            (4, "done"),
            (5, "open"),
            (6, "open"),
        ]  # the first open call stays
        with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:
            conn.execute(text("UPDATE task SET status = 'open' WHERE id = 3"))


@pytest.mark.parametrize("kind", DB_KINDS)
def test_existing_customers_get_their_primary_contact_with_its_marks(kind, tmp_path):
    with fresh(kind, tmp_path) as engine:
        migrate(engine, "0008")
        with engine.begin() as conn:
            add_customer(conn)  # nothing to write to: no contact
            conn.execute(
                text(
                    "INSERT INTO customer (id, external_id, name, email, phone, address, language, timezone, kind, tags, "
                    "content_hash, excluded, refused_channels, invalid_channels, created_at, updated_at) VALUES (2, 'C2', "
                    "'Bolt', 'ap@bolt.example', '+33612345678', '1 rue X\n75001 Paris', 'fr', 'UTC', 'business', '[]', "
                    "'h', false, '[]', '[\"sms\"]', :now, :now)"
                ),
                {"now": NOW},
            )
            conn.execute(
                text("INSERT INTO opt_out (customer_id, channel, source, at) VALUES (2, 'email', 'portal', :now)"),
                {"now": NOW},
            )
        migrate(engine, "head")

        found = [
            (*r[:6], *(json.loads(v) if isinstance(v, str) else v for v in r[6:]))
            for r in rows(  # JSON as text on SQLite
                engine,
                "SELECT customer_id, external_id, name, email, phone, address, roles, invalid_channels FROM contact",
            )
        ]
        assert found == [
            (2, "primary", "Bolt", "ap@bolt.example", "+33612345678", "1 rue X\n75001 Paris", ["primary"], ["sms"])
        ]
        assert rows(engine, "SELECT customer_id, channel FROM opt_out") == [(2, "email")]  # still for everyone
        with engine.connect() as conn:
            columns = [c["name"] for c in inspect(conn).get_columns("customer")]
        assert "invalid_channels" not in columns and "email" in columns
