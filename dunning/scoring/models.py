"""Model versions and stored scores.

A score row is appended, never updated: the history of a customer's risk is what the audit trail
of band changes points at. The cycle reads only each customer's newest row, which the index
(customer_id, scored_at, id) serves without touching the rest of the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from dunning.db import utc_column

CHAMPION, CHALLENGER, RETIRED = "champion", "challenger", "retired"
BASELINE = "baseline"  # the model_version of a score the baseline computed


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_version"
    # At most one champion, even with two trainings racing: the database refuses the second.
    __table_args__ = (
        Index(
            "uq_model_version_champion",
            "status",
            unique=True,
            sqlite_where=text("status = 'champion'"),
            postgresql_where=text("status = 'champion'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=100, unique=True)
    status: str = Field(default=CHALLENGER, max_length=12)  # champion | challenger | retired
    # What the version was trained on, as a hash of its training rows: training again on the
    # same rows finds this version instead of adding a copy.
    fingerprint: str = Field(max_length=64, unique=True)
    late_days: int
    n_rows: int
    features: list[str] = Field(sa_column=Column(JSON, nullable=False))
    training_window: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # rehearsal (model and baseline on the newest holdout) and the comparison that decided promotion
    metrics: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    artifact_path: str = Field(max_length=500)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    promoted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    retired_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Score(SQLModel, table=True):
    __table_args__ = (Index("ix_score_customer_newest", "customer_id", "scored_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    # The account the probability is about (a customer owing in several currencies is scored by
    # its riskiest account); null for a customer-wide score.
    currency: str | None = Field(default=None, max_length=3)
    probability: float
    model_version: str = Field(max_length=100)  # a ModelVersion.version, or "baseline"
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    open_invoices: int = 0
    scored_at: datetime = Field(sa_column=utc_column(nullable=False))


class PayDatePrediction(SQLModel, table=True):
    """The newest payment-date prediction of an open invoice, replaced by each rescore.

    Quantiles of signed days late (payment date minus due date) as the predictor gave them, the band
    already calibrated: readers condition them on "still open today" (scoring/paydates.py), so the
    figures stay right between two rescores. A row whose invoice is no longer open is ignored by
    every reader and removed by the next rescore.
    """

    __tablename__ = "pay_date_prediction"

    invoice_id: int = Field(foreign_key="invoice.id", primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    q10_days: float
    q50_days: float
    q90_days: float
    model_version: str = Field(max_length=100)  # a ModelVersion.version, or "baseline"
    predicted_at: datetime = Field(sa_column=utc_column(nullable=False))
