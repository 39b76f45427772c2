"""Liveness, readiness and Prometheus metrics. None of them carries personal data."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from strive_schema.codes import ProblemCode
from strive_server.api.deps import SessionsDep, SettingsDep, User, optional_roles
from strive_server.problems import PROBLEM_MEDIA_TYPE, Problem, unavailable_problem

router = APIRouter(tags=["operations"])
MetricsReader = Annotated[User | None, optional_roles("auditor", "admin")]


@router.get("/healthz", operation_id="getHealth", summary="The process is up")
def get_health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="getReadiness",
    summary="The database answers",
    responses={
        503: {
            "description": "The database does not answer (service_unavailable, Retry-After)",
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
    },
)
def get_readiness(sessions: SessionsDep) -> Response:
    try:
        with sessions() as session:
            session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        raise unavailable_problem("the database does not answer") from None
    return Response('{"status":"ready"}', 200, media_type="application/json")


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics (auditor or admin token unless STRIVE_METRICS_PUBLIC)",
    response_class=Response,
)
def get_metrics(
    request: Request,
    settings: SettingsDep,
    user: MetricsReader,
) -> Response:
    if user is None and not settings.metrics_public:
        raise Problem(401, ProblemCode.AUTHENTICATION_REQUIRED, "metrics need a token")
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
