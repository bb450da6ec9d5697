"""Signing in and out of the desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from dunning import bounds
from dunning.deps import ClockDep, SessionDep, SettingsDep
from dunning.inputs import BoundedRoute
from dunning.web.auth import csrf, sessions, users
from dunning.web.desk.deps import Agent
from dunning.web.errors import CsrfRefused
from dunning.web.templating import page

router = APIRouter(prefix="/desk", include_in_schema=False, route_class=BoundedRoute)


def _safe_next(target: str | None) -> str:
    # only back into the desk: an open redirect would make a convincing phishing link
    if (
        not target
        or not target.startswith("/desk")
        or target.startswith("/desk/login")
        or "\\" in target
        or "//" in target
    ):
        return "/desk"
    return target


def _form(
    request: Request, settings, *, next_url: str, email: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    token, cookie = csrf.issue(request, settings, "login")
    response = page(
        "desk/login.html",
        status_code=status,
        csrf_token=token,
        next_url=next_url,
        email=email,
        error=error,
        max_failures=settings.login_max_failures,
        lockout=settings.login_lockout_minutes,
    )
    csrf.set_cookie(response, settings, cookie)
    return response


@router.get("/login")
def login_form(
    request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep, next: str | None = None
) -> HTMLResponse:
    if sessions.lookup(session, clock, settings, request.cookies.get(sessions.COOKIE)) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _form(request, settings, next_url=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    email: Annotated[bounds.line(320), Form()] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/desk",
) -> HTMLResponse:
    if not csrf.valid(request, settings, "login", csrf_token):
        raise CsrfRefused()
    user = users.authenticate(session, clock, settings, email, password)
    if user is None:
        return _form(
            request, settings, next_url=_safe_next(next), email=email, status=401, error="Wrong email or password."
        )
    cookie = sessions.start(session, clock, settings, user)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(sessions.COOKIE, cookie, **sessions.cookie_options(settings))
    return response


@router.post("/logout")
def logout(desk: Agent, session: SessionDep, settings: SettingsDep) -> RedirectResponse:
    sessions.end(session, desk.row)
    response = RedirectResponse("/desk/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, **sessions.cookie_options(settings))
    return response
