"""Domain errors: services raise these, one handler in app.py renders them.

Each carries its HTTP status so routes stay thin, and a `detail` payload that is safe to show.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "error"

    def __init__(self, message: str, *, detail: Any = None):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.detail is not None:
            out["errors"] = self.detail
        return out


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidInput(DomainError):
    """A request that is well-formed JSON but breaks a business rule. `detail` lists each bad row."""

    status = 422
    code = "invalid"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


def row_error(index: int | None, field: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message}
