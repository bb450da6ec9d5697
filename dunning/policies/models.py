"""Policies are stored as versioned documents: a save adds a version, cases record the one they follow."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dunning.db import utc_column


class PolicyVersion(SQLModel, table=True):
    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    version: int
    format: str = Field(max_length=4)  # yaml | json: the document is kept as written, comments included
    document: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class ReferenceRate(SQLModel, table=True):
    """A reference-rate entry the team added (`rates add`): laid over the shipped histories."""

    __tablename__ = "reference_rate"
    __table_args__ = (UniqueConstraint("series", "effective_on"),)

    id: int | None = Field(default=None, primary_key=True)
    series: str = Field(max_length=40)
    effective_on: date
    percent: str = Field(max_length=12)  # as typed ("2.15"): a decimal string, exact on every database
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
