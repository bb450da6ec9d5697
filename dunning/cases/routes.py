from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from dunning import bounds
from dunning.cases import preview, service
from dunning.cases.schemas import CaseOut, DunningSettingsIn, PauseIn
from dunning.clock import today
from dunning.deps import Caller, ClockDep, ExternalId, PolicyName, RowId, SessionDep, SettingsDep, require
from dunning.inputs import BoundedRoute, Input
from dunning.ledger.queries import customer_detail
from dunning.ledger.schemas import CustomerDetail
from dunning.policies.document import MAX_DOCUMENT

router = APIRouter(prefix="/v1", tags=["cases"], route_class=BoundedRoute)
# the policy preview runs the cycle's own views, so it lives here; its path is the policy's
previews = APIRouter(prefix="/v1/policies", tags=["policies"], route_class=BoundedRoute)


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
) -> dict[str, Any]:
    case = service.pause(session, clock, case_id, reason="hold", until=body.until, actor=caller.actor)
    return {"id": case.id, "state": case.state, "paused_until": case.paused_until}


@router.post("/cases/{case_id}/resume")
def resume_case(
    case_id: RowId, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> dict[str, Any]:
    case = service.resume(session, clock, case_id, actor=caller.actor, why="resumed by a person")
    return {"id": case.id, "state": case.state}


class PreviewIn(Input):
    days: int = Field(30, ge=1, le=366)
    document: bounds.text(MAX_DOCUMENT) | None = Field(
        None, description="an unsaved version of the policy to preview instead"
    )


@previews.post("/{name}/preview", dependencies=[require("manage")])
def preview_policy(
    name: PolicyName, request: PreviewIn, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> list[preview.PreviewRow]:
    return preview.preview(session, clock, settings, name, request.document, request.days)
