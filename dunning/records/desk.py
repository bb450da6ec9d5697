"""People of the collections desk and their sign-in sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

# Each role can do everything the roles before it can.
ROLES = ("agent", "manager", "admin")


class DeskUser(SQLModel, table=True):
    __tablename__ = "desk_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)  # stored lower-cased
    name: str = Field(max_length=200)
    role: str = Field(max_length=10)
    password_hash: str = Field(max_length=200)
    active: bool = True
    # wrong passwords since the last success; reaching settings.login_max_failures locks the account
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_login_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class DeskSession(SQLModel, table=True):
    """Server-side, so that signing out (or deactivating a person) ends the session at once; the
    cookie only carries a signed random token whose hash is stored here."""

    __tablename__ = "desk_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="desk_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    flash: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    last_seen_at: datetime = Field(sa_column=utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=utc_column(nullable=False))
