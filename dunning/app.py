"""The FastAPI application: routers, the one error handler, and start-up."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from dunning import api_keys, apidocs, logs, subscriptions
from dunning.arrangements.routes import router as arrangements_router
from dunning.bounds import explain
from dunning.cases.routes import previews as policy_previews_router
from dunning.cases.routes import router as cases_router
from dunning.clock import Clock, SystemClock
from dunning.config import Settings, get_settings
from dunning.db import Database, make_engine
from dunning.errors import DomainError
from dunning.forecast.routes import router as forecast_router
from dunning.guards import BodyLimit, LastResort, redact_access_log
from dunning.inputs import UrlGuard
from dunning.ledger.routes import BATCH_SCHEMAS
from dunning.ledger.routes import router as ledger_router
from dunning.monitoring import metrics
from dunning.monitoring.routes import router as monitoring_router
from dunning.monitoring.state import StateCollector
from dunning.outbox.routes import router as outbox_router
from dunning.payments.routes import router as payments_router
from dunning.policies import rate_store
from dunning.policies import service as policy_service
from dunning.policies.routes import router as policies_router
from dunning.replies.routes import router as replies_router
from dunning.scoring.routes import router as scoring_router
from dunning.tasks.routes import router as tasks_router
from dunning.web import site
from dunning.web.errors import error_page, is_web
from dunning.webhooks.egress import Resolver, system_resolver
from dunning.webhooks.routes import router as webhooks_router
from dunning.words import refused

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    embedded_worker: bool | None = None,
    resolve: Resolver | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    database = database or Database(make_engine(settings.database_url))
    clock = clock or SystemClock()
    run_worker = settings.embedded_worker if embedded_worker is None else embedded_worker
    subscriptions.connect()
    _ = settings.signing_key  # no secret configured (development): generated now, on first start, not at the first link

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        logs.startup(settings, logs.embedded_worker(settings, run_worker))
        with database.session() as session:
            policy_service.ensure_default(session, clock)  # the shipped default, on first start
            rate_store.warn_gaps(session, clock)  # a rate missing for this half-year holds notices back
            if settings.bootstrap_api_key:
                api_keys.ensure_key(session, clock, "bootstrap", settings.bootstrap_api_key, ["admin"])
        if settings.demo:
            await asyncio.to_thread(load_demo_if_empty, settings, database, clock)
        if run_worker:
            from dunning.scheduler import start_embedded

            app.state.worker = await start_embedded(settings, database, clock, app.state.resolve)
        try:
            yield
        finally:
            if app.state.worker is not None:
                await app.state.worker.stop()
                app.state.worker = None

    app = FastAPI(
        title="Dunning",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Dunning and collections automation: ledger ingest, escalation, reminders.",
    )
    apidocs.install(app)  # /docs and /redoc from the service's own assets, not a CDN
    # Middleware added first runs innermost: the 500 answer gets the security headers, and the
    # body limit stands before everything.
    app.add_middleware(LastResort, answer=unexpected_error)
    app.add_middleware(UrlGuard)
    app.state.settings, app.state.db, app.state.clock = settings, database, clock
    app.state.resolve = resolve or system_resolver
    app.state.worker = None  # the embedded worker, while it runs
    # /readyz asks after the embedded scheduler only when this process is meant to run one
    app.state.scheduler_running = (
        (lambda: app.state.worker is not None and app.state.worker.running) if run_worker else None
    )
    app.state.metrics = metrics.registry(StateCollector(database, clock))
    for router in (
        ledger_router,
        cases_router,
        policies_router,
        policy_previews_router,
        outbox_router,
        scoring_router,
        arrangements_router,
        replies_router,
        tasks_router,
        webhooks_router,
        payments_router,
        monitoring_router,
        forecast_router,
    ):
        app.include_router(router)
    site.install(app)  # the desk, the portal and unsubscribe pages
    app.add_middleware(BodyLimit, settings=settings)
    install_error_handlers(app)
    document_extra_schemas(app, BATCH_SCHEMAS)
    redact_access_log()
    return app


def load_demo_if_empty(settings: Settings, database: Database, clock: Clock) -> None:
    """DUNNING_DEMO=true: the demo portfolio on a first start, so the loop has something to chase."""
    from dunning.demo import is_empty, load_demo  # only when asked: it brings in the simulation
    from dunning.words import plural

    if not is_empty(database):
        log.info("demo: the database has customers already; serving them as they are")
        return
    log.info("demo: loading a made-up portfolio (generating, training, scoring, planning)...")
    try:
        report = load_demo(database, clock, settings)
    except DomainError as e:  # a real transport configured: start without the demo rather than not at all
        log.warning("demo not loaded: %s", e.message)
        return
    log.info(
        "demo loaded: %d customers, %d invoices (%d open); model: %s; %d customers scored; first cycle: %s planned",
        report.customers,
        report.invoices,
        report.open_invoices,
        report.training,
        report.scored,
        plural(report.planned, "message"),
    )


def document_extra_schemas(app: FastAPI, models: list) -> None:
    """Add request models that routes parse themselves to the OpenAPI components."""
    from fastapi.openapi.utils import get_openapi
    from pydantic.json_schema import models_json_schema

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, defs = models_json_schema(
                [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if is_web(request):
            return error_page(request, exc.status, "Not found" if exc.status == 404 else "Not possible", exc.message)
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        rows = [_row_error(e) for e in exc.errors()]
        if is_web(request):
            return error_page(
                request,
                422,
                "Not possible",
                "The form cannot be accepted: " + "; ".join(f"{r['field']}: {r['message']}" for r in rows),
            )
        bad_rows = len({r["index"] for r in rows if r["index"] is not None})
        message = (
            refused(bad_rows, "rows")
            if bad_rows
            else "the request is not valid: " + "; ".join(f"{r['field']}: {r['message']}" for r in rows)
        )
        return JSONResponse({"error": "invalid", "message": message, "errors": rows}, status_code=422)


def unexpected_error(request: Request) -> Response:
    """The answer to an error no handler took (guards.LastResort has logged it)."""
    if is_web(request):
        return error_page(request, 500, "Something went wrong", "The error has been logged.")
    return JSONResponse({"error": "internal", "message": "internal error; it has been logged"}, status_code=500)


def _row_error(error: dict[str, Any]) -> dict[str, Any]:
    """Turn pydantic's location ("body", "invoices", 3, "total") into row 3, field "total"."""
    if error.get("type") == "json_invalid":  # its location is a character offset, not a field
        return {
            "index": None,
            "field": "body",
            "message": f"malformed JSON: {error.get('ctx', {}).get('error', 'could not parse the body')}",
        }
    loc = list(error.get("loc", ()))
    where = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header") else None
    index = None
    if (
        where in (None, "body") and len(loc) >= 2 and isinstance(loc[1], int)
    ):  # a row of a batch, not a repeated parameter
        index = loc[1]
        loc = loc[2:]
    field = ".".join(str(p) for p in loc) or (where or "body")
    return {"index": index, "field": field, "message": explain(error)}
