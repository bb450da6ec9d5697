"""The state of the work, read from the database when Prometheus scrapes: the same on every
replica. A few aggregate queries in one short read; the queue's depth and age come from the
index the dispatcher claims with (`ix_message_due`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from dunning.clock import Clock
from dunning.db import Database
from dunning.outbox.models import QUEUED, Message
from dunning.records.replies import InboundMessage
from dunning.scoring import registry
from dunning.scoring.models import BASELINE
from dunning.webhooks.models import PENDING, WebhookDelivery

log = logging.getLogger(__name__)
M = TypeVar("M", GaugeMetricFamily, CounterMetricFamily)


class StateCollector(Collector):
    def __init__(self, database: Database, clock: Clock):
        self.database, self.clock = database, clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dunning_state_up", "1 when the state below could be read from the database")
        try:
            with self.database.session() as session:
                metrics = list(read(session, self.clock.now()))
        except SQLAlchemyError as e:  # the process metrics are still worth a scrape
            log.warning("metrics: the database could not be read (%s)", type(e).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics


def read(session: Session, now: datetime) -> Iterator[Metric]:
    yield _counted(
        session,
        GaugeMetricFamily(
            "dunning_messages", "Messages in the outbox by status and channel", labels=["status", "channel"]
        ),
        col(Message.status),
        col(Message.channel),
    )
    due, oldest = session.execute(
        select(func.count(), func.min(Message.send_after)).where(
            col(Message.status) == QUEUED, col(Message.send_after) <= now
        )
    ).one()
    yield GaugeMetricFamily("dunning_outbox_due_messages", "Queued messages whose time to leave has come", value=due)
    yield _age("dunning_outbox_oldest_due_age_seconds", "the oldest due queued message", now, oldest)
    yield _counted(
        session,
        GaugeMetricFamily("dunning_webhook_deliveries", "Webhook deliveries by status", labels=["status"]),
        col(WebhookDelivery.status),
    )
    oldest = session.execute(
        select(func.min(WebhookDelivery.next_attempt_at)).where(
            col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= now
        )
    ).scalar_one()
    yield _age("dunning_webhook_oldest_due_age_seconds", "the oldest due webhook delivery", now, oldest)
    yield _counted(
        session,
        CounterMetricFamily("dunning_inbound_messages", "Replies received, by channel", labels=["channel"]),
        col(InboundMessage.channel),
    )
    champion = registry.champion(session)
    model = GaugeMetricFamily(
        "dunning_model_info", "The risk model that scores (baseline: none trained yet)", labels=["version"]
    )
    model.add_metric([champion.version if champion else BASELINE], 1)
    yield model


def _counted(session: Session, family: M, *columns: Any) -> M:
    """One sample per group of `columns`, labelled with their values: the rows' count."""
    for *labels, n in session.execute(select(*columns, func.count()).group_by(*columns)):
        family.add_metric(labels, n)
    return family


def _age(name: str, what: str, now: datetime, since: datetime | None) -> GaugeMetricFamily:
    seconds = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
    return GaugeMetricFamily(name, f"How long {what} has been waiting (0 when none)", value=seconds)
