from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from dunning.bounds import Day, Moment, line
from dunning.inputs import Input
from dunning.outbox.schemas import MessageOut, Note


class NextStep(BaseModel):
    step: str | None
    step_name: str | None = None
    kind: str | None
    due_on: date | None  # when the step is due by the policy (the anchor plus its days, or catch-up)
    send_on: date | None = Field(
        None,
        description="the day it goes out in the customer's calendar, contact rules "
        "applied, as the policy preview shows it",
    )
    requires_approval: bool = False
    summary: str | None = Field(
        None, description="what holds the case back, in words; none when the step and its day say it all"
    )
    why: str  # the engine's reason, as the audit log records it
    error: str | None = None  # the case cannot be decided: why (the cycle records it as a task)


class CaseOut(BaseModel):
    id: int
    currency: str
    state: str
    episode: int
    opened_at: datetime
    closed_at: datetime | None
    policy_name: str
    policy_version: int | None
    band: str | None
    risk: float | None
    path: str | None
    current_step: str | None
    current_step_name: str | None
    current_step_at: datetime | None
    anchor_due_on: date | None
    paused_until: datetime | None
    pause_reason: str | None
    next: NextStep
    messages: list[MessageOut]


class DunningSettingsIn(Input):
    """What the collections team decides for one customer; fields left out stay as they are."""

    policy_name: line(100) | None = Field(None, description="another policy for this customer; null: the default")
    hold_until: Day | None = Field(None, description="no contact until the end of this date")
    excluded: bool | None = Field(None, description="never dunned (key account, legal...)")
    refused_channels: list[Literal["email", "sms", "letter"]] | None = None
    note: Note | None = None


class PauseIn(Input):
    until: Moment | None = Field(None, description="resumes by itself then; null: until someone resumes it")
    note: Note | None = None
