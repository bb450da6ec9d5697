"""Delivering events to webhook endpoints, one round at a time (an APScheduler job beside dispatch).

A round: fan the new events out to the endpoints; take back what a dead worker was sending;
claim what is due; check each endpoint's URL again (after resolving its name) and send to the
address checked, signed as Standard Webhooks asks, a group at a time, the group's answers
recorded in one transaction before the next group goes. A crash anywhere leaves deliveries
pending or sending, and both go out again: at least once, with the same webhook-id, which the
receiver uses to drop what it already has. What a crash sends twice is at most one group.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from math import floor

import httpx
from standardwebhooks.webhooks import Webhook

from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import Database
from dunning.outbox.dispatch import worker_id
from dunning.webhooks import service
from dunning.webhooks.egress import PinnedTransport, Refused, Resolver, Target, system_resolver, vet
from dunning.webhooks.service import Claimed, Outcome

log = logging.getLogger(__name__)
USER_AGENT = "dunning-webhooks/1"
ANSWER_KEPT = 300  # characters of a failed answer's body kept in last_error
GROUP = 16  # requests in flight at once; their answers are recorded together


def signed_headers(secret: str, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers: webhook-signature is v1,<base64 HMAC-SHA256 of "id.timestamp.body">
    under the secret (the standardwebhooks library computes it)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode("utf-8")),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Deliverer:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        *,
        resolve: Resolver = system_resolver,
        worker: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.db, self.clock, self.settings, self.resolve = db, clock, settings, resolve
        self.worker = worker or worker_id()
        timeout = settings.webhook_timeout_seconds
        # No redirects (they would lead somewhere unchecked), no proxies from the environment.
        self.client = httpx.AsyncClient(
            transport=transport or PinnedTransport(), timeout=timeout, follow_redirects=False, trust_env=False
        )

    def _claim(self) -> tuple[Counter, list[Claimed]]:
        counts: Counter = Counter()
        with self.db.session() as session:
            counts["fanned_out"] = service.fan_out(session, self.clock)
        with self.db.session() as session:
            counts["recovered"] = service.recover_stale(session, self.clock)
        with self.db.session() as session:
            return counts, service.claim(session, self.clock, self.worker, self.settings.webhook_batch)

    def _record(self, outcomes: list[Outcome]) -> None:
        with self.db.session() as session:
            service.record(session, self.clock, self.settings, self.worker, outcomes)

    async def _vet(self, url: str) -> Target | Refused:
        """The endpoint's URL checked now, its name resolved now (bounded in time)."""
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(vet, url, self.settings, self.resolve), self.settings.webhook_timeout_seconds
            )
        except Refused as refused:
            return refused
        except TimeoutError:
            return Refused("resolving its name took too long")

    async def _send(self, item: Claimed, target: Target | Refused) -> Outcome:
        if isinstance(target, Refused):
            return Outcome(item, error=f"refused: {target}")
        headers = signed_headers(item.secret, service.webhook_id(item.event_id), self.clock.now(), item.body)
        try:
            # The whole exchange is bounded, not only each read: a receiver dribbling its answer
            # byte by byte cannot hold the round.
            return await asyncio.wait_for(self._post(item, target, headers), self.settings.webhook_timeout_seconds * 2)
        except TimeoutError:
            return Outcome(item, error="timed out")
        except httpx.HTTPError as e:
            return Outcome(item, error=f"{type(e).__name__}: {e}"[:1000])

    async def _post(self, item: Claimed, target: Target, headers: dict[str, str]) -> Outcome:
        async with self.client.stream(
            "POST", target.url, content=item.body, headers=headers, extensions=target.request_extensions()
        ) as response:
            answer = b""
            # The start of the answer only, whatever its size (a short one is read whole, and the
            # connection serves the next delivery).
            async for chunk in response.aiter_raw():
                answer += chunk
                if len(answer) >= ANSWER_KEPT:
                    break
        if response.is_success:
            return Outcome(item, status=response.status_code)
        text = answer[:ANSWER_KEPT].decode("utf-8", "replace")
        return Outcome(item, status=response.status_code, error=f"answered {response.status_code}: {text}")

    async def run_once(self) -> Counter:
        counts, claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return counts
        urls = {item.url for item in claimed}
        targets = dict(zip(urls, await asyncio.gather(*(self._vet(url) for url in urls))))
        for start in range(0, len(claimed), GROUP):
            group = claimed[start : start + GROUP]
            outcomes = await asyncio.gather(*(self._send(item, targets[item.url]) for item in group))
            await asyncio.to_thread(self._record, outcomes)
            counts["delivered"] += sum(o.delivered for o in outcomes)
            counts["failed"] += sum(not o.delivered for o in outcomes)
        return counts

    async def drain(self, rounds: int = 1000) -> Counter:
        """Rounds until nothing is due (each worker round, `deliver-events --once`)."""
        total: Counter = Counter()
        for _ in range(rounds):
            counts = await self.run_once()
            total.update(counts)
            if not counts["delivered"] + counts["failed"]:
                break
        return total

    async def close(self) -> None:
        await self.client.aclose()
