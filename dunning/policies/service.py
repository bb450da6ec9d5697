"""The policy store: versioned documents, the shipped default, and parsed policies by version."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Literal

from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.errors import InvalidInput, NotFound
from dunning.policies.document import Policy, PolicyError, parse_policy
from dunning.policies.models import PolicyVersion

DEFAULT = "default"


def default_document() -> str:
    return files("dunning.policies").joinpath("default.yaml").read_text(encoding="utf-8")


def detect_format(text: str) -> Literal["yaml", "json"]:
    return "json" if text.lstrip().startswith("{") else "yaml"


@lru_cache(maxsize=64)
def _parse(document: str, fmt: str) -> Policy:
    # Parsing the default takes a fifth of a second: saved on first start, it is not parsed again
    # for the cycle that follows (a Policy is frozen, so sharing one is safe).
    return parse_policy(document, fmt)


@lru_cache(maxsize=256)
def _parsed(document: str, fmt: str, version: int) -> Policy:
    return _parse(document, fmt).model_copy(update={"version": version})


def parsed(row: PolicyVersion) -> Policy:
    return _parsed(row.document, row.format, row.version)


def validate(name: str, text: str) -> Policy:
    policy = _parse(text, detect_format(text))
    if policy.name != name:
        raise PolicyError(
            [
                {
                    "line": None,
                    "field": "name",
                    "message": f"the document is named {policy.name!r} but is saved as {name!r}",
                }
            ]
        )
    return policy


def save(session: Session, clock: Clock, name: str, text: str, actor: str) -> PolicyVersion:
    validate(name, text)
    current = session.execute(
        select(func.max(col(PolicyVersion.version))).where(col(PolicyVersion.name) == name)
    ).scalar()
    latest_row = latest(session, name) if current else None
    if latest_row is not None and latest_row.document == text:
        return latest_row  # saving the same document again is not a new version
    row = PolicyVersion(
        name=name,
        version=(current or 0) + 1,
        format=detect_format(text),
        document=text,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session, clock, actor=actor, action="policy.saved", subject_type="policy", subject_id=name, version=row.version
    )
    return row


def latest(session: Session, name: str) -> PolicyVersion | None:
    return session.execute(
        select(PolicyVersion)
        .where(col(PolicyVersion.name) == name)
        .order_by(col(PolicyVersion.version).desc())
        .limit(1)
    ).scalar_one_or_none()


def get(session: Session, name: str, version: int | None = None) -> PolicyVersion:
    if version is None:
        row = latest(session, name)
    else:
        row = session.execute(
            select(PolicyVersion).where(col(PolicyVersion.name) == name, col(PolicyVersion.version) == version)
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no policy named {name!r}" + (f" at version {version}" if version else ""))
    return row


def list_latest(session: Session) -> list[PolicyVersion]:
    newest = (
        select(col(PolicyVersion.name), func.max(col(PolicyVersion.version)).label("v"))
        .group_by(col(PolicyVersion.name))
        .subquery()
    )
    return list(
        session.execute(
            select(PolicyVersion)
            .join(newest, (col(PolicyVersion.name) == newest.c.name) & (col(PolicyVersion.version) == newest.c.v))
            .order_by(col(PolicyVersion.name))
        ).scalars()
    )


def ensure_default(session: Session, clock: Clock) -> PolicyVersion:
    """The shipped default is stored on first start; afterwards the team's edits are kept."""
    return latest(session, DEFAULT) or save(session, clock, DEFAULT, default_document(), "system")


def policy_for(session: Session, name: str | None) -> Policy:
    row = latest(session, name or DEFAULT)
    if row is None:
        if name and name != DEFAULT:
            raise InvalidInput(f"no policy named {name!r}")
        raise NotFound("no default policy is stored yet")
    return parsed(row)
