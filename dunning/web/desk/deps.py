"""Who is at the desk: the signed-in person, their role, and the CSRF check of every POST."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from dunning.deps import ClockDep, SessionDep, SettingsDep
from dunning.errors import DomainError
from dunning.inputs import form_problem
from dunning.records.desk import DeskSession, DeskUser
from dunning.web.auth import sessions
from dunning.web.auth.users import has_role
from dunning.web.errors import CsrfRefused, FormRefused, LoginRequired, NotAllowed
from dunning.web.templating import page


@dataclass
class Desk:
    user: DeskUser
    row: DeskSession

    @property
    def actor(self) -> str:
        return f"user:{self.user.email}"

    def can(self, role: str) -> bool:
        return has_role(self.user.role, role)


def signed_in(request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> Desk:
    found = sessions.lookup(session, clock, settings, request.cookies.get(sessions.COOKIE))
    if found is None:
        raise LoginRequired()
    return Desk(user=found[1], row=found[0])


async def posted_token(request: Request) -> str | None:
    """The form's CSRF token, read before the session is looked up: no transaction (SQLite's write
    lock) is held while a client sends its body."""
    if request.method != "POST":
        return None
    token = (await request.form()).get("csrf_token")  # parsed once: the route's Form() fields read the same copy
    return token if isinstance(token, str) else None


def role(minimum: str) -> Any:
    async def dependency(
        request: Request, token: Annotated[str | None, Depends(posted_token)], desk: Annotated[Desk, Depends(signed_in)]
    ) -> Desk:
        if request.method == "POST":
            if not sessions.csrf_ok(desk.row, token):
                raise CsrfRefused()
            if problem := form_problem(await request.form()):  # the copy posted_token parsed
                raise FormRefused(problem)
        if not desk.can(minimum):
            raise NotAllowed(f"This page is for the {minimum} role; you are signed in as {desk.user.role}.")
        return desk

    dependency.required_role = minimum  # read by the test that walks every desk route
    return Depends(dependency)


Agent = Annotated[Desk, role("agent")]
Manager = Annotated[Desk, role("manager")]
Admin = Annotated[Desk, role("admin")]


def render(session: Session, desk: Desk, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return page(
        template,
        status_code=status_code,
        desk=desk,
        csrf_token=desk.row.csrf_token,
        flashes=sessions.take_flash(session, desk.row),
        **context,
    )


def act(
    session: Session, desk: Desk, back: str, action: Callable[[], Any], done: str | Callable[[Any], str]
) -> RedirectResponse:
    """Run one desk action in a savepoint: a refused action (a DomainError) leaves nothing behind and
    comes back as a message on the page, a done one as a confirmation. Either way: POST, redirect, GET."""
    savepoint = session.begin_nested()
    try:
        result = action()
        savepoint.commit()
    except DomainError as e:
        savepoint.rollback()
        sessions.flash(desk.row, "error", e.message)
    else:
        sessions.flash(desk.row, "ok", done if isinstance(done, str) else done(result))
    session.add(desk.row)
    return RedirectResponse(back, status_code=303)
