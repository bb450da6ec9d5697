"""Signed links for customers: the portal and one-click unsubscribe. Each token names one customer
(and for unsubscribe one channel), is signed with the secret key and expires.

A token also carries the customer's link version. A change of email, phone or address, or the
desk's "Revoke links", moves the version on, and every link sent before is refused: whoever has
an old address (a former employee, a recycled number) loses the portal with it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session

from dunning import audit
from dunning.clock import Clock, SystemClock
from dunning.config import Settings
from dunning.errors import Forbidden
from dunning.ledger.models import Customer

_SYSTEM_CLOCK = SystemClock()


@dataclass(frozen=True)
class LinkClaims:
    customer_id: int
    channel: str | None = None
    version: int = 1  # tokens made before links had versions are version 1

    def current(self, customer: Customer) -> bool:
        return self.version == customer.link_version


class _ClockSigner(TimestampSigner):
    """Signing and expiry on the service's clock, so that replays and tests move link time too."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


@lru_cache(maxsize=32)
def _serializer_for(key: str, purpose: str, clock: Clock) -> URLSafeTimedSerializer:
    # kept: building one costs more than signing with it, and dispatch signs two links a message
    return URLSafeTimedSerializer(key, salt=f"dunning.{purpose}", signer=_ClockSigner, signer_kwargs={"clock": clock})


def _serializer(settings: Settings, purpose: str, clock: Clock | None) -> URLSafeTimedSerializer:
    return _serializer_for(settings.signing_key, purpose, clock or _SYSTEM_CLOCK)


def portal_token(settings: Settings, customer_id: int, clock: Clock | None = None, version: int = 1) -> str:
    return _serializer(settings, "portal", clock).dumps({"c": customer_id, "v": version})


def unsubscribe_token(
    settings: Settings, customer_id: int, channel: str, clock: Clock | None = None, version: int = 1
) -> str:
    return _serializer(settings, "unsubscribe", clock).dumps({"c": customer_id, "ch": channel, "v": version})


def read_token(
    settings: Settings, purpose: str, token: str, max_age_days: int | None = None, clock: Clock | None = None
) -> LinkClaims:
    max_age = (max_age_days or settings.portal_link_days) * 86_400
    try:
        data = _serializer(settings, purpose, clock).loads(token, max_age=max_age)
    except SignatureExpired:
        raise Forbidden("this link has expired; use the link in a more recent message") from None
    except BadSignature:
        raise Forbidden("this link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("v", 1), int):
        raise Forbidden("this link is not valid")
    return LinkClaims(data["c"], data.get("ch"), data.get("v", 1))


def portal_url(settings: Settings, customer: Customer, clock: Clock | None = None) -> str:
    token = portal_token(settings, customer.id, clock, customer.link_version)
    return f"{settings.public_url.rstrip('/')}/portal/{token}"


def unsubscribe_url(settings: Settings, customer: Customer, channel: str, clock: Clock | None = None) -> str:
    token = unsubscribe_token(settings, customer.id, channel, clock, customer.link_version)
    return f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"


def revoke(session: Session, clock: Clock, customer: Customer, actor: str, why: str = "revoked at the desk") -> None:
    """Every portal and unsubscribe link sent to this customer so far stops working."""
    customer.link_version += 1
    customer.updated_at = clock.now()
    session.add(customer)
    audit.record(
        session,
        clock,
        actor=actor,
        action="customer.links_revoked",
        subject_type="customer",
        subject_id=customer.external_id,
        version=customer.link_version,
        why=why,
    )
