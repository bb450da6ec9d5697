"""ASGI guards around the whole application: body limits per route family, the last resort for an
error no handler took, and tokens kept out of the access log."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dunning.config import Settings

log = logging.getLogger(__name__)
KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Family:
    name: str
    limit: int  # bytes


def family(path: str, settings: Settings) -> Family:
    """Which limit a request body falls under. A bulk batch takes at most 10,000 rows of a few
    hundred bytes; an inbound email carries its attachments; Twilio's form posts are a few
    kilobytes; the desk's largest form is a policy document."""
    if path == "/v1/inbound/email":
        return Family("inbound mail", settings.inbound_email_max_bytes)
    if path.startswith("/v1/inbound/"):
        return Family("webhooks", 64 * KIB)
    if path.startswith("/v1/") and path.endswith("/bulk"):
        return Family("bulk", 32 * MIB)
    if path.startswith(("/desk", "/portal", "/unsubscribe")):
        return Family("forms", 1 * MIB)
    return Family("other", 1 * MIB)


class BodyLimit:
    """Refuses a body over its family's limit before the application reads it: at once when the
    declared Content-Length is over, else as soon as the bytes counted on arrival pass it (a chunked
    upload). Any answer given before the body was read whole (the 413, a 401 for a wrong key)
    closes the connection, so that the rest is never read."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = family(scope["path"], self.settings)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.limit:
            return await self._refuse(scope, receive, send, limit)
        unread = b"transfer-encoding" in headers or (declared is not None and declared not in (b"", b"0"))
        received, refused, started = 0, False, False

        async def counting() -> Message:
            nonlocal received, refused, unread
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                unread = message.get("more_body", False)
                if received > limit.limit:
                    refused = True
                    if not started:
                        await self._refuse(scope, receive, send, limit)
                    return {"type": "http.disconnect"}  # the application stops reading
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the 413 went out instead of whatever the application makes of a cut body
            if message["type"] == "http.response.start":
                started = True
                if unread:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not refused:
                raise  # a cut body may make the application raise: the 413 is the answer

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: Family) -> None:
        response = JSONResponse(
            {"error": "too_large", "message": f"the body is over {limit.limit:,} bytes, the limit for {limit.name}"},
            status_code=413,
            headers={"connection": "close"},
        )
        await response(scope, receive, send)


class LastResort:
    """An error no handler took: logged once with its traceback, answered with a 500, and the
    connection kept. (An `Exception` handler registered on the app lives in Starlette's
    ServerErrorMiddleware, which re-raises after answering: the server then logs the error a
    second time and, the response having started, drops the connection.)"""

    def __init__(self, app: ASGIApp, answer: Callable[[Request], Response]):
        self.app, self.answer = app, answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except ClientDisconnect:
            return  # the client left (or its body was cut at the limit): nobody to answer
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], redact(scope["path"]))
            if not started:
                await self.answer(Request(scope))(scope, receive, send)
            # else the response is cut short: the server closes the connection, nothing else can


# Portal and unsubscribe tokens are credentials: an access log must not hand them to whoever reads it.
TOKEN = re.compile(r"((?:/|%2F)(?:portal|unsubscribe)(?:/|%2F))[^/?&#\s\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    return TOKEN.sub(r"\1[token]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
