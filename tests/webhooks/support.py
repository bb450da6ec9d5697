"""Webhook tests: endpoints made through the API, rounds of the real Deliverer, a DNS of our own."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Any

from sqlalchemy import select

from dunning.webhooks.deliver import Deliverer
from dunning.webhooks.egress import Resolver, system_resolver
from dunning.webhooks.models import WebhookDelivery, WebhookEndpoint


class FakeDNS:
    """A name server for the tests: names it knows resolve to the addresses given (which a test may
    change between calls, as a DNS rebinding attack does); others go to the system's resolver."""

    def __init__(self, records: dict[str, list[str]] | None = None):
        self.records = dict(records or {})
        self.asked: Counter[str] = Counter()

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked[host] += 1
        if host in self.records:
            if not self.records[host]:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return list(self.records[host])
        return system_resolver(host, port)


def add_endpoint(client, url: str, events: list[str] | None = None, **extra: Any) -> dict:
    r = client.post("/v1/webhook-endpoints", json={"url": url, "events": events or ["*"], **extra})
    assert r.status_code == 201, r.text
    return r.json()


def deliver(db, clock, settings, *, resolve: Resolver = system_resolver, rounds: int = 1000) -> Counter:
    """Rounds of delivery until nothing is due, as `main.py deliver-events --once` runs them."""
    deliverer = Deliverer(db, clock, settings, resolve=resolve)

    async def go() -> Counter:
        try:
            return await deliverer.drain(rounds)
        finally:
            await deliverer.close()

    return asyncio.run(go())


def deliveries(db, **where: Any) -> list[WebhookDelivery]:
    with db.session() as session:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(WebhookDelivery, name) == value)
        return list(session.execute(stmt).scalars())


def endpoint_row(db, endpoint_id: int) -> WebhookEndpoint:
    with db.session() as session:
        return session.get(WebhookEndpoint, endpoint_id)
