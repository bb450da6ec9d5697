"""The transport contract (DESIGN.md section 6).

The outbox renders a message, stores exactly what will go out, then hands an Envelope to the
transport of its channel. A transport either returns a ProviderReceipt or raises TransportError,
saying whether trying again could help. It never touches the database: the outbox records the
outcome, so every transport is testable against a real peer with nothing else running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

CHANNELS = ("email", "sms", "letter", "agency")


class TransportError(Exception):
    """permanent: trying again cannot help. recipient: the address or number itself is bad, so the
    customer's contact on this channel is invalid (not just this message). uncertain: the
    provider may already have taken the message (a timeout after the body was sent): sending it
    again could deliver it twice, so a person decides."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str | None = None,
        recipient: bool = False,
        uncertain: bool = False,
        address: str | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.recipient = recipient
        self.uncertain = uncertain
        self.address = address  # with `recipient`: which of the message's addresses is bad


@dataclass(frozen=True)
class ProviderReceipt:
    provider_id: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Envelope:
    message_id: int
    channel: str
    recipient: str  # email address, E.164 number, or the postal address block for a letter
    to: tuple[str, ...] = ()  # email: every address written to (empty: the recipient alone)
    cc: tuple[str, ...] = ()  # email: the addresses in copy
    subject: str = ""
    text: str = ""
    html: str | None = None
    pdf_path: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # agency case file, letter manifest fields
    metadata: dict[str, Any] = field(default_factory=dict)  # case id, customer external id, registered flag


class Transport(Protocol):
    channel: str

    async def send(self, envelope: Envelope) -> ProviderReceipt: ...

    async def close(self) -> None: ...
