from __future__ import annotations

from fastapi import APIRouter

from dunning.deps import Caller, ClockDep, ExternalId, SessionDep, SettingsDep, require
from dunning.inputs import BoundedRoute
from dunning.ledger.queries import get_customer
from dunning.scoring import registry, rescore, service
from dunning.scoring.schemas import ModelOut, ScoreOut, TrainOut

router = APIRouter(prefix="/v1", tags=["scoring"], route_class=BoundedRoute)


def _model(row) -> ModelOut:
    return ModelOut.model_validate(row, from_attributes=True)


@router.get("/customers/{external_id:segment}/score", dependencies=[require("read")])
def get_score(external_id: ExternalId, session: SessionDep, settings: SettingsDep) -> ScoreOut:
    """The customer's newest score and its band; never scored: the baseline, computed now."""
    return rescore.customer_score(session, settings, get_customer(session, external_id))


@router.get("/models", dependencies=[require("read")])
def list_models(session: SessionDep) -> list[ModelOut]:
    return [_model(r) for r in registry.versions(session)]


@router.post("/models/train")
def train_model(
    session: SessionDep, clock: ClockDep, settings: SettingsDep, caller: Caller = require("manage")
) -> TrainOut:
    """Train a challenger on the ledger now (synchronously: seconds for tens of thousands of
    invoices) and promote it if it does better than the champion."""
    r = service.train(session, clock, settings, actor=caller.actor)
    return TrainOut(
        outcome=r.outcome,
        promoted=r.promoted,
        version=r.version,
        message=r.message,
        comparison=service.json_safe(r.comparison),
    )


@router.post("/models/{version}/promote")
def promote_model(version: str, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")) -> ModelOut:
    """Make this version the champion (also the way back to an earlier one). Scores follow at the
    next rescore."""
    return _model(registry.promote(session, clock, version, caller.actor))
