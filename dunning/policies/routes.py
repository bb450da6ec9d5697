from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dunning import bounds
from dunning.deps import Body, Caller, ClockDep, PolicyName, SessionDep, require
from dunning.errors import InvalidInput
from dunning.inputs import BoundedRoute
from dunning.policies import service
from dunning.policies.models import PolicyVersion

router = APIRouter(prefix="/v1/policies", tags=["policies"], route_class=BoundedRoute)


class PolicyOut(BaseModel):
    name: str
    version: int
    format: str
    document: str
    created_by: str
    created_at: datetime


def _out(row: PolicyVersion) -> PolicyOut:
    return PolicyOut.model_validate(row, from_attributes=True)


def _document(body: bytes) -> str:
    """The body is the YAML or JSON document itself, or JSON {"document": "..."}."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the policy document must be UTF-8 text") from None
    if text.lstrip().startswith("{"):
        try:
            data = bounds.load_json(text)
        except json.JSONDecodeError:
            return text  # let the policy parser say where the JSON breaks
        if isinstance(data, dict) and set(data) == {"document"} and isinstance(data["document"], str):
            return data["document"]
    return text


@router.get("", dependencies=[require("read")])
def list_policies(session: SessionDep) -> list[PolicyOut]:
    return [_out(r) for r in service.list_latest(session)]


@router.get("/{name}", dependencies=[require("read")])
def get_policy(
    name: PolicyName, session: SessionDep, version: Annotated[bounds.Id | None, Query()] = None
) -> PolicyOut:
    return _out(service.get(session, name, version))


@router.put(
    "/{name}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def put_policy(
    name: PolicyName, body: Body, session: SessionDep, clock: ClockDep, caller: Caller = require("manage")
) -> PolicyOut:
    return _out(service.save(session, clock, name, _document(body), caller.actor))
