"""Dispatch: claim what is due, re-check it, store what will go out, send, record the outcome.

Each step commits before the next, so that a crash anywhere leaves every message in a state that
says what is known about it:

1. claim (one short transaction per batch): due messages move to `sending`, held by this worker,
   and everything the re-checks and templates read is loaded at once (the composer's snapshot).
2. decide and render, group by group, outside any transaction.
3. hand-over (one transaction per group): the previous group's outcomes; this group's decisions
   (exactly what will go out is stored, what is not going after all is released); an attempt
   row for each message about to reach a transport. Only then are they sent.
4. a last transaction for the outcomes of the last group.

After a crash, `recover_stale` finds the messages left `sending`: with an unfinished attempt they
are in doubt (a person decides), without one they never reached a transport and go back to the
queue. Grouping bounds the in-doubt messages of a crash to one group, for one commit per group
instead of one per message.

While one group is on the wire the next is rendered, on the event loop between the replies of
the provider: the time spent waiting on it is not wasted. On PostgreSQL `drain` also claims the
next batch while the current one is sent.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session, col

from dunning import failures
from dunning.channels.contract import Envelope, ProviderReceipt, Transport, TransportError
from dunning.clock import Clock
from dunning.db import Database
from dunning.outbox import service
from dunning.outbox.models import CANCELLED, FAILED, QUEUED, Message
from dunning.tasks.service import open_task

log = logging.getLogger(__name__)
# Outcomes that mean another round could find more to do.
ACTIVITY = ("sent", "failed", "queued", "cancelled", "postponed", "requeued", "in_doubt")


@dataclass
class Prepared:
    """What the composer decided for one due message."""

    action: str  # send | cancel | postpone | fail
    why: str = ""
    until: datetime | None = None
    envelope: Envelope | None = None
    stored: dict = field(default_factory=dict)  # columns of Message to record before sending
    task: dict | None = None  # a task for the team to open with the decision (tasks.service.open_task's arguments)
    error: Exception | None = None  # action "fail": what raised


class Composer(Protocol):
    follow_up: frozenset[str]  # channels whose sent messages `after_sent` must see
    slow_channels: frozenset[str]  # channels whose rendering is too slow for the event loop (PDFs)

    def preload(self, session: Session, messages: list[Message]) -> Any:
        """Read, in a few queries, all that `compose` needs for these messages."""
        ...

    def compose(self, snapshot: Any, message: Message, now: datetime) -> Prepared:
        """From the preloaded snapshot alone, with no database: the dispatcher records the decision."""
        ...

    def after_sent(self, session: Session, message: Message) -> None: ...

    def after_unsent(self, session: Session, message: Message) -> None:
        """A message that will never go out (cancelled, failed for good)."""
        ...


def summary(counts: Counter) -> str:
    """One dispatch round (or drain) in a line: sent, failed, deferred, in doubt, and the rest."""
    deferred = counts["postponed"] + counts["queued"]
    line = (
        f"{counts['sent']} sent, {counts['failed']} failed, {deferred} deferred"
        + (
            f" ({counts['postponed']} to the next contact window or a later check, {counts['queued']} to retry)"
            if deferred
            else ""
        )
        + f", {counts['in_doubt']} in doubt"
    )
    if counts["cancelled"]:
        line += f", {counts['cancelled']} cancelled"
    if counts["requeued"]:
        line += f", {counts['requeued']} back in the queue after a worker stopped"
    return line


def settle_heap() -> None:
    """For a process about to dispatch for a long time, once it is set up: what exists now
    (modules, settings, the engine) lives as long as the process, so the cyclic collector need
    not walk it again on every full collection, which the short-lived objects of each batch (ORM
    rows, rendering contexts) trigger often. benchmarks/dispatch.py measures the difference."""
    gc.collect()
    gc.freeze()


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Claimed:
    message_id: int
    channel: str
    envelope: Envelope


@dataclass
class Batch:
    now: datetime
    messages: list[Message] = field(default_factory=list)
    snapshot: Any = None
    unready: dict[int, Exception] = field(default_factory=dict)  # message id -> why its data could not be read
    counts: Counter = field(default_factory=Counter)


@dataclass
class Outcome:
    item: Claimed
    receipt: ProviderReceipt | None = None
    error: TransportError | None = None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        transports: Mapping[str, Transport],
        composer: Composer,
        *,
        batch: int = 200,
        group: int = 20,
        max_attempts: int = 8,
        worker: str | None = None,
    ):
        self.db, self.clock, self.transports, self.composer = db, clock, transports, composer
        self.batch, self.group, self.max_attempts = batch, max(1, group), max_attempts
        self.worker = worker or worker_id()
        # Claiming ahead runs two transactions at once. SQLite has a single writer: each hand-over
        # would wait for the claim beside it, so there it claims after sending; so does a Database
        # bound to one connection (a test's rolled-back transaction).
        self.claim_ahead = db.bind is db.engine and db.engine.dialect.name != "sqlite"

    def _claim(self) -> Batch:
        batch = Batch(now=self.clock.now())
        with self.db.session() as session:
            recovered = service.recover_stale(session, self.clock)
            batch.counts["in_doubt"] += len(recovered.in_doubt)
            batch.counts["requeued"] += len(recovered.requeued)
        with self.db.session() as session:
            held = service.claim(session, self.clock, self.worker, service.due_ids(session, batch.now, self.batch))
            if held:
                batch.messages = list(
                    session.execute(
                        select(Message)
                        .where(col(Message.id).in_(held))
                        .order_by(col(Message.send_after), col(Message.id))
                    ).scalars()
                )
                batch.snapshot = self._preload(session, batch)
        return batch

    def _preload(self, session: Session, batch: Batch) -> Any:
        """The composer's snapshot of the batch; if reading it fails, the messages it fails for are
        found one by one and fail alone (`batch.unready`), and the others are read again."""
        try:
            with session.begin_nested():
                return self.composer.preload(session, batch.messages)
        except Exception:
            pass
        readable = []
        for message in batch.messages:
            try:
                with session.begin_nested():
                    self.composer.preload(session, [message])
                readable.append(message)
            except Exception as e:
                batch.unready[message.id] = e
        return self.composer.preload(session, readable)

    def _compose_one(self, batch: Batch, message: Message) -> Prepared:
        error = batch.unready.get(message.id)
        if error is None:
            try:
                return self.composer.compose(batch.snapshot, message, batch.now)
            except Exception as e:  # a template or data problem: this message can't go, the rest can
                error = e
        return Prepared("fail", failures.describe(error), error=error)

    async def _prepare(
        self, batch: Batch, messages: list[Message], pace: list[asyncio.Future] = ()
    ) -> list[tuple[Message, Prepared]]:
        """Decide and render on the event loop while the group before is on the wire: the i-th
        message is rendered once the (i-1)-th send is done, so that each rendering fills one wait
        for the provider's reply rather than all of them piling up before the first. A letter's PDF
        takes far longer, and is made in a thread."""
        decided = []
        for i, message in enumerate(messages):
            if 0 < i <= len(pace):
                await asyncio.wait([pace[i - 1]])
            if message.channel in self.composer.slow_channels:
                prepared = await asyncio.to_thread(self._compose_one, batch, message)
            else:
                prepared = self._compose_one(batch, message)
            decided.append((message, prepared))
        return decided

    def _hand_over(
        self, decided: list[tuple[Message, Prepared]], done: list[Outcome], counts: Counter
    ) -> list[Claimed]:
        """One transaction: the previous group's outcomes; this group's decisions (what will go out is
        stored, what will not is released); an attempt for each message about to go. Returns the
        messages safe to send. If that transaction fails, each outcome and each message is taken
        again in a transaction of its own, so that one bad message fails alone."""
        group: Counter = Counter()
        try:
            with self.db.session() as session:
                self._record(session, done, group)
                ready = self._store(session, decided, group)
                held = service.hand_over(session, self.clock, [c.message_id for c in ready], self.worker)
        except Exception as error:
            if not done and not decided:
                raise
            if len(done) + len(decided) == 1:
                return self._one_failed(error, done, decided, counts)
            ready = []  # one by one, so that only the bad one fails
            for outcome in done:
                ready += self._hand_over([], [outcome], counts)
            for pair in decided:
                ready += self._hand_over([pair], [], counts)
            return ready
        counts.update(group)
        return [c for c in ready if c.message_id in held]

    def _one_failed(
        self, error: Exception, done: list[Outcome], decided: list[tuple[Message, Prepared]], counts: Counter
    ) -> list[Claimed]:
        """A single outcome or message whose transaction failed. An outcome that cannot be recorded
        leaves its message `sending` with an open attempt: the recovery puts it in doubt, and a
        person decides (it may have gone). A message that cannot be stored fails, unsent."""
        message_id = done[0].item.message_id if done else decided[0][0].id
        with self.db.session() as session:
            message = session.get(Message, message_id)
            if decided:
                service.fail_unsendable(session, self.clock, self.worker, message, error)
                counts["failed"] += 1
            else:
                failures.record(
                    session,
                    self.clock,
                    "dispatch",
                    error,
                    customer_id=message.customer_id,
                    case_id=message.case_id,
                    message_id=message_id,
                )
        return []

    def _store(self, session: Session, decided: list[tuple[Message, Prepared]], counts: Counter) -> list[Claimed]:
        ready = []
        for message, prepared in decided:
            if prepared.action == "send":
                ready.append((message, prepared))
            elif prepared.action == "cancel":
                counts["cancelled"] += service.release(
                    session, self.clock, self.worker, message.id, CANCELLED, prepared.why
                )
                self.composer.after_unsent(session, message)
            elif prepared.action == "postpone":
                counts["postponed"] += service.release(
                    session, self.clock, self.worker, message.id, QUEUED, prepared.why, send_after=prepared.until
                )
                if prepared.task is not None:
                    open_task(session, self.clock, **prepared.task)
            else:
                service.fail_unsendable(session, self.clock, self.worker, message, prepared.error)
                counts["failed"] += 1
        held = service.store(session, self.clock, self.worker, [(m.id, p.stored) for m, p in ready])
        # One not held was taken back by a recovery while this worker was slow: someone else owns it.
        counts["lost_claim"] += len(ready) - len(held)
        return [Claimed(m.id, m.channel, p.envelope) for m, p in ready if m.id in held]

    def _record(self, session: Session, done: list[Outcome], counts: Counter) -> None:
        if not done:
            return
        sent = [(o.item.message_id, o.receipt) for o in done if o.error is None]
        service.mark_sent(session, self.clock, sent)
        counts["sent"] += len(sent)
        # Whole rows only where something follows: an error, or a channel whose send moves the case.
        follow = [o for o in done if o.error is not None or o.item.channel in self.composer.follow_up]
        if not follow:
            return
        messages = {
            m.id: m
            for m in session.execute(
                select(Message).where(col(Message.id).in_([o.item.message_id for o in follow]))
            ).scalars()
        }
        for o in follow:
            message = messages[o.item.message_id]
            if o.error is None:
                self.composer.after_sent(session, message)
            else:
                outcome = service.mark_error(session, self.clock, message, o.error, self.max_attempts)
                counts[outcome] += 1
                if outcome == FAILED:
                    self.composer.after_unsent(session, message)

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

    async def _process(self, batch: Batch) -> Counter:
        """Group by group: hand over, then send while the next group is prepared (on the event
        loop, between the provider's replies)."""
        groups = [batch.messages[i : i + self.group] for i in range(0, len(batch.messages), self.group)]
        counts, done = batch.counts, []
        decided = await self._prepare(batch, groups[0]) if groups else []
        for k in range(len(groups)):
            handed = await asyncio.to_thread(self._hand_over, decided, done, counts)
            # Sends of one transport share its connection in turn; gathering them lets each build
            # its bytes while the one before is on the wire.
            sends = [asyncio.ensure_future(self._send(item)) for item in handed]
            decided = await self._prepare(batch, groups[k + 1], sends) if k + 1 < len(groups) else []
            done = list(await asyncio.gather(*sends))
        if done:
            await asyncio.to_thread(self._hand_over, [], done, counts)
        return counts

    async def run_once(self) -> Counter:
        return await self._process(await asyncio.to_thread(self._claim))

    async def drain(self, rounds: int = 1000) -> Counter:
        """Batches until nothing due is left (each worker round, `dispatch --once`)."""
        total: Counter = Counter()
        next_batch = asyncio.ensure_future(asyncio.to_thread(self._claim))
        try:
            for _ in range(rounds):
                batch = await next_batch
                # The next batch is claimed while this one is sent, unless sending this one can change
                # what the next should be (a case file that escalates its case).
                ahead = (
                    self.claim_ahead
                    and bool(batch.messages)
                    and not any(m.channel in self.composer.follow_up for m in batch.messages)
                )
                next_batch = asyncio.ensure_future(asyncio.to_thread(self._claim)) if ahead else None
                counts = await self._process(batch)
                total.update(counts)
                if next_batch is None:
                    if not any(counts[k] for k in ACTIVITY):
                        break
                    next_batch = asyncio.ensure_future(asyncio.to_thread(self._claim))
        finally:
            if next_batch is not None:
                # Claimed ahead but not to be sent now: back to the queue at once, rather than
                # waiting out the lease for a recovery to find them.
                batch = await next_batch
                total.update(batch.counts)
                await asyncio.to_thread(self._unclaim, batch)
        return total

    def _unclaim(self, batch: Batch) -> None:
        with self.db.session() as session:
            for message in batch.messages:
                service.release(session, self.clock, self.worker, message.id, QUEUED, "claimed, then left for later")

    async def close(self) -> None:
        for transport in self.transports.values():
            await transport.close()
