"""Desk accounts, for admins: who can sign in, with which role; unlock and deactivate."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse

from dunning import bounds
from dunning.deps import ClockDep, RowId, SessionDep
from dunning.errors import Conflict
from dunning.inputs import BoundedRoute
from dunning.records.desk import ROLES
from dunning.web.auth import users
from dunning.web.desk.deps import Admin, act, render

router = APIRouter(prefix="/desk/users", include_in_schema=False, route_class=BoundedRoute)


@router.get("")
def user_list(desk: Admin, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    return render(
        session, desk, "desk/users.html", active="users", rows=users.list_all(session), roles=ROLES, now=clock.now()
    )


@router.post("")
def create(
    desk: Admin,
    session: SessionDep,
    clock: ClockDep,
    email: Annotated[bounds.line(320), Form()],
    role: Annotated[Literal["agent", "manager", "admin"], Form()],
    password: Annotated[str, Form(max_length=1000)],
    name: Annotated[bounds.line(200), Form()] = "",
) -> RedirectResponse:
    return act(
        session,
        desk,
        "/desk/users",
        lambda: users.create(
            session, clock, email=email, role=role, password=password, name=name or None, actor=desk.actor
        ),
        lambda u: f"{u.email} can now sign in as {u.role}",
    )


@router.post("/{user_id}/unlock")
def unlock(user_id: RowId, desk: Admin, session: SessionDep, clock: ClockDep) -> RedirectResponse:
    return act(
        session,
        desk,
        "/desk/users",
        lambda: users.unlock(session, clock, user_id, desk.actor),
        lambda u: f"{u.email} unlocked",
    )


@router.post("/{user_id}/active")
def set_active(
    user_id: RowId, desk: Admin, session: SessionDep, clock: ClockDep, active: Annotated[bool, Form()]
) -> RedirectResponse:
    def change():
        if user_id == desk.user.id and not active:
            raise Conflict("you cannot deactivate your own account")
        return users.set_active(session, clock, user_id, active, desk.actor)

    return act(
        session,
        desk,
        "/desk/users",
        change,
        lambda u: f"{u.email} {'can sign in again' if u.active else 'can no longer sign in'}",
    )
