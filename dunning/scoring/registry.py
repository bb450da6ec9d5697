"""Model versions: which one is champion, promotion, rollback, loading artifacts.

Statuses: `challenger` (trained, never champion), `champion` (the one that scores; at most one,
enforced by a partial unique index), `retired` (was champion, replaced). Nothing is deleted:
every version keeps its metrics, features, training window and artifact, so any of them can be
promoted again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, text
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.errors import Conflict, NotFound
from dunning.scoring.model import TrainedModel
from dunning.scoring.models import CHAMPION, RETIRED, ModelVersion

log = logging.getLogger(__name__)
LOCK_KEY = 728146  # pg_advisory_xact_lock key of model changes (the cycle uses 728145)


def lock(session: Session) -> None:
    """Serialise trainings and promotions on PostgreSQL; SQLite's BEGIN IMMEDIATE already does."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})"))


def champion(session: Session) -> ModelVersion | None:
    return session.execute(select(ModelVersion).where(col(ModelVersion.status) == CHAMPION)).scalar_one_or_none()


def get(session: Session, version: str) -> ModelVersion:
    row = session.execute(select(ModelVersion).where(col(ModelVersion.version) == version)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no model version '{version}'")
    return row


def by_fingerprint(session: Session, fingerprint: str) -> ModelVersion | None:
    return session.execute(
        select(ModelVersion).where(col(ModelVersion.fingerprint) == fingerprint)
    ).scalar_one_or_none()


def versions(session: Session) -> list[ModelVersion]:
    return list(
        session.execute(
            select(ModelVersion).order_by(col(ModelVersion.created_at).desc(), col(ModelVersion.id).desc())
        ).scalars()
    )


def load(row: ModelVersion) -> TrainedModel | None:
    return load_path(row.version, row.artifact_path)


def load_path(version: str, path: str) -> TrainedModel | None:
    """The version's artifact, or None (logged) when it is missing or unreadable: the baseline
    then scores, which is better than not scoring at all."""
    try:
        return TrainedModel.load(Path(path))
    except (OSError, ValueError, KeyError) as e:
        log.error("model %s: cannot load its artifact at %s: %s", version, path, e)
        return None


def promote(session: Session, clock: Clock, version: str, actor: str) -> ModelVersion:
    lock(session)
    row = get(session, version)
    if row.status == CHAMPION:
        return row  # promoting the champion again changes nothing
    if load(row) is None:
        raise Conflict(
            f"model '{version}' cannot be promoted: its artifact at {row.artifact_path} is missing or unreadable"
        )
    now = clock.now()
    current = champion(session)
    if current is not None:
        current.status, current.retired_at = RETIRED, now
        session.add(current)
        session.flush()  # before the new champion: the unique index allows one at a time
    row.status, row.promoted_at, row.retired_at = CHAMPION, now, None
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action="model.promoted",
        subject_type="model_version",
        subject_id=version,
        replaced=current.version if current else None,
    )
    return row


def rollback(session: Session, clock: Clock, actor: str) -> ModelVersion:
    """Back to the champion before the current one (the version retired last)."""
    lock(session)
    previous = session.execute(
        select(ModelVersion)
        .where(col(ModelVersion.status) == RETIRED)
        .order_by(col(ModelVersion.retired_at).desc(), col(ModelVersion.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if previous is None:
        raise Conflict("no earlier champion to roll back to")
    return promote(session, clock, previous.version, actor)
