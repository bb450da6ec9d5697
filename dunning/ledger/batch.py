"""A pushed batch: its valid rows with their positions, and every problem found so far.

Shape errors (a missing field, a bad date) and business errors (an unknown currency, an unknown
customer, a duplicate) land in the same list, so one 422 names every bad row at once, and every
bad field of a row: a row refused for its shape is kept as sent (`refused`), and the service's
checks that need no database run on its other fields too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model

from dunning.bounds import explain, load_json, text_problem
from dunning.errors import InvalidInput, TooLarge, row_error
from dunning.ledger.schemas import MAX_BATCH, MULTILINE_FIELDS
from dunning.words import refused

M = TypeVar("M", bound=Mapping[str, Any])  # a row type of ledger.schemas: a TypedDict, so every item is a plain dict
# JSON carries a control character in a string only escaped ("\n", "\u0007"), or as DEL, a C1
# control (UTF-8 C2 80-9F) or a line separator (E2 80 A8/A9): a body with none of these bytes has
# no text to check, and the bulk path pays nothing for the check.
CONTROL_HINTS = (b"\\", b"\x7f", b"\xc2", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


@lru_cache
def _one(row_type: type) -> TypeAdapter[Any]:
    return TypeAdapter(row_type)


@lru_cache
def _list_of(row_type: type) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[row_type])


@lru_cache
def _wrapped(key: str, row_type: type) -> TypeAdapter[Any]:
    """{key: [rows]} with nothing else, up to the batch limit: validated straight from the bytes."""
    fields: dict[str, Any] = {key: (list[row_type], Field(max_length=MAX_BATCH))}
    wrapper = create_model(f"{key}_batch", __config__=ConfigDict(extra="forbid"), **fields)
    return TypeAdapter(wrapper)


@dataclass
class Batch(Generic[M]):
    items: list[tuple[int, M]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    # rows left out of `items` for their shape or their text, as sent (only mappings are kept)
    refused: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)
    _flagged: set[tuple[int, str]] = field(default_factory=set)

    @classmethod
    def of(cls, row_type: type[M], rows: Sequence[dict[str, Any]]) -> Batch[M]:
        """Rows built in code (the demo, tests): validated like pushed ones."""
        return cls.validate(list(enumerate(rows)), row_type)

    @classmethod
    def validate(cls, rows: Sequence[tuple[int, Any]], row_type: type[M]) -> Batch[M]:
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
                    batch.add(index, ".".join(map(str, err["loc"])) or "row", explain(err))
                if isinstance(row, dict):
                    batch.refused.append((index, row))
        return batch

    @classmethod
    def parse(cls, raw: bytes, key: str, row_type: type[M]) -> Batch[M]:
        controls = any(hint in raw for hint in CONTROL_HINTS)
        try:  # the fast path: a good batch never becomes Python dicts
            rows = getattr(_wrapped(key, row_type).validate_json(raw), key)
        except ValidationError as e:
            problem = next((err for err in e.errors() if err["type"] == "json_invalid"), None)
            if problem is not None:  # syntax, nesting deeper than the parser takes, a number too long
                raise _malformed(problem["msg"].removeprefix("Invalid JSON: ")) from None
            rows = None
        if rows is not None:
            batch = cls(list(enumerate(rows)))
            return batch.refuse_text() if controls else batch
        # Parsed again slowly, to say exactly what is wrong with which row; also a batch with JSON
        # numbers with decimals, each now read as the text that was written (schemas.Amount)
        try:
            payload = load_json(raw)
        except json.JSONDecodeError as e:
            raise _malformed(str(e)) from None
        if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
            raise InvalidInput(
                f"the body must be an object with a '{key}' list",
                detail=[row_error(None, key, "must be a list of objects")],
            )
        extra = sorted(set(payload) - {key})
        if extra:
            raise InvalidInput(
                f"unexpected fields: {', '.join(extra)}",
                detail=[row_error(None, name, "unexpected field") for name in extra],
            )
        rows = payload[key]
        if len(rows) > MAX_BATCH:
            raise TooLarge(
                f"a batch takes at most {MAX_BATCH} items and this one has {len(rows)}; split it into several requests"
            )
        batch = cls.validate(list(enumerate(rows)), row_type)
        return batch.refuse_text() if controls else batch

    def refuse_text(self) -> Batch[M]:
        """Text that cannot be stored or sent (NUL, control characters, a line break in a one-line
        field such as a name) is a row error, not a crash later. Such rows leave the batch at once:
        the service looks their keys up before it refuses the batch, and PostgreSQL refuses a NUL
        even as a query parameter."""
        clean = []
        for index, row in self.items:
            problems = _text_problems(row)
            for name, problem in problems:
                self.add(index, name, problem)
            if problems:
                self.refused.append((index, row))
            else:
                clean.append((index, row))
        self.items = clean
        return self

    def add(self, index: int, field_name: str, message: str) -> None:
        self.errors.append(row_error(index, field_name, message))
        self._flagged.add((index, field_name.split(".")[0]))

    def flagged(self, index: int, field_name: str) -> bool:
        return (index, field_name) in self._flagged

    def unflagged(self) -> list[tuple[int, dict[str, Any]]]:
        """The refused rows, each without the fields already said to be wrong."""
        return [(index, {k: v for k, v in row.items() if not self.flagged(index, k)}) for index, row in self.refused]

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            self.errors.sort(key=lambda e: (e["index"], e["field"]))
            raise InvalidInput(refused(len({e["index"] for e in self.errors}), what), detail=self.errors)


def _text_problems(row: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The first text problem of each field, nested rows (a customer's contacts) included."""
    found = []
    for name, value in row.items():
        for position, item in enumerate(value if isinstance(value, list) else (value,)):
            if isinstance(item, dict):
                found += _text_problems(item, f"{prefix}{name}.{position}.")
            elif isinstance(item, str) and (problem := text_problem(item, name in MULTILINE_FIELDS)):
                found.append((prefix + name, problem))
                break
    return found


def _malformed(reason: str) -> InvalidInput:
    return InvalidInput("the body is not valid JSON", detail=[row_error(None, "body", f"malformed JSON: {reason}")])
