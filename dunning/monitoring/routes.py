"""`/healthz`, `/readyz` and `/metrics`: for probes and scrapers, outside `/v1` and the OpenAPI
document (they are not the product's API; `/readyz` answers 503 by design)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dunning.deps import authorised
from dunning.monitoring.readiness import readiness

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers: nothing else is asked (a liveness probe must not fail with the database)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    found = readiness(state.db, state.scheduler_running)
    return JSONResponse(found.body(), status_code=200 if found.ready else 503)


@router.get("/metrics")
def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    if request.app.state.settings.metrics_require_key:
        authorised(request, authorization, "read")
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
