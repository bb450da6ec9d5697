"""SMS through Twilio's Messages API, with the official twilio library.

The library is synchronous (requests underneath), so each send runs in a worker thread and the
dispatcher's event loop keeps serving. DUNNING_TWILIO_API_BASE redirects every call the library
makes to another origin (a local fake in tests, an egress proxy in locked-down networks): the
library builds absolute https://api.twilio.com URLs, and the one place they all pass through
is its HttpClient.request, so that is where the origin is swapped.

What the outbox fills in the Envelope: recipient (E.164), text (the final body: the opt-out line
is already appended when it is due). Nothing else is read. The receipt's provider_id is the
Twilio message SID, which status callbacks quote; detail carries our own segment count.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from dunning.channels.contract import Envelope, ProviderReceipt, TransportError
from dunning.channels.gsm import count_segments

STATUS_CALLBACK_PATH = "/v1/inbound/twilio/status"

# Twilio error codes that no retry can fix: the number is invalid, opted out (STOP), a landline,
# in a region the account may not reach, or the body itself is unacceptable.
PERMANENT_CODES = {
    21211,  # invalid 'To' number
    21212,  # invalid 'From' number (for this message's country)
    21408,  # permission to send to this region not enabled
    21602,  # body required
    21604,  # 'To' required
    21610,  # recipient replied STOP: unsubscribed
    21612,  # 'To' not reachable from this 'From'
    21614,  # 'To' is not a mobile number
    21617,  # body too long (over 1600 characters)
    21635,  # 'To' cannot be a landline
}
# The number itself is wrong: the customer's SMS contact is invalid, not just this message.
RECIPIENT_CODES = {21211, 21614, 21635}
RETRYABLE_CODES = {
    20003,  # authentication failed: a credentials fix lets the queue drain
    20429,  # too many requests
    20500,  # Twilio internal error
    20503,  # service unavailable
    30001,  # queue overflow
}


class BaseUrlHttpClient(TwilioHttpClient):
    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        parts = urlsplit(base_url.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        parts = urlsplit(url)
        if parts.netloc.endswith("twilio.com"):
            url = urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


class TwilioSmsTransport:
    channel = "sms"

    def __init__(self, settings: Any, *, client: Client | None = None):
        if not (settings.twilio_messaging_service_sid or settings.twilio_from_number):
            raise ValueError("Twilio needs DUNNING_TWILIO_MESSAGING_SERVICE_SID or DUNNING_TWILIO_FROM_NUMBER")
        self._settings = settings
        self._client = client or Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=_http_client(settings),
        )
        self._status_callback = settings.public_url.rstrip("/") + STATUS_CALLBACK_PATH
        # The library's HTTP client keeps one requests.Session, which is not made for several
        # threads at once: concurrent callers (the dispatcher sends a group together) take turns.
        self._lock = anyio.Lock()

    async def send(self, envelope: Envelope) -> ProviderReceipt:
        if not envelope.text.strip():
            raise TransportError("empty SMS body", permanent=True, code="21602")
        segments = count_segments(envelope.text)
        async with self._lock:
            message = await anyio.to_thread.run_sync(self._create, envelope)
        return ProviderReceipt(
            provider_id=message.sid,
            detail={
                "status": message.status,
                "segments": segments.segments,
                "encoding": segments.encoding,
                "twilio_segments": message.num_segments,
            },
        )

    def _create(self, envelope: Envelope) -> Any:
        s = self._settings
        sender: dict[str, str] = (
            {"messaging_service_sid": s.twilio_messaging_service_sid}
            if s.twilio_messaging_service_sid
            else {"from_": s.twilio_from_number}
        )
        try:
            return self._client.messages.create(
                to=envelope.recipient, body=envelope.text, status_callback=self._status_callback, **sender
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify(exc) from exc
        except requests.RequestException as exc:
            # A read timeout or a connection dropped mid-answer may come after Twilio accepted
            # the message: retryable, but uncertain, and the outbox puts it in doubt.
            raise TransportError(
                f"Twilio unreachable: {type(exc).__name__}: {exc}",
                permanent=False,
                code="connection",
                uncertain=not _never_reached(exc),
            ) from exc

    async def close(self) -> None:
        session = getattr(self._client.http_client, "session", None)
        if session is not None:
            session.close()


def classify(exc: TwilioRestException | TwilioServiceException) -> TransportError:
    status = int(exc.status or 0)
    code = int(exc.code) if exc.code is not None else None
    text = f"Twilio {status} {code}: {getattr(exc, 'msg', None) or getattr(exc, 'detail', '') or exc}"
    if code in PERMANENT_CODES:
        permanent = True
    elif code in RETRYABLE_CODES or status == 429 or status >= 500 or status in (401, 403):
        permanent = False
    else:
        permanent = 400 <= status < 500
    return TransportError(
        text, permanent=permanent, code=str(code if code is not None else status), recipient=code in RECIPIENT_CODES
    )


def _never_reached(exc: requests.RequestException) -> bool:
    """The request cannot have reached Twilio: refused or timed out while connecting, or never built."""
    if isinstance(exc, requests.ConnectTimeout) or not isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    ):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _http_client(settings: Any) -> TwilioHttpClient:
    timeout = settings.http_timeout_seconds
    if settings.twilio_api_base:
        return BaseUrlHttpClient(settings.twilio_api_base, timeout=timeout)
    return TwilioHttpClient(timeout=timeout)
