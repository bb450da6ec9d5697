"""Stripe's webhook. Authenticated by Stripe's signature of the body (tests/test_auth.py lists it in
SIGNED_ROUTES): a request Stripe did not sign for this endpoint gets 400 and stores nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from dunning.deps import ClockDep, SessionDep, SettingsDep
from dunning.errors import Forbidden
from dunning.inputs import BoundedRoute
from dunning.payments import service, stripe_api
from dunning.payments.stripe_api import Event, SignatureRefused

router = APIRouter(prefix="/v1/inbound", tags=["inbound"], route_class=BoundedRoute)


def stripe_signature(settings: SettingsDep, stripe_signature: Annotated[str | None, Header()] = None) -> str:
    # Settled from the headers, before the body is read.
    if not settings.stripe_webhook_secret:
        raise Forbidden("Stripe webhooks are not configured (DUNNING_STRIPE_WEBHOOK_SECRET)")
    if not stripe_signature:
        raise SignatureRefused("missing Stripe-Signature")
    return stripe_signature


async def stripe_event(
    request: Request, settings: SettingsDep, signature: Annotated[str, Depends(stripe_signature)]
) -> Event:
    body = await request.body()  # at most the webhooks' body limit (dunning/guards.py)
    return stripe_api.verified_event(settings.stripe_webhook_secret, body, signature)


@router.post(
    "/stripe",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
def stripe_webhook(
    event: Annotated[Event, Depends(stripe_event)], session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> dict:
    """Stripe's events: checkout.session.completed / async_payment_succeeded / async_payment_failed /
    expired, payment_intent.succeeded, charge.refunded. Any other is acknowledged and ignored."""
    return {"received": True, "outcome": service.handle(session, clock, settings, event)}
