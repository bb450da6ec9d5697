"""The desk's front page: the KPIs of the whole book."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from dunning.deps import ClockDep, SessionDep
from dunning.inputs import BoundedRoute
from dunning.policies import rate_store
from dunning.web import kpis
from dunning.web.desk import figures
from dunning.web.desk.deps import Agent, render

router = APIRouter(prefix="/desk", include_in_schema=False, route_class=BoundedRoute)


@router.get("")
def overview(desk: Agent, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    # A series without its rate for this half-year holds back every notice that claims fees.
    missing = rate_store.gaps(rate_store.load_book(session), clock.now().date())
    return render(
        session,
        desk,
        "desk/overview.html",
        active="overview",
        o=figures.load(session, clock),
        k=kpis,
        missing_rates=missing,
    )
