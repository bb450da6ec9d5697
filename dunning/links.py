"""Signed links for customers: the portal and one-click unsubscribe. Each token names one customer
(and for unsubscribe one channel), is signed with the secret key and expires."""
from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from dunning.clock import Clock, SystemClock
from dunning.config import Settings
from dunning.errors import Forbidden


@dataclass(frozen=True)
class LinkClaims:
    customer_id: int
    channel: str | None = None


def _serializer(settings: Settings, purpose: str, clock: Clock | None) -> URLSafeTimedSerializer:
    now = clock or SystemClock()

    class ClockSigner(TimestampSigner):
        # signing and expiry on the service's clock, so replays and tests move link time too
        def get_timestamp(self) -> int:
            return int(now.now().timestamp())

    return URLSafeTimedSerializer(settings.secret_key, salt=f"dunning.{purpose}", signer=ClockSigner)


def portal_token(settings: Settings, customer_id: int, clock: Clock | None = None) -> str:
    return _serializer(settings, "portal", clock).dumps({"c": customer_id})


def unsubscribe_token(settings: Settings, customer_id: int, channel: str, clock: Clock | None = None) -> str:
    return _serializer(settings, "unsubscribe", clock).dumps({"c": customer_id, "ch": channel})


def read_token(settings: Settings, purpose: str, token: str, max_age_days: int | None = None,
               clock: Clock | None = None) -> LinkClaims:
    max_age = (max_age_days or settings.portal_link_days) * 86_400
    try:
        data = _serializer(settings, purpose, clock).loads(token, max_age=max_age)
    except SignatureExpired:
        raise Forbidden("this link has expired; use the link in a more recent message") from None
    except BadSignature:
        raise Forbidden("this link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise Forbidden("this link is not valid")
    return LinkClaims(data["c"], data.get("ch"))


def portal_url(settings: Settings, customer_id: int, clock: Clock | None = None) -> str:
    return f"{settings.public_url.rstrip('/')}/portal/{portal_token(settings, customer_id, clock)}"


def unsubscribe_url(settings: Settings, customer_id: int, channel: str, clock: Clock | None = None) -> str:
    token = unsubscribe_token(settings, customer_id, channel, clock)
    return f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"
