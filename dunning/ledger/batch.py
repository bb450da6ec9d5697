"""A pushed batch: its valid rows with their positions, and every problem found so far.

Shape errors (a missing field, a bad currency) and business errors (an unknown customer, a
duplicate) land in the same list, so one 422 names every bad row at once.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model

from dunning.errors import InvalidInput, TooLarge, row_error
from dunning.ledger.schemas import MAX_BATCH

M = TypeVar("M")  # a row type of ledger.schemas: a TypedDict, so every item is a plain dict


@lru_cache
def _one(row_type: type) -> TypeAdapter:
    return TypeAdapter(row_type)


@lru_cache
def _list_of(row_type: type) -> TypeAdapter:
    return TypeAdapter(list[row_type])


@lru_cache
def _wrapped(key: str, row_type: type) -> TypeAdapter:
    """{key: [rows]} with nothing else, up to the batch limit: validated straight from the bytes."""
    wrapper = create_model(f"{key}_batch", __config__=ConfigDict(extra="forbid"),
                           **{key: (list[row_type], Field(max_length=MAX_BATCH))})
    return TypeAdapter(wrapper)


@dataclass
class Batch(Generic[M]):
    items: list[tuple[int, M]]
    errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, row_type: type[M], rows: Sequence[dict[str, Any]]) -> "Batch[M]":
        """Rows built in code (the demo, tests): validated like pushed ones."""
        return cls.validate(list(enumerate(rows)), row_type)

    @classmethod
    def validate(cls, rows: Sequence[tuple[int, Any]], row_type: type[M]) -> "Batch[M]":
        batch: Batch[M] = cls([])
        try:  # the fast path: the whole list at once
            valid = _list_of(row_type).validate_python([r for _, r in rows])
            batch.items = [(i, m) for (i, _), m in zip(rows, valid)]
            return batch
        except ValidationError:
            pass
        for index, row in rows:
            try:
                batch.items.append((index, _one(row_type).validate_python(row)))
            except ValidationError as e:
                for err in e.errors():
                    where = ".".join(map(str, err["loc"])) or "row"
                    message = "is required" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
                    batch.add(index, where, message)
        return batch

    @classmethod
    def parse(cls, raw: bytes, key: str, row_type: type[M]) -> "Batch[M]":
        # JSON can only carry a NUL character escaped, so a body without the escape has none
        nul = b"\\u0000" in raw
        try:  # the fast path: a good batch never becomes Python dicts
            batch = cls(list(enumerate(getattr(_wrapped(key, row_type).validate_json(raw), key))))
            return batch.refuse_nul() if nul else batch
        except ValidationError:
            pass  # parse again slowly, to say exactly what is wrong with which row
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidInput("the body is not valid JSON", detail=[row_error(None, "body", f"malformed JSON: {e}")]) from None
        if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
            raise InvalidInput(f"the body must be an object with a '{key}' list",
                               detail=[row_error(None, key, "must be a list of objects")])
        extra = sorted(set(payload) - {key})
        if extra:
            raise InvalidInput(f"unexpected fields: {', '.join(extra)}",
                               detail=[row_error(None, name, "unexpected field") for name in extra])
        rows = payload[key]
        if len(rows) > MAX_BATCH:
            raise TooLarge(f"a batch takes at most {MAX_BATCH} items and this one has {len(rows)}; "
                           "split it into several requests")
        batch = cls.validate(list(enumerate(rows)), row_type)
        return batch.refuse_nul() if nul else batch

    def refuse_nul(self) -> "Batch[M]":
        """Text a database cannot store (PostgreSQL refuses NUL) is a row error, not a crash later.
        Such rows leave the batch at once: the service looks their keys up before it refuses the
        batch, and PostgreSQL refuses a NUL even as a query parameter."""
        clean = []
        for index, row in self.items:
            bad = [name for name, value in row.items()
                   if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value]))]
            for name in bad:
                self.add(index, name, "must not contain NUL characters")
            if not bad:
                clean.append((index, row))
        self.items = clean
        return self

    def add(self, index: int, field_name: str, message: str) -> None:
        self.errors.append(row_error(index, field_name, message))

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            self.errors.sort(key=lambda e: (e["index"], e["field"]))
            rows = len({e["index"] for e in self.errors})
            raise InvalidInput(f"{rows} of the {what} were refused; nothing was written", detail=self.errors)
