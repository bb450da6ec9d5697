"""/v1/events (the feed, read in order from a cursor) and /v1/webhook-endpoints (where events go)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, field_validator

from dunning import bounds
from dunning.deps import Caller, ClockDep, RowId, SessionDep, SettingsDep, require
from dunning.events import feed
from dunning.events.catalogue import TYPES
from dunning.inputs import BoundedRoute, Input
from dunning.webhooks import service
from dunning.webhooks.egress import MAX_URL, Resolver
from dunning.webhooks.models import WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/v1", tags=["events"], route_class=BoundedRoute)
MAX_EVENT_ID = 2**63 - 1  # event ids are BIGINT
EventId = Annotated[int, Path(ge=1, le=MAX_EVENT_ID)]
EventType = Literal[tuple(TYPES)]  # type: ignore[valid-type]


def get_resolver(request: Request) -> Resolver:
    resolve: Resolver = request.app.state.resolve  # set by create_app (tests give a DNS of their own)
    return resolve


ResolverDep = Annotated[Resolver, Depends(get_resolver)]  # names to addresses (webhook URLs are checked after it)


class EventOut(BaseModel):
    id: int
    type: str
    timestamp: str = Field(description="when it happened, UTC, ISO 8601")
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: int = Field(description="pass as `after` to read on: the last event's id, or `after` if none came")
    has_more: bool


class DeliveryOut(BaseModel):
    endpoint_id: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class EventDetail(EventOut):
    deliveries: list[DeliveryOut]


class RedeliverIn(Input):
    endpoint_id: bounds.Id | None = Field(
        None, description="only to this endpoint (default: every endpoint taking the type)"
    )


class EndpointIn(Input):
    url: bounds.line(MAX_URL, 1)
    events: list[bounds.line(50, 1)] = Field(
        min_length=1, max_length=len(TYPES), description='["*"] for every event, or the types wanted'
    )
    description: bounds.line(500) | None = None

    @field_validator("events")
    @classmethod
    def _types(cls, events: list[str]) -> list[str]:
        events = list(dict.fromkeys(events))
        if "*" in events:
            if len(events) > 1:
                raise ValueError('"*" takes every event: give it alone')
            return events
        unknown = [e for e in events if e not in TYPES]
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)} (see GET /v1/event-types)")
        return events


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    created_by: str
    last_success_at: datetime | None
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_...: verifies the signatures; shown this once")


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery, from_attributes=True)


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint, from_attributes=True)


# ---- events -----------------------------------------------------------------------------------


@router.get("/events", dependencies=[require("read")])
def list_events(
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
    type: Annotated[list[EventType] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Events in the order they were committed, after the event `after` (0: from the first). An
    event committed later always has a larger id, so reading on from `next_after` misses nothing."""
    rows = feed.after(session, after, types=type, limit=limit + 1)
    items = [EventOut(**feed.public(e)) for e in rows[:limit]]
    return EventPage(items=items, next_after=items[-1].id if items else after, has_more=len(rows) > limit)


@router.get("/event-types", dependencies=[require("read")])
def event_types() -> dict[str, str]:
    """Every event type, with what it means."""
    return TYPES


@router.get("/events/{event_id}", dependencies=[require("read")])
def get_event(event_id: EventId, session: SessionDep) -> EventDetail:
    """The event, and how its delivery to each endpoint went."""
    event = feed.get(session, event_id)
    return EventDetail(
        **feed.public(event), deliveries=[delivery_out(d) for d in service.deliveries_of(session, event_id)]
    )


@router.post("/events/{event_id}/redeliver")
def redeliver(
    event_id: EventId,
    session: SessionDep,
    clock: ClockDep,
    body: RedeliverIn | None = None,
    caller: Caller = require("admin"),
) -> list[DeliveryOut]:
    """Deliver the event again, now, to every active endpoint that takes its type (or to one)."""
    endpoint_id = body.endpoint_id if body is not None else None
    return [delivery_out(d) for d in service.redeliver(session, clock, event_id, endpoint_id)]


# ---- webhook endpoints ------------------------------------------------------------------------


@router.post("/webhook-endpoints", status_code=201)
def create_endpoint(
    body: EndpointIn,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    resolve: ResolverDep,
    caller: Caller = require("admin"),
) -> EndpointCreated:
    """Events of the given types go to this URL from now on, signed with the secret in the answer
    (Standard Webhooks). The URL is checked now and before every delivery (README "Webhooks")."""
    endpoint = service.create_endpoint(
        session,
        clock,
        settings,
        resolve,
        url=body.url,
        events=body.events,
        description=body.description,
        actor=caller.actor,
    )
    return EndpointCreated(**endpoint_out(endpoint).model_dump(), secret=endpoint.secret)


@router.get("/webhook-endpoints", dependencies=[require("admin")])
def list_endpoints(session: SessionDep) -> list[EndpointOut]:
    return [endpoint_out(e) for e in service.list_endpoints(session)]


@router.get("/webhook-endpoints/{endpoint_id}", dependencies=[require("admin")])
def get_endpoint(endpoint_id: RowId, session: SessionDep) -> EndpointOut:
    return endpoint_out(service.get_endpoint(session, endpoint_id))


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(
    endpoint_id: RowId, session: SessionDep, clock: ClockDep, caller: Caller = require("admin")
) -> Response:
    service.delete_endpoint(session, clock, endpoint_id, caller.actor)
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/enable")
def enable_endpoint(
    endpoint_id: RowId, session: SessionDep, clock: ClockDep, caller: Caller = require("admin")
) -> EndpointOut:
    """An endpoint disabled after failing for days, back at work: what it missed is delivered."""
    return endpoint_out(service.enable_endpoint(session, clock, endpoint_id, caller.actor))
