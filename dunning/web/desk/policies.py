"""Policies: the documents, an editor that shows each error at its line, and a preview of what
the next 30 days would send before anything is saved."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlmodel import Session, col

from dunning import bounds
from dunning.cases import preview
from dunning.deps import ClockDep, PolicyName, SessionDep, SettingsDep
from dunning.inputs import BoundedRoute, segment
from dunning.ledger.models import Customer
from dunning.policies import service
from dunning.policies.document import MAX_DOCUMENT, PolicyError
from dunning.web.auth import sessions
from dunning.web.desk.deps import Desk, Manager, render

router = APIRouter(prefix="/desk/policies", include_in_schema=False, route_class=BoundedRoute)
PREVIEW_DAYS = 30
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@router.get("")
def policy_list(desk: Manager, session: SessionDep, new: Annotated[bounds.line(100), Query()] = "") -> HTMLResponse:
    if new.strip():  # the "new policy" form: its editor starts from the default document
        return RedirectResponse(f"/desk/policies/{segment(new.strip().lower())}", status_code=303)
    used = dict(
        session.execute(select(col(Customer.policy_name), func.count()).group_by(col(Customer.policy_name))).all()
    )
    return render(session, desk, "desk/policies.html", active="policies", rows=service.list_latest(session), used=used)


def _editor(
    session: Session,
    desk: Desk,
    name: str,
    document: str,
    *,
    errors=None,
    rows=None,
    status: int = 200,
    version: int | None = None,
) -> HTMLResponse:
    lines_with_errors = sorted({e["line"] for e in errors or [] if e.get("line")})
    return render(
        session,
        desk,
        "desk/policy.html",
        status_code=status,
        active="policies",
        name=name,
        document=document,
        errors=errors or [],
        bad_lines=lines_with_errors,
        rows=rows,
        days=PREVIEW_DAYS,
        version=version,
        line_count=max(document.count("\n") + 1, 1),
    )


def _new_document(name: str) -> str:
    # a new policy starts as a copy of the shipped default, renamed
    return re.sub(r"^name: .*$", f"name: {name}", service.default_document(), count=1, flags=re.M)


@router.get("/{name}")
def edit(name: PolicyName, desk: Manager, session: SessionDep) -> HTMLResponse:
    row = service.latest(session, name)
    if row is None and not NAME.match(name):
        return _editor(
            session,
            desk,
            name,
            "",
            status=422,
            errors=[{"line": None, "field": "name", "message": "a policy name is lower-case letters, digits, - and _"}],
        )
    return _editor(
        session, desk, name, row.document if row else _new_document(name), version=row.version if row else None
    )


@router.post("/{name}")
def submit(
    name: PolicyName,
    desk: Manager,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",  # parse_policy checks the text
    action: Annotated[Literal["preview", "save"], Form()] = "preview",
) -> HTMLResponse:
    document = document.replace("\r\n", "\n")  # browsers send CRLF; line numbers count LF
    current = service.latest(session, name)
    version = current.version if current else None
    try:
        if action == "save":
            row = service.save(session, clock, name, document, desk.actor)
            sessions.flash(desk.row, "ok", f"Policy {name} saved as version {row.version}")
            session.add(desk.row)
            return RedirectResponse(f"/desk/policies/{segment(name)}", status_code=303)
        rows = preview.preview(session, clock, settings, name, document, PREVIEW_DAYS)
    except PolicyError as e:
        return _editor(session, desk, name, document, errors=e.errors, status=422, version=version)
    return _editor(session, desk, name, document, rows=rows, version=version)
