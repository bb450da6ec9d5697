"""An in-memory transport for outbox tests that are about the state machine, not a provider."""

from __future__ import annotations

from dunning.channels.contract import Envelope, ProviderReceipt, TransportError


class Crash(BaseException):
    """Stands for the process dying mid-send: nothing after it runs, no handler records it."""


class ScriptedTransport:
    def __init__(self, channel: str = "email", *, crash_on: int | None = None):
        self.channel = channel
        self.sent: list[Envelope] = []
        self.errors: dict[str, TransportError] = {}  # recipient -> what to raise, every time
        self.crash_on = crash_on  # the n-th send (1-based) never returns
        self.calls = 0

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        self.calls += 1
        if self.calls == self.crash_on:
            raise Crash()
        error = self.errors.get(envelope.recipient)
        if error is not None:
            raise error
        self.sent.append(envelope)
        return ProviderReceipt(provider_id=f"fake-{envelope.message_id}-{self.calls}")

    async def close(self) -> None:
        return None
