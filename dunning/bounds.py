"""Bounds at the door: what an input may carry, defined once and used by every parser (the API's
bodies, query strings and paths, the bulk batches, CSV files, desk and portal forms, the command
line). Anything outside them is refused before any work is done with it, with a message naming the
field, so that nothing downstream (date arithmetic, a database column, an e-mail header, a sum)
meets a value it cannot handle. README "Input bounds" lists them for users.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any

import pydantic_core
from annotated_types import Ge, Le
from pydantic import AfterValidator, StringConstraints

from dunning.clock import as_utc

# ---- dates ------------------------------------------------------------------------------------
# No business document is dated before 1900 or after 2200. Outside, "0001-01-01" (a common empty
# date in ERP exports) or "9999-12-31" would overflow the date arithmetic of the engine (a due date
# plus the steps' days, a plan's months, a pause in the customer's time zone).
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)
WINDOW = f"dates run from {EARLIEST.isoformat()} to {LATEST.isoformat()}"


def check_day(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"{value.isoformat()} is out of range: {WINDOW}")
    return value


def check_moment(value: datetime) -> datetime:
    """A moment's own calendar day, before any time zone arithmetic: 9999-12-31T23:59:59-12:00
    is a valid datetime that no conversion to UTC survives."""
    check_day(value.date())
    return value


def utc_moment(value: datetime) -> datetime:
    """A moment in UTC, as the database keeps them; one written without an offset is read as UTC."""
    return as_utc(check_moment(value))


# pydantic checks these constraints natively (no Python call per value on the bulk path)
Day = Annotated[date, Ge(EARLIEST), Le(LATEST)]
Moment = Annotated[datetime, AfterValidator(utc_moment)]

# ---- integers ---------------------------------------------------------------------------------
# Row ids, versions and counts that reach a query: PostgreSQL's INTEGER. A larger number is a 422,
# not an overflow inside the driver.
MAX_INT = 2**31 - 1
Id = Annotated[int, Ge(1), Le(MAX_INT)]

# ---- text -------------------------------------------------------------------------------------
# Ids, names and other single-line fields carry no control character and no line break (a CR/LF in
# a name would break every e-mail header it goes into); free text (notes, addresses, dispute text)
# may have tabs and line breaks, nothing else below U+0020. Lone surrogates cannot be stored.
_NOT_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BREAKS = "\r\n\u2028\u2029"


def first_unstorable(value: str, multiline: bool = False) -> int | None:
    """Where the first character `value` may not carry is, or None. str.isprintable() first: it
    is true for nearly everything real, and the regular expression only runs when it is not."""
    if value.isprintable():
        return None
    found = (_NOT_IN_TEXT if multiline else _NOT_IN_LINE).search(value)
    return None if found is None else found.start()


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why `value` may not be stored, or None."""
    at = first_unstorable(value, multiline)
    if at is None:
        return None
    char = value[at]
    if char == "\x00":
        return "must not contain NUL characters"
    if char in _BREAKS:
        return f"must be on one line (a line break at character {at + 1})"
    return f"must not contain control characters (U+{ord(char):04X} at character {at + 1})"


def check_line(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def check_text(value: str) -> str:
    if problem := text_problem(value, multiline=True):
        raise ValueError(problem)
    return value


# An external id is whatever its accounting system writes ("INV/2026/0001" included: links encode
# it), except "." and "..", which no URL can carry as a path segment: clients and browsers remove
# them as "this" and "the parent" before the request is sent, even percent-encoded.
NOT_A_DOT_SEGMENT = r"(?s)^(?:[^.]|\.[^.]|\.\..).*$"


class _Multiline:
    """Marks a field of a request model as free text (see dunning.inputs.Input)."""

    def __repr__(self) -> str:
        return "MULTILINE"


MULTILINE = _Multiline()


def line(max_length: int, min_length: int = 0) -> Any:
    """A single-line text type of bounded length: Annotated[bounds.line(100), Form()]."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(check_line),
    ]


def text(max_length: int) -> Any:
    """A free-text type of bounded length (line breaks allowed)."""
    return Annotated[str, StringConstraints(max_length=max_length), MULTILINE, AfterValidator(check_text)]


# ---- JSON -------------------------------------------------------------------------------------
# Nesting is bounded while parsing, by pydantic-core's parser (tests/test_bounds.py pins the
# figure): a 1,000-deep body is refused in microseconds instead of exhausting Python's stack.
MAX_JSON_DEPTH = 201
_AT = re.compile(r" at line (\d+) column (\d+)$")


def load_json(raw: bytes | str) -> Any:
    """JSON as Python objects, or json.JSONDecodeError. A number with decimals stays the text that
    was written ("10.000000000000000001"), never a float: the fields that take one (amounts,
    thresholds) parse it from there. Syntax, nesting and number sizes are checked by
    pydantic-core's parser in Rust before the standard library builds anything from the text."""
    try:
        pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as e:
        raise _decode_error(str(e), raw) from None
    try:
        return json.loads(raw, parse_float=str)
    except ValueError as e:  # what the first parser let through and this one refuses (rare)
        raise _decode_error(str(e), raw) from None


def _decode_error(message: str, raw: bytes | str) -> json.JSONDecodeError:
    """pydantic-core says "... at line 3 column 7": a JSONDecodeError pointing there."""
    doc = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    found = _AT.search(message)
    pos = 0
    if found:
        line_no, column = int(found[1]), int(found[2])
        starts = [0] + [m.end() for m in re.finditer("\n", doc)]
        pos = min(starts[min(line_no, len(starts)) - 1] + column - 1, len(doc))
        message = message[: found.start()]
    return json.JSONDecodeError(message, doc, pos)


# ---- messages ---------------------------------------------------------------------------------


def explain(error: Mapping[str, Any]) -> str:
    """pydantic's message for one error, as the service words it (the date window's own words
    rather than "Input should be greater than or equal to 1900-01-01")."""
    if error.get("type") == "missing":
        return "is required"
    ctx = error.get("ctx") or {}
    if str(ctx.get("ge")) == EARLIEST.isoformat() or str(ctx.get("le")) == LATEST.isoformat():
        return f"{error.get('input')} is out of range: {WINDOW}"
    if ctx.get("pattern") == NOT_A_DOT_SEGMENT:
        return "'.' and '..' cannot be ids: no link can carry them"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")
