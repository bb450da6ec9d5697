"""What a browser sees when a desk or portal request is refused: a page, never JSON."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from dunning.web.templating import page

WEB_PREFIXES = ("/desk", "/portal")


class LoginRequired(Exception):
    pass


class WebRefusal(Exception):
    status = 403
    title = "Not allowed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(WebRefusal):
    title = "Not allowed"


class FormRefused(WebRefusal):
    status = 422
    title = "Not possible"

    def __init__(self, problem: str):
        super().__init__(f"The form cannot be accepted: {problem}")


class CsrfRefused(WebRefusal):
    title = "Form expired"

    def __init__(self) -> None:
        # the tests recognise this sentence: it proves the refusal came from the CSRF check
        super().__init__(
            "This form has expired or did not come from this site. Go back, reload the page and try again."
        )


def is_web(request: Request) -> bool:
    return request.url.path.startswith(WEB_PREFIXES)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    portal = request.url.path.startswith("/portal")
    return page("error.html", status_code=status, title=title, message=message, portal=portal)


def to_login(request: Request, _exc: LoginRequired) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/desk"
    return RedirectResponse(f"/desk/login?next={quote(target)}", status_code=303)


def refused(request: Request, exc: WebRefusal) -> HTMLResponse:
    return error_page(request, exc.status, exc.title, exc.message)
