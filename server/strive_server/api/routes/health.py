"""Liveness, readiness and Prometheus metrics. None of them carries personal data."""

from __future__ import annotations

import json
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from strive_schema.codes import ProblemCode
from strive_server.api.contract import problems
from strive_server.api.deps import SessionsDep, SettingsDep, User, optional_roles
from strive_server.api.schemas import Health, Readiness
from strive_server.problems import Problem, unavailable_problem
from strive_server.services.linkworker import Backlog, backlog

router = APIRouter(tags=["operations"])
MetricsReader = Annotated[User | None, optional_roles("auditor", "admin")]


@router.get(
    "/healthz", operation_id="getHealth", response_model=Health, summary="The process is up"
)
def get_health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="The database answers; the linking backlog",
    response_model=Readiness,
    responses=problems(503, s503="The database does not answer (`service_unavailable`)"),
)
def get_readiness(sessions: SessionsDep, settings: SettingsDep) -> Response:
    """Ready when the database answers; ``degraded`` (still 200: the receiver accepts
    referrals, and taking it out of a load balancer would only grow the backlog) when the
    oldest referral waiting to be linked has waited over
    ``STRIVE_LINKING_DEGRADED_AFTER_SECONDS`` (spec/linking.md)."""
    try:
        with sessions() as session:
            pending = backlog(session)
    except sa.exc.SQLAlchemyError:
        raise unavailable_problem("the database does not answer") from None
    degraded = pending.oldest_seconds > settings.linking_degraded_after_seconds
    body = {
        "status": "degraded" if degraded else "ready",
        "linking_backlog": pending.count,
        "linking_oldest_pending_seconds": round(pending.oldest_seconds, 1),
    }
    return Response(json.dumps(body), 200, media_type="application/json")


def _backlog_metrics(pending: Backlog) -> bytes:
    """The linking backlog as gauges, read from the database at scrape time (so every
    worker process reports the same, shared figure)."""
    registry = CollectorRegistry()
    Gauge(
        "strive_linking_backlog",
        "Referrals stored but not yet linked into a cluster",
        registry=registry,
    ).set(pending.count)
    Gauge(
        "strive_linking_oldest_pending_seconds",
        "How long the oldest referral waiting to be linked has waited (0: none waits)",
        registry=registry,
    ).set(pending.oldest_seconds)
    return generate_latest(registry)


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics (auditor or admin token unless STRIVE_METRICS_PUBLIC)",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
def get_metrics(
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    user: MetricsReader,
) -> Response:
    if user is None and not settings.metrics_public:
        raise Problem(401, ProblemCode.AUTHENTICATION_REQUIRED, "metrics need a token")
    with sessions() as session:
        pending = backlog(session)
    return Response(
        generate_latest(request.app.state.metrics.registry) + _backlog_metrics(pending),
        media_type=CONTENT_TYPE_LATEST,
    )
