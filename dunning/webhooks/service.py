"""Webhook endpoints, the fan-out of events to them, and the state of each delivery.

A delivery is one event for one endpoint (unique together), created by the fan-out from the
endpoint's cursor: the events committed after it are looked at once, in order (their ids grow in
commit order, so none is passed over). Then:

    pending -> sending (claimed by one worker, dunning/claims.py) -> delivered
                                                                  -> pending again, after a backoff
                                                                  -> failed, out of attempts

A delivery still `sending` when its lease is over belongs to a worker that died: it is pending
again and goes out again with the same webhook-id. Deliveries are at least once; the receiver
drops what it has seen by webhook-id. An endpoint that has failed for DUNNING_WEBHOOK_DISABLE_
AFTER_DAYS without a success in between is disabled, with one task for the team.
"""

from __future__ import annotations

import base64
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from dunning import audit
from dunning.claims import backoff, skip_locked
from dunning.clock import Clock
from dunning.config import Settings
from dunning.db import get_row
from dunning.driver import insert_rows
from dunning.errors import Conflict, InvalidInput, row_error
from dunning.events import feed
from dunning.events.models import EventRecord
from dunning.tasks.service import open_task
from dunning.webhooks.egress import Refused, Resolver, vet
from dunning.webhooks.models import DELIVERED, FAILED, PENDING, SENDING, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"
DELIVERY_LEASE = timedelta(minutes=5)  # far above the request timeout: older "sending" rows are crashes
FAN_OUT_BATCH = 5000  # events looked at per endpoint and round


def new_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def webhook_id(event_id: int) -> str:
    """The webhook-id header: the event's, the same on every attempt and redelivery."""
    return f"evt_{event_id}"


# ---- endpoints --------------------------------------------------------------------------------


def create_endpoint(
    session: Session,
    clock: Clock,
    settings: Settings,
    resolve: Resolver,
    *,
    url: str,
    events: list[str],
    description: str | None,
    actor: str,
) -> WebhookEndpoint:
    """The new endpoint receives the events committed from now on."""
    try:
        vet(url, settings, resolve)
    except Refused as e:
        raise InvalidInput(f"url: {e}", detail=[row_error(None, "url", str(e))]) from None
    endpoint = WebhookEndpoint(
        url=url,
        events=events,
        description=description,
        secret=new_secret(),
        created_at=clock.now(),
        created_by=actor,
        cursor=feed.last_id(session),
    )
    session.add(endpoint)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action="webhook_endpoint.created",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        url=url,
        events=events,
    )
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.execute(select(WebhookEndpoint).order_by(col(WebhookEndpoint.id))).scalars())


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    return get_row(session, WebhookEndpoint, endpoint_id, "webhook endpoint")


def delete_endpoint(session: Session, clock: Clock, endpoint_id: int, actor: str) -> None:
    """Gone with its deliveries: nothing more is sent to it (one in flight may still arrive)."""
    endpoint = get_endpoint(session, endpoint_id)
    session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id))
    session.delete(endpoint)
    audit.record(
        session,
        clock,
        actor=actor,
        action="webhook_endpoint.deleted",
        subject_type="webhook_endpoint",
        subject_id=endpoint_id,
        url=endpoint.url,
    )


