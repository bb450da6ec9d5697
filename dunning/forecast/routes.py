from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dunning.clock import today
from dunning.deps import ClockDep, SessionDep, require
from dunning.forecast import service
from dunning.forecast.schemas import CashForecastOut, forecast_out
from dunning.inputs import BoundedRoute

router = APIRouter(prefix="/v1", tags=["reports"], route_class=BoundedRoute)
Weeks = Annotated[int, Query(ge=1, le=service.MAX_WEEKS, description="weeks ahead, 1 to 52")]


@router.get("/reports/cash-forecast", dependencies=[require("read")])
def cash_forecast(session: SessionDep, clock: ClockDep, weeks: Weeks = 13) -> CashForecastOut:
    """Expected cash per week and currency, from today (the service's clock): week 1 is today and
    the six days after it. Each week splits into money promised (open promises, plan
    installments, at their dates) and predicted (the rest of each open, undisputed invoice, by its
    payment-date distribution conditioned on its being open today), with a 10-90 % band. What is
    expected after the last week and what is disputed are shown apart: the weeks, beyond and
    disputed add up to the open balance exactly."""
    return forecast_out(service.cash_forecast(session, today(clock), weeks))
