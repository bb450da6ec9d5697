from __future__ import annotations

from fastapi import APIRouter

from dunning.cases import service
from dunning.cases.schemas import CaseOut, DunningSettingsIn, PauseIn
from dunning.clock import today
from dunning.deps import Caller, ClockDep, ExternalId, RowId, SessionDep, SettingsDep, require
from dunning.inputs import BoundedRoute
from dunning.ledger.queries import customer_detail
from dunning.ledger.schemas import CustomerDetail

router = APIRouter(prefix="/v1", tags=["cases"], route_class=BoundedRoute)


@router.get("/customers/{external_id:segment}/case", dependencies=[require("read")])
def get_case(
    external_id: ExternalId, session: SessionDep, clock: ClockDep, settings: SettingsDep, currency: str | None = None
) -> list[CaseOut]:
    """The customer's cases (one per currency): state, path, band, steps done and next, messages."""
    return service.case_detail(session, clock, settings, external_id, currency)


@router.patch("/customers/{external_id:segment}/dunning")
def update_dunning_settings(
    external_id: ExternalId,
    change: DunningSettingsIn,
    session: SessionDep,
    clock: ClockDep,
    caller: Caller = require("manage"),
) -> CustomerDetail:
    service.update_settings(session, clock, external_id, change, caller.actor)
    return customer_detail(session, external_id, today(clock))


@router.post("/cases/{case_id}/pause")
def pause_case(
    case_id: RowId, body: PauseIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> dict:
    case = service.pause(session, clock, case_id, reason="hold", until=body.until, actor=caller.actor)
    return {"id": case.id, "state": case.state, "paused_until": case.paused_until}


@router.post("/cases/{case_id}/resume")
def resume_case(case_id: RowId, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")) -> dict:
    case = service.resume(session, clock, case_id, actor=caller.actor, why="resumed by a person")
    return {"id": case.id, "state": case.state}
