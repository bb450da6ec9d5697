"""Cursor pagination of lists ordered by row id: a page, and an opaque cursor to the next one."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from dunning import bounds
from dunning.errors import InvalidInput

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[bounds.line(100) | None, Query()]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The last id of the previous page (0 for the first page)."""
    if not cursor:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError:
        value = -1
    if not 0 <= value <= bounds.MAX_INT:
        raise InvalidInput("invalid cursor: pass back the next_cursor of the previous page")
    return value


def page(rows: list[Any], limit: int, to_out: Callable[[Any], T], last_id=lambda row: row.id) -> Page[T]:
    """`rows`: up to limit + 1 of them; one more than asked for says there is a next page."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[to_out(r) for r in rows], next_cursor=encode_cursor(last_id(rows[-1])) if more and rows else None
    )
