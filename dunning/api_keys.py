"""API keys: stored as SHA-256 hashes, shown once, each with scopes.

A key is 256 random bits, so a fast hash is enough: nobody can brute-force the preimage, and a
slow password hash would cost every request a few milliseconds for nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from dunning.clock import Clock
from dunning.db import utc_column
from dunning.errors import Forbidden, InvalidInput, Unauthenticated

SCOPES = ("ingest", "read", "manage", "admin")
KEY_PREFIX = "dk_"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    hint: str = Field(max_length=16)  # first characters, to tell keys apart in listings
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str | list[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else text
    scopes = sorted({s.strip() for s in items if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    return scopes


def create_key(
    session: Session, clock: Clock, name: str, scopes: list[str], secret: str | None = None
) -> tuple[ApiKey, str]:
    secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name, key_hash=hash_key(secret), hint=secret[:8], scopes=parse_scopes(scopes), created_at=clock.now()
    )
    session.add(key)
    session.flush()
    return key, secret


def ensure_key(session: Session, clock: Clock, name: str, secret: str, scopes: list[str]) -> ApiKey:
    """Idempotent: used at start-up for DUNNING_BOOTSTRAP_API_KEY."""
    existing = session.exec(select(ApiKey).where(col(ApiKey.key_hash) == hash_key(secret))).first()
    if existing:
        return existing
    return create_key(session, clock, name, scopes, secret)[0]


def revoke_key(session: Session, clock: Clock, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise InvalidInput(f"no API key with id {key_id}")
    key.revoked_at = key.revoked_at or clock.now()
    session.add(key)
    return key


def authenticate(session: Session, authorization: str | None) -> ApiKey:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    secret = authorization[7:].strip()
    key = session.exec(select(ApiKey).where(col(ApiKey.key_hash) == hash_key(secret))).first()
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    return key


def check_scope(key: ApiKey, scope: str) -> None:
    if scope not in key.scopes and "admin" not in key.scopes:
        raise Forbidden(f"this API key lacks the '{scope}' scope")
