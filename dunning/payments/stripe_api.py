"""Stripe through its official library: the Checkout Session the portal opens, and the events its
webhook delivers, checked with the signing secret and read into the few values we act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

import stripe
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dunning.bounds import MAX_INT, check_moment, line
from dunning.config import Settings
from dunning.errors import DomainError, InvalidInput
from dunning.money import MAX_MINOR, exponent

# Stripe counts amounts in the currency's minor unit as ISO 4217 does, for two-decimal currencies
# and for these zero-decimal ones. A few currencies have rules of their own at Stripe (ISK, HUF,
# TWD and UGX are sent differently from their ISO unit, three-decimal ones must end in 0): they are
# not offered online rather than risk asking for the wrong amount.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split())
OWN_RULES = frozenset("ISK HUF TWD UGX BHD JOD KWD OMR TND".split())
METADATA_VALUE = 500  # characters Stripe keeps in one metadata value


class PaymentUnavailable(DomainError):
    """Stripe could not be reached, or refused the request: the customer can try again later."""

    status = 503
    code = "payment_unavailable"


class SignatureRefused(DomainError):
    """Not signed by Stripe for this endpoint: 400, and nothing is stored."""

    status = 400
    code = "bad_signature"


def supported(currency: str) -> bool:
    if currency in OWN_RULES:
        return False
    places = exponent(currency)
    return places == 2 or (places == 0 and currency in ZERO_DECIMAL)


@lru_cache(maxsize=4)
def _client(secret_key: str, api_base: str | None, timeout: float) -> stripe.StripeClient:
    # No retries by the library: a customer is waiting on the page, and the next click retries
    # safely (the idempotency key gives the same session).
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=0,
        http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
    )


def client(settings: Settings) -> stripe.StripeClient:
    return _client(settings.stripe_secret_key, settings.stripe_api_base, settings.http_timeout_seconds)


@dataclass(frozen=True)
class OpenedSession:
    id: str
    url: str | None
    status: str  # open | complete | expired


def create_checkout_session(settings: Settings, params: dict[str, Any], idempotency_key: str) -> OpenedSession:
    """One Checkout Session; the same key and parameters give the same session back (Stripe keeps
    idempotency keys for at least 24 hours)."""
    try:
        created = client(settings).v1.checkout.sessions.create(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
    except stripe.StripeError as e:
        raise PaymentUnavailable(f"Stripe refused the checkout session: {e.user_message or e}") from None
    return OpenedSession(created.id, created.url, created.status or "open")


# --- webhook events ---------------------------------------------------------------------------

Amount = Annotated[int, Field(ge=0, lt=MAX_MINOR)]
Ref = line(255, 1)


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CheckoutObject(_Read):
    id: Ref
    status: line(30) | None = None
    payment_status: line(30)
    payment_intent: Ref | None = None
    amount_total: Amount | None = None
    currency: line(3) | None = None
    client_reference_id: line(200) | None = None
    metadata: dict[line(40), line(METADATA_VALUE)] = {}


class IntentObject(_Read):
    id: Ref
    amount_received: Amount
    currency: line(3)
    metadata: dict[line(40), line(METADATA_VALUE)] = {}


class ChargeObject(_Read):
    id: Ref
    payment_intent: Ref | None = None
    amount_captured: Amount
    amount_refunded: Amount
    currency: line(3)


@dataclass(frozen=True)
class Ours:
    """What the portal wrote into a session's and its PaymentIntent's metadata."""

    customer_external_id: str
    invoice_ids: tuple[int, ...]
    checkout_key: str | None

    @classmethod
    def read(cls, metadata: dict[str, str]) -> Ours | None:
        customer = metadata.get("dunning_customer")
        if not customer:
            return None  # another integration's payment on the same Stripe account
        parts = (part.strip() for part in metadata.get("dunning_invoices", "").split(","))
        ids = tuple(int(p) for p in parts if p.isascii() and p.isdigit() and len(p) <= 10 and 1 <= int(p) <= MAX_INT)
        return cls(customer, ids, metadata.get("dunning_checkout"))


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: datetime
    object: dict[str, Any]

    def read(self, model: type[_Read]) -> Any:
        try:
            return model.model_validate(self.object)
        except ValidationError as e:
            raise InvalidInput(f"the {self.type} event {self.id} cannot be read: {e.errors()[0]['msg']}") from None


def verified_event(secret: str, payload: bytes, signature: str) -> Event:
    """The event, if `Stripe-Signature` proves Stripe sent this body for our endpoint (and recently:
    the library refuses a timestamp more than five minutes old, so a captured event cannot be
    replayed later)."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
        raise SignatureRefused("invalid Stripe-Signature") from None
    data = event.to_dict()
    try:
        created = check_moment(datetime.fromtimestamp(int(data["created"]), UTC))
        return Event(str(data["id"])[:255], str(data["type"])[:100], created, dict(data["data"]["object"]))
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidInput("the event has no id, type, creation time or object") from None
