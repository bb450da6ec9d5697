"""Desk accounts: argon2 password hashes, roles, and the lock-out after repeated failures."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import get_row
from dunning.errors import Conflict, InvalidInput
from dunning.records.desk import ROLES, DeskUser
from dunning.web.auth import sessions

MIN_PASSWORD = 12
hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # verified against when the email is unknown, so that a wrong email takes as long as a wrong password
    return hasher.hash("no such user, but the same work")


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as e:
        raise InvalidInput(f"'{email}' is not an email address: {e}") from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")


def has_role(user_role: str, needed: str) -> bool:
    return ROLES.index(user_role) >= ROLES.index(needed)


def create(
    session: Session, clock: Clock, *, email: str, role: str, password: str, name: str | None = None, actor: str
) -> DeskUser:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    check_password(password)
    if session.execute(select(col(DeskUser.id)).where(col(DeskUser.email) == email)).first() is not None:
        raise Conflict(f"{email} already has an account")
    now = clock.now()
    user = DeskUser(
        email=email,
        name=(name or email.split("@")[0]).strip()[:200],
        role=role,
        password_hash=hasher.hash(password),
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, clock, actor=actor, action="desk_user.created", subject_type="desk_user", subject_id=email, role=role
    )
    return user


def by_email(session: Session, email: str) -> DeskUser | None:
    return session.execute(select(DeskUser).where(col(DeskUser.email) == email.strip().lower())).scalar_one_or_none()


def get(session: Session, user_id: int) -> DeskUser:
    return get_row(session, DeskUser, user_id, "desk user")


def authenticate(session: Session, clock: Clock, settings: Settings, email: str, password: str) -> DeskUser | None:
    """The user, or None for a wrong email, a wrong password, a locked or a deactivated account
    alike: the sign-in page must not tell an attacker which emails exist or which are locked.
    Failures are written, not raised, so that the request's commit keeps the count.

    Each attempt is counted as a failure before the password is checked, in one conditional
    UPDATE on the user's row that only succeeds while the account has attempts left: parallel
    guesses queue on the row (PostgreSQL) or the write lock (SQLite), and no more of them reach
    argon2 than the lock-out allows. A right password takes its count back."""
    now = clock.now()
    user = by_email(session, email)
    if user is None or not user.active:
        _verify(_dummy_hash(), password)
        return None
    attempt = session.execute(
        update(DeskUser)
        .where(
            col(DeskUser.id) == user.id,
            col(DeskUser.failed_logins) < settings.login_max_failures,
            or_(col(DeskUser.locked_until).is_(None), col(DeskUser.locked_until) <= now),
        )
        .values(failed_logins=col(DeskUser.failed_logins) + 1, updated_at=now)
        .returning(col(DeskUser.failed_logins))
        .execution_options(synchronize_session=False)
    ).scalar()
    if attempt is None:  # locked, or out of attempts
        _verify(_dummy_hash(), password)
        audit.record(
            session,
            clock,
            actor=f"user:{user.email}",
            action="desk.login_locked",
            subject_type="desk_user",
            subject_id=user.email,
        )
        return None
    session.refresh(user)  # the count as the UPDATE left it, so that a success writes its reset
    if not _verify(user.password_hash, password):
        if attempt >= settings.login_max_failures:
            user.locked_until, user.failed_logins = now + timedelta(minutes=settings.login_lockout_minutes), 0
            session.add(user)
            audit.record(
                session,
                clock,
                actor="system",
                action="desk_user.locked",
                subject_type="desk_user",
                subject_id=user.email,
                until=user.locked_until.isoformat(),
            )
        audit.record(
            session,
            clock,
            actor=f"user:{user.email}",
            action="desk.login_failed",
            subject_type="desk_user",
            subject_id=user.email,
        )
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at, user.updated_at = 0, None, now, now
    session.add(user)
    audit.record(
        session, clock, actor=f"user:{user.email}", action="desk.login", subject_type="desk_user", subject_id=user.email
    )
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def unlock(session: Session, clock: Clock, user_id: int, actor: str) -> DeskUser:
    user = get(session, user_id)
    user.failed_logins, user.locked_until, user.updated_at = 0, None, clock.now()
    session.add(user)
    audit.record(
        session, clock, actor=actor, action="desk_user.unlocked", subject_type="desk_user", subject_id=user.email
    )
    return user


def set_active(session: Session, clock: Clock, user_id: int, active: bool, actor: str) -> DeskUser:
    user = get(session, user_id)
    user.active, user.updated_at = active, clock.now()
    session.add(user)
    if not active:
        sessions.end_all(session, user.id)  # signed out everywhere at once
    audit.record(
        session,
        clock,
        actor=actor,
        action="desk_user.activated" if active else "desk_user.deactivated",
        subject_type="desk_user",
        subject_id=user.email,
    )
    return user


def list_all(session: Session) -> list[DeskUser]:
    return list(session.execute(select(DeskUser).order_by(col(DeskUser.email))).scalars())
