"""Twilio webhooks: checking their signature, and answering in TwiML.

Twilio signs the URL it called plus the sorted form fields with the account's auth token (or, when
the request carries X-Twilio-Webhooks-Signature-Settings, with a SharedKey secret and the algorithm
it names). Behind a proxy or a TLS terminator the URL we see is not the one Twilio called, so the
URL checked is DUNNING_PUBLIC_URL + the path + the query string, never request.url.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from dunning.config import Settings
from dunning.errors import Forbidden


class FormParams(dict):
    """Form fields as Twilio signs them: a repeated field keeps all its values (`getall`)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        super().__init__()
        self._all: dict[str, list[str]] = {}
        for key, value in pairs:
            self._all.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getall(self, key: str) -> list[str]:
        return self._all[key]


def parse_form(body: bytes) -> FormParams:
    return FormParams(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def public_url(settings: Settings, path: str, query: str) -> str:
    return settings.public_url.rstrip("/") + path + (f"?{query}" if query else "")


def signing_secret(settings: Settings, headers: Mapping[str, str]) -> str:
    """The secret the request says it is signed with; Forbidden when it is not signed, or when this
    service has no such secret. Headers only: settled before the body is read."""
    if not headers.get(SIGNATURE_HEADER):
        raise Forbidden("missing X-Twilio-Signature")
    secret = settings.twilio_webhook_key if headers.get(SIGNATURE_SETTINGS_HEADER) else settings.twilio_auth_token
    if not secret:
        # Without the secret nothing can be checked, and an unchecked webhook would let anyone
        # pause cases or opt customers out.
        raise Forbidden("Twilio webhooks are not configured on this service (no auth token or webhook key)")
    return secret


def verify(secret: str, url: str, params: FormParams, headers: Mapping[str, str]) -> None:
    """Raises Forbidden unless the request is signed by Twilio for exactly this URL and these fields."""
    shared = headers.get(SIGNATURE_SETTINGS_HEADER)
    algorithm = get_signature_algorithm(shared) if shared else None
    if not RequestValidator(secret).validate(url, params, headers.get(SIGNATURE_HEADER), algorithm):
        raise Forbidden("invalid X-Twilio-Signature")


def twiml(text: str | None) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