def enable_endpoint(session: Session, clock: Clock, endpoint_id: int, actor: str) -> WebhookEndpoint:
    """A disabled endpoint back at work: what was held back since is delivered, and so is what ran
    out of attempts while it was failing (the outage was the endpoint's, not the events')."""
    endpoint = get_endpoint(session, endpoint_id)
    if endpoint.disabled_at is None:
        raise Conflict(f"webhook endpoint {endpoint_id} is not disabled")
    if endpoint.failing_since is not None:
        session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.endpoint_id) == endpoint_id,
                col(WebhookDelivery.status) == FAILED,
                col(WebhookDelivery.last_attempt_at) >= endpoint.failing_since,
            )
            .values(status=PENDING, attempts=0, next_attempt_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
    session.add(endpoint)
    audit.record(
        session,
        clock,
        actor=actor,
        action="webhook_endpoint.enabled",
        subject_type="webhook_endpoint",
        subject_id=endpoint_id,
    )
    return endpoint


# ---- fan-out ----------------------------------------------------------------------------------


def fan_out(session: Session, clock: Clock, limit: int = FAN_OUT_BATCH) -> int:
    """Deliveries for the events committed since each active endpoint's cursor; returns how many.
    The newest id is read first: every event up to it is committed and visible, so the cursor can
    move to it even where no event of the endpoint's types was found."""
    top = feed.last_id(session)
    endpoints = (
        session.execute(
            skip_locked(
                session,
                select(WebhookEndpoint)
                .where(col(WebhookEndpoint.disabled_at).is_(None), col(WebhookEndpoint.cursor) < top)
                .order_by(col(WebhookEndpoint.id)),
                WebhookEndpoint,
            )
        )
        .scalars()
        .all()
    )
    now, created = clock.now(), 0
    for endpoint in endpoints:
        stmt = select(col(EventRecord.id)).where(col(EventRecord.id) > endpoint.cursor, col(EventRecord.id) <= top)
        if "*" not in endpoint.events:
            stmt = stmt.where(col(EventRecord.type).in_(endpoint.events))
        ids = list(session.execute(stmt.order_by(col(EventRecord.id)).limit(limit)).scalars())
        if ids:
            created += _add_deliveries(session, now, [(event_id, endpoint.id) for event_id in ids])
        endpoint.cursor = ids[-1] if len(ids) == limit else top
        session.add(endpoint)
    session.flush()
    return created


def _add_deliveries(session: Session, now: datetime, pairs: list[tuple[int, int]]) -> int:
    rows = [
        {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event_id, endpoint_id in pairs
    ]
    return insert_rows(session, WebhookDelivery.__table__, rows, skip_existing=["event_id", "endpoint_id"])


def redeliver(session: Session, clock: Clock, event_id: int, endpoint_id: int | None = None) -> list[WebhookDelivery]:
    """Send the event again, now, with a full set of attempts, to every active endpoint taking its
    type (or to the one named). A delivery on its way at this moment is left to finish."""
    event = feed.get(session, event_id)
    if endpoint_id is not None:
        endpoint = get_endpoint(session, endpoint_id)
        if endpoint.disabled_at is not None:
            raise Conflict(f"webhook endpoint {endpoint_id} is disabled: enable it first")
        if not endpoint.wants(event.type):
            raise InvalidInput(f"webhook endpoint {endpoint_id} does not take {event.type} events")
        endpoints = [endpoint]
    else:
        endpoints = [e for e in list_endpoints(session) if e.disabled_at is None and e.wants(event.type)]
    if not endpoints:
        return []
    now = clock.now()
    _add_deliveries(session, now, [(event_id, e.id) for e in endpoints])
    session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.event_id) == event_id,
            col(WebhookDelivery.endpoint_id).in_([e.id for e in endpoints]),
            col(WebhookDelivery.status) != SENDING,
        )
        .values(status=PENDING, attempts=0, next_attempt_at=now, delivered_at=None, claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return deliveries_of(session, event_id, [e.id for e in endpoints])


def deliveries_of(session: Session, event_id: int, endpoint_ids: list[int] | None = None) -> list[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.event_id) == event_id)
    if endpoint_ids is not None:
        stmt = stmt.where(col(WebhookDelivery.endpoint_id).in_(endpoint_ids))
    return list(session.execute(stmt.order_by(col(WebhookDelivery.endpoint_id))).scalars())


# ---- claiming and recording -------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: int
    body: bytes
    attempts: int  # counting this one


@dataclass(frozen=True)
class Outcome:
    item: Claimed
    status: int | None = None  # the endpoint's answer; None when none came
    error: str | None = None  # why it failed; None when delivered

    @property
    def delivered(self) -> bool:
        return self.error is None


