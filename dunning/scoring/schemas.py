"""What the scoring API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ScoreOut(BaseModel):
    customer_external_id: str
    probability: float = Field(description="calibrated probability that the money owed is paid late")
    band: str = Field(description="the band of the customer's policy this probability falls in")
    model_version: str = Field(description="the model that scored, or 'baseline'")
    reasons: list[str]
    currency: str | None = Field(
        description="the account scored (a customer owing in several currencies is "
        "scored by its riskiest); null for the customer-wide baseline"
    )
    scored_at: datetime | None = Field(description="when the score was computed; null when computed for this answer")
    stored: bool = Field(description="false: the customer was never scored, and this is the baseline, computed now")


class ModelOut(BaseModel):
    version: str
    status: str
    late_days: int
    n_rows: int
    features: list[str]
    training_window: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None


class TrainOut(BaseModel):
    outcome: str = Field(description="promoted | challenger | unchanged | not_enough_data")
    promoted: bool
    version: str | None
    message: str
    comparison: dict[str, Any]
