from __future__ import annotations

from fastapi import APIRouter

from dunning.arrangements import service
from dunning.arrangements.schemas import DisputeIn, DisputeOut, PlanIn, PlanOut, PromiseIn, PromiseOut, ResolveIn
from dunning.deps import Caller, ClockDep, ExternalId, SessionDep, SettingsDep, require
from dunning.inputs import BoundedRoute

router = APIRouter(prefix="/v1", tags=["arrangements"], route_class=BoundedRoute)


@router.post("/customers/{external_id:segment}/promises", status_code=201)
def add_promise(
    external_id: ExternalId, body: PromiseIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> PromiseOut:
    """Record a promise to pay: the case pauses until the date plus the policy's grace days."""
    return service.add_promise(session, clock, external_id, body, caller.actor)


@router.get("/customers/{external_id:segment}/promises", dependencies=[require("read")])
def list_promises(external_id: ExternalId, session: SessionDep) -> list[PromiseOut]:
    return service.list_promises(session, external_id)


@router.post("/customers/{external_id:segment}/plans", status_code=201)
def add_plan(
    external_id: ExternalId, body: PlanIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> PlanOut:
    """Set up an installment plan covering the customer's open balance in one currency."""
    return service.add_plan(session, clock, external_id, body, caller.actor)


@router.get("/customers/{external_id:segment}/plans", dependencies=[require("read")])
def list_plans(external_id: ExternalId, session: SessionDep) -> list[PlanOut]:
    return service.list_plans(session, external_id)


@router.get("/customers/{external_id:segment}/disputes", dependencies=[require("read")])
def list_disputes(external_id: ExternalId, session: SessionDep) -> list[DisputeOut]:
    return service.list_disputes(session, external_id)


@router.post("/invoices/{external_id:segment}/dispute", status_code=201)
def add_dispute(
    external_id: ExternalId,
    body: DisputeIn,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    caller: Caller = require("manage"),
) -> DisputeOut:
    """Open a dispute: the invoice leaves the reminders until it is resolved; the team gets a task."""
    return service.add_dispute(session, clock, settings, external_id, body, caller.actor)


@router.post("/invoices/{external_id:segment}/dispute/resolve")
def resolve_dispute(
    external_id: ExternalId, body: ResolveIn, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> DisputeOut:
    return service.resolve_dispute(session, clock, external_id, body, caller.actor)
