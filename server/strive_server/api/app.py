"""The FastAPI application of the reference receiver."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

from strive_server.api.contract import complete_openapi
from strive_server.api.guard import RequestGuard, refuse_nul_parameters
from strive_server.api.routes import (
    accountability,
    admin,
    asw,
    attachments,
    casework,
    discovery,
    dissemination,
    health,
    intelligence,
    log,
    submissions,
)
from strive_server.api.schemas import use_api_timestamps
from strive_server.console import install_console
from strive_server.core.config import Settings
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.problems import install_problem_handlers
from strive_server.services.tlog import SequencerThread

__all__ = ["create_app", "create_app_from_environment"]

logger = logging.getLogger("strive.server.http")
_DESCRIPTION = (
    "The reference receiver of the Strive referral standard. Behaviour, errors, roles, the "
    "lifecycle and the statistics are specified in spec/api.md; the signed envelope and signed "
    "requests in spec/protocol.md. People authenticate with bearer tokens (`bearer`); ASWs, "
    "recipients and witnesses sign their requests (RFC 9421, the `*Signature` schemes); a "
    "submission is authenticated by its signed envelope. Every error is an RFC 9457 problem "
    "document (`application/problem+json`, the `Problem` schema) with a stable `code`."
)


@dataclass(frozen=True)
class Metrics:
    """Per-application metrics (a registry per app, so tests and workers do not collide)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    submissions: Counter

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "strive_http_requests_total",
                "HTTP requests by route template, method and status",
                ["route", "method", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "strive_http_request_duration_seconds",
                "HTTP request duration by route template",
                ["route"],
                registry=registry,
            ),
            submissions=Counter(
                "strive_submissions_total",
                "Submitted referrals by result (accepted, duplicate, rejected)",
                ["result"],
                registry=registry,
            ),
        )


def create_app(settings: Settings | None = None, *, migrate_database: bool = False) -> FastAPI:
    """Build the receiver. ``strive serve`` migrates once before starting workers; tests pass
    ``migrate_database=True``."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    if migrate_database:
        migrate(engine)
    app = FastAPI(
        title="Strive reference receiver",
        version="1.0.0",
        summary="Receives signed exploitation referrals from ASWs; see spec/api.md.",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul_parameters)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.metrics = Metrics.create()
    install_problem_handlers(app)
    _publish_complete_openapi(app)
    use_api_timestamps()
    for module in (
        discovery,
        submissions,
        asw,
        casework,
        intelligence,
        dissemination,
        accountability,
        admin,
        health,
        log,
        attachments,
    ):
        app.include_router(module.router)
    # Inside ``observe`` (added later, so outside), which records the guard's refusals too.
    app.add_middleware(RequestGuard)
    install_console(app)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            # The handler raised: the outermost error handler answers 500. Record it too.
            _record(request, 500, time.perf_counter() - started)
            raise
        _record(request, response.status_code, time.perf_counter() - started)
        return response

    return app


def _publish_complete_openapi(app: FastAPI) -> None:
    """Serve (and generate) the document with authentication and problem responses added."""
    derived = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(app, derived())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _record(request: Request, status: int, elapsed: float) -> None:
    """Count and log one answered request by route template: never the path itself, a query
    or a body."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    metrics: Metrics = request.app.state.metrics
    metrics.requests.labels(route, request.method, str(status)).inc()
    metrics.latency.labels(route).observe(elapsed)
    logger.info(
        "request",
        extra={
            "event": "http_request",
            "route": route,
            "method": request.method,
            "status": status,
            "duration_ms": round(elapsed * 1000, 1),
        },
    )


def create_app_from_environment() -> FastAPI:
    """The factory uvicorn workers call (``strive serve``); settings come from STRIVE_*. Each
    worker also runs the log's sequencer (spec/transparency-log.md); they take turns."""
    app = create_app(Settings())
    settings: Settings = app.state.settings
    sequencer = SequencerThread(
        app.state.engine, settings.log_signer, settings.log_sequence_interval_seconds
    )
    sequencer.start()
    app.state.sequencer = sequencer
    return app
