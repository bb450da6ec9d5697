"""Long desk lists a page at a time: the page asked for, whether another follows, and the links to
the pages beside it, which keep the list's other parameters (a search, a status)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query
from sqlalchemy import Select
from sqlmodel import Session

MAX_PAGE = 10_000  # far past any list a person pages through; keeps the offset a small number
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 is the first page")]


@dataclass(frozen=True)
class Pager:
    path: str
    page: int
    size: int
    more: bool  # a page follows this one
    query: tuple[tuple[str, str], ...] = ()  # the list's other parameters, kept in the links

    def link(self, page: int) -> str:
        return f"{self.path}?" + urlencode([*((k, v) for k, v in self.query if v), ("page", page)])

    @property
    def previous(self) -> str | None:
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.page + 1) if self.more else None

    @property
    def first_row(self) -> int:
        return (self.page - 1) * self.size + 1


def page_of(session: Session, stmt: Select, path: str, page: int, size: int, **query: str) -> tuple[list[Any], Pager]:
    """One page of `stmt`'s rows (it must be ordered) and its pager; one row more is read to know
    whether another page follows."""
    rows = session.execute(stmt.offset((page - 1) * size).limit(size + 1)).all()
    return rows[:size], Pager(path, page, size, len(rows) > size, tuple(query.items()))
