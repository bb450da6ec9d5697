"""CSRF tokens for forms shown before there is a desk session: the sign-in form and the portal.

Signed double submit: a random nonce in an HttpOnly cookie, and in the form an HMAC of that
nonce and the form's scope ("login", or "portal:<customer id>"). A cross-site page can neither
read the cookie nor compute the HMAC, and a token taken from one customer's portal does not
work on another's. Desk forms after sign-in use the session's own token instead (sessions.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from dunning.config import Settings

COOKIE = "dunning_csrf"
FIELD = "csrf_token"


def _mac(settings: Settings, nonce: str, scope: str) -> str:
    key = hashlib.sha256(f"dunning.csrf:{settings.signing_key}".encode()).digest()
    return hmac.new(key, f"{nonce}|{scope}".encode(), hashlib.sha256).hexdigest()


def _nonce(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value and 20 <= len(value) <= 100 and value.replace("-", "").replace("_", "").isalnum() else None


def issue(request: Request, settings: Settings, scope: str) -> tuple[str, str | None]:
    """(the form's token, a new cookie value to set or None when the browser already has one)."""
    nonce = _nonce(request)
    fresh = None
    if nonce is None:
        nonce = fresh = secrets.token_urlsafe(24)
    return _mac(settings, nonce, scope), fresh


def set_cookie(response: Response, settings: Settings, value: str | None) -> None:
    if value is not None:
        response.set_cookie(
            COOKIE, value, httponly=True, samesite="lax", path="/", secure=settings.public_url.startswith("https://")
        )


def valid(request: Request, settings: Settings, scope: str, submitted: str | None) -> bool:
    nonce = _nonce(request)
    if nonce is None or not submitted:
        return False
    return hmac.compare_digest(_mac(settings, nonce, scope).encode(), submitted.encode())
