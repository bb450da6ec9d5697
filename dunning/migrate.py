"""Running Alembic from code: at start-up, from `main.py db upgrade`, and in tests; and telling
whether a database's schema is the one this code was written for (`/readyz`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy import Connection, Engine, text

ROOT = Path(__file__).resolve().parent.parent
# pg_advisory_xact_lock key of migrations (the cycle uses 728145, model changes 728146)
MIGRATION_LOCK = 728147


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # API replicas and workers all migrate at start-up: started together, each would read the
            # same old revision and run the same DDL, and all but one fail. The lock makes them take
            # turns; the next one in reads the new revision (read committed) and has nothing to do.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@dataclass(frozen=True)
class SchemaState:
    ready: bool
    detail: str


def schema_state(conn: Connection) -> SchemaState:
    """The database's revision against this code's head. A revision this code does not know was
    written by a newer release (a rolling update migrated it first): the schema is taken as
    ready, since migrations only add what the release before can live with (docs/architecture.md)."""
    scripts = _scripts()
    heads = set(scripts.get_heads())
    current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return SchemaState(True, "at head " + ", ".join(sorted(heads)))
    if not current:
        return SchemaState(False, "not migrated: run `main.py db upgrade`")
    try:
        pending = [rev.revision for rev in scripts.iterate_revisions(tuple(heads), tuple(current))]
    except RevisionError:  # a revision of a newer release
        return SchemaState(True, f"at {', '.join(sorted(current))}, newer than this release's head")
    return SchemaState(False, f"{len(pending)} migration(s) pending: run `main.py db upgrade`")
