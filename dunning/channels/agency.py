"""Hand-off of a case to a collection agency: the case file, signed, to the agency's webhook.

What the outbox fills in the Envelope:
  payload    the case file (customer, contacts, invoices, message and reply history, broken
             promises ...): any JSON-serialisable dict; dates and Decimals become strings
  pdf_path   the statement PDF; it travels inside the JSON, base64, so the agency needs only
             the one request
  metadata   "reference": the case reference, echoed at the top of the document

The body is built once and the signature covers those exact bytes:
  X-Dunning-Signature: sha256=<hex HMAC-SHA256(body, agency_webhook_secret)>
and Idempotency-Key: dunning-message-<message_id> lets the agency drop a repeated delivery.
5xx, 408, 429 and network failures are retryable; any other 4xx is permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx

from dunning.channels.contract import Envelope, ProviderReceipt, TransportError

SIGNATURE_HEADER = "X-Dunning-Signature"
SCHEMA = "dunning.case_file/1"


def case_file_document(envelope: Envelope) -> dict[str, Any]:
    documents = []
    if envelope.pdf_path is not None:
        documents.append(
            {
                "name": envelope.pdf_path.name,
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(envelope.pdf_path.read_bytes()).decode("ascii"),
            }
        )
    return {
        "schema": SCHEMA,
        "message_id": envelope.message_id,
        "reference": envelope.metadata.get("reference"),
        "case_file": envelope.payload,
        "documents": documents,
    }


def case_file_body(envelope: Envelope) -> bytes:
    return json.dumps(
        case_file_document(envelope), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def http_failure(what: str, response: httpx.Response | None = None, exc: Exception | None = None) -> TransportError:
    """Shared by the agency webhook and the letter provider."""
    if response is None:
        return TransportError(
            f"{what} unreachable: {type(exc).__name__}: {exc}",
            permanent=False,
            code="timeout" if isinstance(exc, httpx.TimeoutException) else "connection",
        )
    status = response.status_code
    permanent = 400 <= status < 500 and status not in (408, 425, 429)
    return TransportError(f"{what} answered {status}: {response.text[:300]}", permanent=permanent, code=str(status))


def provider_reference(response: httpx.Response, fallback: str) -> str:
    try:
        body = response.json()
    except ValueError:
        return fallback
    if isinstance(body, dict):
        for key in ("id", "reference", "case_id"):
            if body.get(key):
                return str(body[key])
    return fallback


class AgencyWebhookTransport:
    channel = "agency"

    def __init__(self, url: str, secret: str, *, timeout: float = 30.0, client: httpx.AsyncClient | None = None):
        if not secret:
            raise ValueError(
                "an agency webhook needs DUNNING_AGENCY_WEBHOOK_SECRET: case files are never sent unsigned"
            )
        self._url = url
        self._secret = secret
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        body = case_file_body(envelope)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._secret),
            "Idempotency-Key": f"dunning-message-{envelope.message_id}",
        }
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise http_failure("agency webhook", exc=exc) from exc
        if not response.is_success:
            raise http_failure("agency webhook", response)
        return ProviderReceipt(
            provider_id=provider_reference(response, f"agency-{envelope.message_id}"),
            detail={"status": response.status_code, "bytes": len(body)},
        )

    async def close(self) -> None:
        await self._client.aclose()
