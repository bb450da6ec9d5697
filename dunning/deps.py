"""FastAPI dependencies: the request's session (the one commit point), the clock, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from sqlmodel import Session

from dunning import api_keys
from dunning.bounds import Id, line
from dunning.clock import Clock
from dunning.config import Settings


def get_session(request: Request) -> Iterator[Session]:
    # The API's reads never write, so they need no write lock: on SQLite they read beside a cycle
    # or an import holding it. (A desk page may: it keeps the person's session alive.)
    reads = request.method in ("GET", "HEAD") and request.url.path.startswith("/v1/")
    with request.app.state.db.session(read_only=reads) as session:
        yield session


# async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request for a lookup
async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


# scope="function" runs the commit as soon as the route returns and before the response is sent;
# the default would commit after sending, and a failed commit would reach the client as a 2xx.
# A row id in a URL: bounded, so that a number past the database's integer range is a 422, not
# an overflow inside the driver. An external id as its accounting system wrote it ("INV/2026/0001"):
# routes take it as {external_id:segment} (see dunning/inputs.py).
RowId = Annotated[Id, Path()]
ExternalId = Annotated[line(200, 1), Path()]
PolicyName = Annotated[line(100, 1), Path()]

SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def raw_body(request: Request) -> bytes:
    return await request.body()


# Bodies some routes parse themselves (bulk batches, policy documents), so that every problem is
# reported their way; the OpenAPI document still describes them.
Body = Annotated[bytes, Depends(raw_body)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Caller:
    key_id: int
    name: str
    scopes: tuple[str, ...]

    @property
    def actor(self) -> str:
        return f"api_key:{self.name}"


def authorised(request: Request, authorization: str | None, scope: str) -> Caller:
    """The caller of this API key, checked in a transaction of its own that is over before the route
    reads the body: none is held (on SQLite, the write lock) while a client is still sending."""
    with request.app.state.db.session(read_only=True) as session:
        key = api_keys.authenticate(session, authorization)
        api_keys.check_scope(key, scope)
        return Caller(key.id, key.name, tuple(key.scopes))


def require(scope: str) -> Any:
    """`dependencies=[require("read")]`, or `caller: Caller = require("manage")` to know who acts."""

    def dependency(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
        return authorised(request, authorization, scope)

    dependency.required_scope = scope  # read by the test that walks every route
    return Depends(dependency)
