"""May this process take traffic? The database answers, its schema is the one this code needs,
and the embedded scheduler (when there is one) is running. Each check says what it found; a
failure names the cause, never a connection string or a password."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dunning.db import Database
from dunning.migrate import schema_state

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    not_ready: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.not_ready

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks[name] = detail
        if not ok:
            self.not_ready.append(name)

    def body(self) -> dict[str, object]:
        return {"ready": self.ready, "not_ready": self.not_ready, "checks": self.checks}


def readiness(database: Database, scheduler_running: Callable[[], bool] | None) -> Readiness:
    """`scheduler_running` is None when the jobs run in worker processes, not in this one."""
    found = Readiness()
    try:
        with database.session() as session:
            session.execute(text("SELECT 1"))
            schema = schema_state(session.connection())
    except SQLAlchemyError as e:
        log.warning("readiness: the database is not reachable (%s)", type(e).__name__)
        found.add("database", False, "not reachable")
        found.add("migrations", False, "unknown: the database is not reachable")
    else:
        found.add("database", True, "reachable")
        found.add("migrations", schema.ready, schema.detail)
    if scheduler_running is None:
        found.add("scheduler", True, "not embedded: the jobs run in worker processes")
    elif scheduler_running():
        found.add("scheduler", True, "running")
    else:
        found.add("scheduler", False, "not running: no job is fired in this process")
    return found
