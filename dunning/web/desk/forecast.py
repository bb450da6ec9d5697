"""The cash forecast at the desk: per currency, the cash expected each week (promised and
predicted, with its band), what is expected beyond the horizon and what is disputed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from dunning.clock import today
from dunning.deps import ClockDep, SessionDep
from dunning.forecast import service
from dunning.forecast.routes import Weeks
from dunning.inputs import BoundedRoute
from dunning.web.desk.deps import Agent, render

router = APIRouter(prefix="/desk", include_in_schema=False, route_class=BoundedRoute)
CHOICES = (4, 8, 13, 26, 52)  # the horizons offered; any 1-52 works in the address


@router.get("/forecast")
def forecast(desk: Agent, session: SessionDep, clock: ClockDep, weeks: Weeks = 13) -> HTMLResponse:
    return render(
        session,
        desk,
        "desk/forecast.html",
        active="forecast",
        f=service.cash_forecast(session, today(clock), weeks),
        choices=CHOICES,
    )
