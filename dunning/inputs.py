"""The base of request models, and a guard for URLs: text that a database cannot store is refused
as bad input (PostgreSQL rejects NUL characters in text; without this they would surface as 500s).
Text a provider sends on someone else's behalf (an SMS, a mail header) is cleaned instead: losing
a customer's reply would be worse than dropping an invisible character from it."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, (list, tuple)):
        for item in value:
            _no_nul(item)
    return value


_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def storable(value: str, limit: int) -> str:
    """Text that arrives from a provider and must be kept rather than refused (an SMS, a mail
    header): control characters other than tab and line breaks dropped, the length bounded."""
    return _UNSTORABLE.sub("", value[: limit * 2])[:limit]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return _no_nul(value)


class RefuseNulInUrls:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
            if b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", ""):
                response = JSONResponse({"error": "invalid", "message": "NUL characters are not allowed in URLs",
                                         "errors": [{"index": None, "field": "url", "message": "contains %00"}]},
                                        status_code=422)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