def recover_stale(session: Session, clock: Clock, lease: timedelta = DELIVERY_LEASE) -> int:
    """Deliveries a dead worker was sending: pending again, due at once."""
    now = clock.now()
    return session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.status) == SENDING, col(WebhookDelivery.claimed_at) < now - lease)
        .values(
            status=PENDING,
            next_attempt_at=now,
            claimed_by=None,
            claimed_at=None,
            last_error="the worker sending it stopped before it knew the answer",
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def claim(session: Session, clock: Clock, worker: str, limit: int) -> list[Claimed]:
    """Due deliveries of active endpoints, now `sending` for this worker, with what sending needs."""
    now = clock.now()
    pick = (
        select(col(WebhookDelivery.id))
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(
            col(WebhookDelivery.status) == PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            col(WebhookEndpoint.disabled_at).is_(None),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
    )
    ids = list(session.execute(skip_locked(session, pick, WebhookDelivery)).scalars())
    if not ids:
        return []
    session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(ids), col(WebhookDelivery.status) == PENDING)
        .values(status=SENDING, claimed_by=worker, claimed_at=now, attempts=col(WebhookDelivery.attempts) + 1)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            col(WebhookDelivery.id),
            col(WebhookDelivery.attempts),
            col(WebhookEndpoint.id),
            col(WebhookEndpoint.url),
            col(WebhookEndpoint.secret),
            EventRecord,
        )
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .join(EventRecord, col(EventRecord.id) == col(WebhookDelivery.event_id))
        .where(
            col(WebhookDelivery.id).in_(ids),
            col(WebhookDelivery.status) == SENDING,
            col(WebhookDelivery.claimed_by) == worker,
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
    ).all()
    return [
        Claimed(delivery_id, endpoint_id, url, secret, event.id, feed.body(event), attempts)
        for delivery_id, attempts, endpoint_id, url, secret, event in rows
    ]


def record(session: Session, clock: Clock, settings: Settings, worker: str, outcomes: list[Outcome]) -> None:
    """The answers of one round. Each delivery is moved only if this worker still holds it."""
    now = clock.now()
    by_endpoint: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_endpoint[outcome.item.endpoint_id].append(outcome)
        item = outcome.item
        values = dict(last_attempt_at=now, last_status=outcome.status, claimed_by=None, claimed_at=None)
        if outcome.delivered:
            values.update(status=DELIVERED, delivered_at=now, last_error=None)
        elif item.attempts >= settings.webhook_max_attempts:
            values.update(status=FAILED, last_error=outcome.error[:1000])
        else:
            values.update(status=PENDING, next_attempt_at=now + backoff(item.attempts), last_error=outcome.error[:1000])
        session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == item.delivery_id,
                col(WebhookDelivery.status) == SENDING,
                col(WebhookDelivery.claimed_by) == worker,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    for endpoint_id, answers in by_endpoint.items():
        if any(o.delivered for o in answers):  # it works: whatever failed beside it is a retry, not an outage
            _set(session, endpoint_id, failing_since=None, last_success_at=now)
        else:
            _set(session, endpoint_id, col(WebhookEndpoint.failing_since).is_(None), failing_since=now)
            _disable_if_failing_too_long(session, clock, settings, endpoint_id, answers[-1].error)


def _set(session: Session, endpoint_id: int, *where, **values) -> None:
    session.execute(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id, *where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _disable_if_failing_too_long(
    session: Session, clock: Clock, settings: Settings, endpoint_id: int, error: str
) -> None:
    """Failing with no success for the set number of days: disabled, and one task says so (the
    conditional update lets one worker do it, the task's key makes it one task whoever does)."""
    now = clock.now()
    since = now - timedelta(days=settings.webhook_disable_after_days)
    reason = f"failing since then without a success; last error: {error}"[:1000]
    disabled = session.execute(
        update(WebhookEndpoint)
        .where(
            col(WebhookEndpoint.id) == endpoint_id,
            col(WebhookEndpoint.disabled_at).is_(None),
            col(WebhookEndpoint.failing_since) <= since,
        )
        .values(disabled_at=now, disabled_reason=reason)
        .returning(col(WebhookEndpoint.failing_since), col(WebhookEndpoint.url))
        .execution_options(synchronize_session=False)
    ).first()
    if disabled is None:
        return
    failing_since, url = disabled
    open_task(
        session,
        clock,
        kind="webhook",
        key=f"webhook_disabled:{endpoint_id}:{failing_since:%Y%m%dT%H%M%S}",
        title=f"Webhook endpoint {endpoint_id} was disabled: it has failed since {failing_since:%Y-%m-%d %H:%M} UTC",
        detail=f"{url}\n\nLast error: {error}\n\nEvents are kept: once the receiver works again, enable "
        f"the endpoint (POST /v1/webhook-endpoints/{endpoint_id}/enable) and what it missed is delivered.",
        endpoint_id=endpoint_id,
    )
    audit.record(
        session,
        clock,
        actor="webhooks",
        action="webhook_endpoint.disabled",
        subject_type="webhook_endpoint",
        subject_id=endpoint_id,
        failing_since=failing_since.isoformat(),
        error=error[:1000],
    )
