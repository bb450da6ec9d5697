"""The outbox's API bodies: messages as the API shows them, a person's answers to an approval
request and to a message in doubt."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from dunning.bounds import text
from dunning.inputs import Input

Note = text(1000)


class MessageOut(BaseModel):
    id: int
    channel: str
    kind: str
    status: str
    step_key: str | None
    step_name: str | None
    send_after: datetime
    sent_at: datetime | None
    requires_approval: bool
    subject: str | None
    recipient: str | None
    last_error: str | None


class MessageDetail(MessageOut):
    customer_external_id: str
    case_id: int | None
    currency: str | None
    amount: str | None
    body_text: str | None
    body_html: str | None
    pdf_path: str | None
    provider_id: str | None
    delivery_status: str | None
    attempts: int
    decided_by: str | None
    decision_note: str | None


class ApprovalIn(Input):
    decision: Literal["approve", "reject"]
    note: Note | None = None


class ResolveIn(Input):
    outcome: Literal["sent", "resend", "cancel"]
    note: Note | None = None
