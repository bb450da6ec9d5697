"""Dispatch: claim what is due, re-check it, store what will go out, send, record the outcome.

The claim and the re-checks happen in one transaction that commits before any transport is
called; each outcome is committed on its own right after its send. A crash between the two
leaves the message `sending`, which `recover_in_doubt` turns into `in_doubt` for a person.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from dunning.channels.base import Envelope, Transport, TransportError
from dunning.clock import Clock
from dunning.db import Database
from dunning.outbox import service
from dunning.outbox.models import Message

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """What the composer decided for one due message."""

    action: str  # send | cancel | postpone
    why: str = ""
    until: datetime | None = None
    envelope: Envelope | None = None
    stored: dict = field(default_factory=dict)  # columns of Message to record before sending


class Composer(Protocol):
    def prepare(self, session: Session, message: Message, now: datetime) -> Prepared: ...

    def after_sent(self, session: Session, message: Message) -> None: ...


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Claimed:
    message_id: int
    attempt_id: int
    channel: str
    envelope: Envelope


class Dispatcher:
    def __init__(self, db: Database, clock: Clock, transports: Mapping[str, Transport], composer: Composer, *,
                 batch: int = 200, max_attempts: int = 8, worker: str | None = None):
        self.db, self.clock, self.transports, self.composer = db, clock, transports, composer
        self.batch, self.max_attempts = batch, max_attempts
        self.worker = worker or worker_id()

    def _claim(self) -> tuple[list[Claimed], Counter]:
        counts: Counter = Counter()
        claimed = []
        with self.db.session() as session:
            counts["in_doubt"] += len(service.recover_in_doubt(session, self.clock))
        with self.db.session() as session:
            now = self.clock.now()
            for message_id in service.due_ids(session, now, self.batch):
                message = session.get(Message, message_id)
                try:
                    with session.begin_nested():
                        prepared = self.composer.prepare(session, message, now)
                except Exception as e:  # a template or data problem: this message can't go, the rest can
                    log.exception("message %s could not be prepared", message_id)
                    service.fail_unsendable(session, self.clock, message, f"{type(e).__name__}: {e}")
                    counts["failed"] += 1
                    continue
                if prepared.action == "cancel":
                    service.cancel(session, self.clock, message_id, prepared.why)
                    counts["cancelled"] += 1
                elif prepared.action == "postpone":
                    service.postpone(session, self.clock, message_id, prepared.until, prepared.why)
                    counts["postponed"] += 1
                else:
                    for name, value in prepared.stored.items():
                        setattr(message, name, value)
                    attempt = service.start_sending(session, self.clock, message, self.worker)
                    if attempt is not None:
                        claimed.append(Claimed(message_id, attempt.id, message.channel, prepared.envelope))
        return claimed, counts

    def _record(self, item: Claimed, receipt=None, error: TransportError | None = None) -> str:
        with self.db.session() as session:
            message = session.get(Message, item.message_id)
            if error is None:
                service.mark_sent(session, self.clock, item.message_id, item.attempt_id, receipt)
                self.composer.after_sent(session, message)
                return "sent"
            return service.mark_error(session, self.clock, message, item.attempt_id, error, self.max_attempts)

    async def run_once(self) -> Counter:
        claimed, counts = await asyncio.to_thread(self._claim)
        for item in claimed:
            transport = self.transports[item.channel]
            try:
                receipt = await transport.send(item.envelope)
            except TransportError as e:
                outcome = await asyncio.to_thread(self._record, item, None, e)
            except Exception as e:  # a bug or an unexpected library error: retry, and let a person see it
                log.exception("transport %s raised", item.channel)
                outcome = await asyncio.to_thread(self._record, item, None,
                                                  TransportError(f"{type(e).__name__}: {e}", permanent=False))
            else:
                outcome = await asyncio.to_thread(self._record, item, receipt)
            counts[outcome] += 1
        return counts

    async def drain(self, rounds: int = 1000) -> Counter:
        """Run until nothing due is left (dispatch --once, tests)."""
        total: Counter = Counter()
        for _ in range(rounds):
            counts = await self.run_once()
            total.update(counts)
            if not any(counts[k] for k in ("sent", "failed", "queued", "cancelled", "postponed")):
                break
        return total

    async def close(self) -> None:
        for transport in self.transports.values():
            await transport.close()
