"""Dispatch: claim what is due, re-check it, store what will go out, send, record the outcome.

Three kinds of transaction, each committed before the next step, so that a crash anywhere leaves
every message in a state that says what is known about it:

1. claim (one per batch): the re-checks and rendering; due messages move to `sending` with
   exactly what will go out. Nothing has reached a transport yet.
2. hand-over (one per group of a few messages): the previous group's outcomes, and an attempt row
   for each message of the next group. Only then are they given to their transports.
3. a last one for the outcomes of the last group.

After a crash, `recover_stale` finds the messages left `sending`: with an unfinished attempt
they are in doubt (a person decides), without one they go back to the queue. Grouping the
hand-over bounds the in-doubt messages of a crash to one group while paying one commit per
group instead of one per message.
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

from sqlalchemy import select
from sqlmodel import Session

from dunning.channels.base import Envelope, ProviderReceipt, Transport, TransportError
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
    channel: str
    envelope: Envelope
    attempt_id: int | None = None


@dataclass
class Outcome:
    item: Claimed
    receipt: ProviderReceipt | None = None
    error: TransportError | None = None


class Dispatcher:
    def __init__(self, db: Database, clock: Clock, transports: Mapping[str, Transport], composer: Composer, *,
                 batch: int = 200, group: int = 10, max_attempts: int = 8, worker: str | None = None):
        self.db, self.clock, self.transports, self.composer = db, clock, transports, composer
        self.batch, self.group, self.max_attempts = batch, max(1, group), max_attempts
        self.worker = worker or worker_id()

    def _claim(self) -> tuple[list[Claimed], Counter]:
        counts: Counter = Counter()
        claimed = []
        with self.db.session() as session:
            recovered = service.recover_stale(session, self.clock)
            counts["in_doubt"] += len(recovered.in_doubt)
            counts["requeued"] += len(recovered.requeued)
        with self.db.session() as session:
            now = self.clock.now()
            ids = service.due_ids(session, now, self.batch)
            # One query for the batch; the composer's own reads go through the same identity map.
            messages = {m.id: m for m in session.execute(select(Message).where(Message.id.in_(ids))).scalars()}
            for message_id in ids:
                message = messages[message_id]
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
                elif service.claim(session, self.clock, message_id, self.worker, **prepared.stored):
                    claimed.append(Claimed(message_id, message.channel, prepared.envelope))
        return claimed, counts

    def _hand_over(self, group: list[Claimed], done: list[Outcome], counts: Counter) -> list[Claimed]:
        """Record `done`, then write the attempts of `group`; returns the messages safe to send."""
        with self.db.session() as session:
            self._record(session, done, counts)
            attempts = service.hand_over(session, self.clock, [item.message_id for item in group], self.worker)
        handed = []
        for item in group:
            if item.message_id in attempts:
                item.attempt_id = attempts[item.message_id]
                handed.append(item)
            else:  # taken back by a recovery while this worker was slow: someone else owns it now
                counts["lost_claim"] += 1
        return handed

    def _record(self, session: Session, done: list[Outcome], counts: Counter) -> None:
        if not done:
            return
        messages = {m.id: m for m in session.execute(
            select(Message).where(Message.id.in_([o.item.message_id for o in done]))).scalars()}
        sent = [(o.item.message_id, o.item.attempt_id, o.receipt) for o in done if o.error is None]
        service.mark_sent(session, self.clock, sent)
        counts["sent"] += len(sent)
        for o in done:
            message = messages[o.item.message_id]
            if o.error is None:
                self.composer.after_sent(session, message)
            else:
                counts[service.mark_error(session, self.clock, message, o.item.attempt_id, o.error,
                                          self.max_attempts)] += 1

    async def _send(self, item: Claimed) -> Outcome:
        transport = self.transports[item.channel]
        try:
            return Outcome(item, receipt=await transport.send(item.envelope))
        except TransportError as e:
            return Outcome(item, error=e)
        except Exception as e:
            # A bug or an unexpected library error, perhaps after the provider took the message:
            # a person looks at it rather than a retry sending it twice.
            log.exception("transport %s raised", item.channel)
            return Outcome(item, error=TransportError(f"{type(e).__name__}: {e}", permanent=False, uncertain=True))

    async def run_once(self) -> Counter:
        claimed, counts = await asyncio.to_thread(self._claim)
        done: list[Outcome] = []
        for start in range(0, len(claimed), self.group):
            handed = await asyncio.to_thread(self._hand_over, claimed[start:start + self.group], done, counts)
            done = [await self._send(item) for item in handed]
        if done:
            await asyncio.to_thread(self._hand_over, [], done, counts)
        return counts

    async def drain(self, rounds: int = 1000) -> Counter:
        """Run until nothing due is left (dispatch --once, tests)."""
        total: Counter = Counter()
        for _ in range(rounds):
            counts = await self.run_once()
            total.update(counts)
            if not any(counts[k] for k in ("sent", "failed", "queued", "cancelled", "postponed", "requeued",
                                            "in_doubt")):
                break
        return total

    async def close(self) -> None:
        for transport in self.transports.values():
            await transport.close()
