"""A local fake of the part of Stripe's API the service calls (POST /v1/checkout/sessions), and
Stripe's side of the webhook: events shaped as Stripe's API reference shows them, signed as Stripe
signs them.

The fake checks what the real API checks before it creates anything: the secret key as a Bearer
token, an API version, the form encoding, and the fields a payment-mode session needs (line items
with a lowercase currency and a positive integer amount, both return URLs, metadata within Stripe's
limits: 50 keys, keys of 40 and values of 500 characters). Idempotency works as Stripe documents it:
the same Idempotency-Key with the same parameters answers the first response again; with other
parameters it is a 400 idempotency_error. `fail_next` queues error answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from tests.fakes import LoopbackHTTPServer, Recorded, Reply

API_VERSION = "2026-10-28.endive"


@dataclass
class Opened:
    """A session as the fake created it, with the form fields that created it."""

    id: str
    form: dict[str, str]
    body: dict = field(default_factory=dict)

    def metadata(self, parent: str | None = None) -> dict[str, str]:
        """The session's metadata, or that of `parent` (payment_intent_data)."""
        start = f"{parent}[metadata][" if parent else "metadata["
        return {k[len(start) : -1]: v for k, v in self.form.items() if k.startswith(start)}


class FakeStripe(LoopbackHTTPServer):
    def __init__(self, secret_key: str = "sk_test_fake"):
        super().__init__()
        self.secret_key = secret_key
        self.sessions: dict[str, Opened] = {}
        self._by_key: dict[str, tuple[tuple, Reply]] = {}
        self._failures: deque[Reply] = deque()

    def fail_next(self, status: int, kind: str = "api_error", message: str = "fake failure") -> None:
        self._failures.append(_error(status, kind, message))

    def respond(self, request: Recorded) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if request.method != "POST" or request.path != "/v1/checkout/sessions":
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path})")
        if not request.headers.get("Stripe-Version"):
            return _error(400, "invalid_request_error", "fake: no Stripe-Version header")
        if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return _error(400, "invalid_request_error", "form encoding expected")
        pairs = parse_qsl(request.body.decode(), keep_blank_values=True)
        form = dict(pairs)
        key = request.headers.get("Idempotency-Key")
        if key in self._by_key:
            seen, reply = self._by_key[key]
            if seen != tuple(sorted(pairs)):
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                )
            return reply
        if self._failures:
            return self._failures.popleft()
        problem = _session_problem(form)
        if problem:
            return _error(400, "invalid_request_error", problem)
        reply = self._create(form)
        if key:
            self._by_key[key] = (tuple(sorted(pairs)), reply)
        return reply

    def _create(self, form: dict[str, str]) -> Reply:
        session_id = "cs_test_" + secrets.token_hex(12)
        opened = Opened(session_id, form)
        amount = int(form["line_items[0][price_data][unit_amount]"]) * int(form["line_items[0][quantity]"])
        opened.body = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": form["cancel_url"],
            "success_url": form["success_url"],
            "client_reference_id": form.get("client_reference_id"),
            "currency": form["line_items[0][price_data][currency]"],
            "customer": None,
            "customer_email": form.get("customer_email"),
            "customer_details": None,
            "created": int(time.time()),
            "expires_at": int(time.time()) + 86_400,
            "livemode": False,
            "locale": form.get("locale"),
            "metadata": opened.metadata(),
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        with self.arrived:
            self.sessions[session_id] = opened
        return Reply(200, json.dumps(opened.body).encode())

    # -- Stripe's side of the webhook ---------------------------------------------------------

    def completed(
        self,
        session_id: str,
        *,
        payment_intent: str | None = None,
        payment_status: str = "paid",
        created: int | None = None,
        kind: str = "checkout.session.completed",
    ) -> dict:
        """The event Stripe sends when the customer finishes paying on that session."""
        opened = self.sessions[session_id]
        obj = dict(
            opened.body,
            status="complete",
            payment_status=payment_status,
            payment_intent=payment_intent or "pi_" + secrets.token_hex(12),
            customer_details={"email": opened.form.get("customer_email"), "name": None},
        )
        return event(kind, obj, created)

    def intent_succeeded(self, session_id: str, payment_intent: str, created: int | None = None) -> dict:
        opened = self.sessions[session_id]
        obj = {
            "id": payment_intent,
            "object": "payment_intent",
            "amount": opened.body["amount_total"],
            "amount_received": opened.body["amount_total"],
            "currency": opened.body["currency"],
            "status": "succeeded",
            "latest_charge": "ch_" + secrets.token_hex(12),
            "livemode": False,
            "metadata": opened.metadata("payment_intent_data"),
            "description": opened.form.get("payment_intent_data[description]"),
        }
        return event("payment_intent.succeeded", obj, created)


def event(kind: str, obj: dict, created: int | None = None) -> dict:
    return {
        "id": "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def charge_refunded(payment_intent: str, *, captured: int, refunded: int, currency: str = "eur") -> dict:
    obj = {
        "id": "ch_" + secrets.token_hex(12),
        "object": "charge",
        "amount": captured,
        "amount_captured": captured,
        "amount_refunded": refunded,
        "captured": True,
        "currency": currency,
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": refunded >= captured,
        "status": "succeeded",
        "metadata": {},
        "livemode": False,
    }
    return event("charge.refunded", obj)


def signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature` as Stripe writes it: t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">."""
    t = timestamp if timestamp is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _session_problem(form: dict[str, str]) -> str | None:
    if form.get("mode") != "payment":
        return "fake: mode must be payment"
    for name in ("success_url", "cancel_url"):
        if not re.match(r"^https?://", form.get(name, "")):
            return f"Not a valid URL: {name}"
    if not re.fullmatch(r"[a-z]{3}", form.get("line_items[0][price_data][currency]", "")):
        return "Invalid currency: line_items[0][price_data][currency] must be a lowercase ISO code"
    amount = form.get("line_items[0][price_data][unit_amount]", "")
    if not amount.isdigit() or int(amount) < 1:
        return "Invalid integer: line_items[0][price_data][unit_amount]"
    if form.get("line_items[0][quantity]") != "1":
        return "fake: one line item of quantity 1 expected"
    if not form.get("line_items[0][price_data][product_data][name]"):
        return "Missing required param: line_items[0][price_data][product_data][name]"
    for start in ("metadata[", "payment_intent_data[metadata]["):
        keys = [k for k in form if k.startswith(start)]
        if len(keys) > 50:
            return "Metadata can have up to 50 keys"
        for k in keys:
            name = k[len(start) : -1]
            if len(name) > 40 or len(form[k]) > 500:
                return f"Metadata key or value too long: {name}"
    return None


def _error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, json.dumps({"error": {"type": kind, "message": message}}).encode())
