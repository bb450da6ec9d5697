"""Mounting the browser side on the app: routers, static files, refusal pages, security headers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from dunning.web.desk import customers, forecast, login, outbox, overview, people, policies, worklist
from dunning.web.errors import LoginRequired, WebRefusal, refused, to_login
from dunning.web.portal import routes as portal
from dunning.web.templating import STATIC
from dunning.web.unsubscribe import router as unsubscribe

# Sent with every desk and portal page. The portal's address is its credential: no Referer may
# carry it to the payment site or anywhere else. Scripts and styles only from this site's files,
# none inline; emails are shown in sandboxed frames under a policy of their own (desk/outbox.py).
SECURITY_HEADERS = {
    "/desk": {
        "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-src 'self'; object-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'",
        "referrer-policy": "same-origin",
        "x-frame-options": "SAMEORIGIN",
        "cache-control": "no-store",
    },
    "/portal": {
        "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cache-control": "no-store",
    },
}


class SecurityHeaders:
    """Plain ASGI middleware (no BaseHTTPMiddleware: it would buffer the PDFs)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = None
        if scope["type"] == "http":
            headers = next((h for prefix, h in SECURITY_HEADERS.items() if scope["path"].startswith(prefix)), None)
        if headers is None:
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in {**headers, "x-content-type-options": "nosniff"}.items()
                    if k.encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def favicon() -> FileResponse:
    # browsers ask for it at the root, whatever the page links to
    return FileResponse(
        STATIC / "web" / "favicon.ico",
        media_type="image/vnd.microsoft.icon",
        headers={"cache-control": "public, max-age=86400"},
    )


def install(app: FastAPI) -> None:
    for module in (login, overview, worklist, forecast, customers, policies, outbox, people, portal):
        app.include_router(module.router)
    app.include_router(unsubscribe)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(WebRefusal, refused)
    app.add_middleware(SecurityHeaders)
