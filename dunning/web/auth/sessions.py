"""The desk's sign-in session: a signed random token in an HttpOnly cookie, its hash in a row.

Expiry is judged on the row with the injected clock (an absolute lifetime and an idle timeout),
not by the cookie, so tests can move time and signing out ends a session everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, select
from sqlmodel import Session, col

from dunning.clock import Clock
from dunning.config import Settings
from dunning.records.desk import DeskSession, DeskUser

COOKIE = "dunning_desk"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


def _signer(settings: Settings) -> Signer:
    return Signer(settings.signing_key, salt="dunning.desk-session")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_options(settings: Settings) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": settings.public_url.startswith("https://"), "path": "/desk"}


def start(session: Session, clock: Clock, settings: Settings, user: DeskUser) -> str:
    """A new session (never a reused one: a token planted before sign-in is worth nothing after).
    Returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.execute(delete(DeskSession).where(col(DeskSession.user_id) == user.id, col(DeskSession.expires_at) <= now))
    session.add(
        DeskSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.desk_session_hours),
        )
    )
    session.flush()
    return _signer(settings).sign(token).decode()


def lookup(
    session: Session, clock: Clock, settings: Settings, cookie: str | None
) -> tuple[DeskSession, DeskUser] | None:
    if not cookie:
        return None
    try:
        token = _signer(settings).unsign(cookie).decode()
    except BadSignature:
        return None
    row = session.execute(select(DeskSession).where(col(DeskSession.token_hash) == _hash(token))).scalar_one_or_none()
    if row is None:
        return None
    now = clock.now()
    if row.expires_at <= now or row.last_seen_at + timedelta(minutes=settings.desk_idle_minutes) <= now:
        return None
    user = session.get(DeskUser, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
    return row, user


def csrf_ok(row: DeskSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(row.csrf_token.encode(), submitted.encode())


def end(session: Session, row: DeskSession) -> None:
    session.delete(row)
    session.flush()


def end_all(session: Session, user_id: int) -> None:
    session.execute(delete(DeskSession).where(col(DeskSession.user_id) == user_id))


def flash(row: DeskSession, level: str, text: str) -> None:
    row.flash = [*row.flash, {"level": level, "text": text}]


def take_flash(session: Session, row: DeskSession) -> list[dict[str, Any]]:
    shown = list(row.flash)
    if shown:
        row.flash = []
        session.add(row)
    return shown
