"""Where HTTP input meets the bounds of dunning/bounds.py: the base of request models, the route
class that parses JSON bodies, and the guard every URL passes. Text a provider sends on someone
else's behalf (an SMS, a mail header) is cleaned instead of refused: losing a customer's reply
would be worse than dropping an invisible character from it."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, get_args
from urllib.parse import quote, unquote

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dunning.bounds import MULTILINE, load_json, text_problem


def _storable(value: Any, multiline: bool) -> Any:
    if isinstance(value, str):
        if problem := text_problem(value, multiline):
            raise ValueError(problem)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _storable(item, multiline)
    return value


_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def storable(value: str, limit: int) -> str:
    """Text that arrives from a provider and must be kept rather than refused (an SMS, a mail
    header): control characters other than tab and line breaks dropped, the length bounded."""
    return _UNSTORABLE.sub("", value[: limit * 2])[:limit]


def _declared_multiline(field: FieldInfo) -> bool:
    return MULTILINE in field.metadata or any(
        MULTILINE in getattr(arg, "__metadata__", ()) for arg in get_args(field.annotation)
    )


class Input(BaseModel):
    """Every text field is one line without control characters unless it is declared free text
    (bounds.text(...)): a default that fails safe when someone forgets."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    _multiline: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._multiline = frozenset(name for name, field in cls.model_fields.items() if _declared_multiline(field))

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        return _storable(value, info.field_name in cls._multiline)


def form_problem(form: Any) -> str | None:
    """What no field of a submitted form may carry, whatever its own type says: a NUL, which no
    database stores (the types of the fields refuse the rest, and the policy editor shows a
    document's stray control character at its line). The desk's and the portal's forms pass this
    net before any route sees them."""
    for name, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            return f"{name}: must not contain NUL characters"
    return None


class BoundedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = load_json(await self.body())  # JSONDecodeError: FastAPI answers 422
        return self._json


class BoundedRoute(APIRoute):
    """Routes whose JSON bodies are parsed by bounds.load_json: nesting bounded while parsing, and
    numbers exact (10.000000000000000001 reaches the amount check as written, not as 10.0)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedRequest(request.scope, request.receive))

        return bounded


# ---- URLs -------------------------------------------------------------------------------------
# External ids arrive as the accounting system writes them: "INV/2026/0001", spaces, "?", "#",
# "%"... A link puts one in a path segment with quote(id, safe=""), so its "/" travels as %2F.
# Servers decode the path before routing, which would turn that %2F into a separator; UrlGuard
# keeps %2F and %25 encoded in the path that is routed on, and the "segment" convertor decodes the
# segment once it is matched.


class SegmentConvertor(Convertor[str]):
    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("segment", SegmentConvertor())
_KEPT = re.compile(r"(%2[fF]|%25)")


def routed_path(raw_path: bytes) -> str:
    """The decoded path, except for encoded separators and percent signs."""
    parts = _KEPT.split(raw_path.decode("latin-1"))
    return "".join(part.upper() if i % 2 else unquote(part) for i, part in enumerate(parts))


def segment(value: str) -> str:
    """A value as one path segment of a link (the desk's, the portal's)."""
    return quote(value, safe="")


class UrlGuard:
    """Refuses NUL characters in URLs (PostgreSQL cannot store them, even as a query parameter)
    and routes external ids as they come (see above)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or b""
            raw = raw_path + b"?" + scope.get("query_string", b"")
            if b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", ""):
                response = JSONResponse(
                    {
                        "error": "invalid",
                        "message": "NUL characters are not allowed in URLs",
                        "errors": [{"index": None, "field": "url", "message": "contains %00"}],
                    },
                    status_code=422,
                )
                await response(scope, receive, send)
                return
            if b"%" in raw_path:
                scope = {**scope, "path": routed_path(raw_path)}
            elif not raw_path:  # a server that does not say (raw_path is optional): "%" at least survives
                scope = {**scope, "path": scope["path"].replace("%", "%25")}
        await self.app(scope, receive, send)
