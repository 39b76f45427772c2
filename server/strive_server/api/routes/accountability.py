"""The audit trail and the published statistics."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from strive_schema.codes import ProblemCode
from strive_server.api.deps import SessionsDep, SettingsDep, User, optional_roles, require_roles
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services.audit import Actor, record_event
from strive_server.services.stats import compute_statistics

router = APIRouter(tags=["accountability"])
AuditorDep = Annotated[User, require_roles("auditor")]
StatsReader = Annotated[User | None, optional_roles("auditor", "supervisor", "admin")]


@router.get("/v1/audit", operation_id="listAuditEvents", summary="The audit trail; auditors")
def list_audit_events(
    user: AuditorDep,
    sessions: SessionsDep,
    after: Annotated[int, Query(ge=0, description="Return events with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    referral_id: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        query = sa.select(tables.AuditEvent).where(tables.AuditEvent.id > after)
        if referral_id is not None:
            pks = sa.select(tables.Referral.id).where(tables.Referral.referral_id == referral_id)
            query = query.where(tables.AuditEvent.referral_pk.in_(pks))
        events = session.scalars(query.order_by(tables.AuditEvent.id).limit(limit)).all()
        record_event(session, actor=user.actor, action="audit.read", detail={"after": after})
        items = [
            {
                "id": e.id,
                "at": e.at,
                "actor_kind": e.actor_kind,
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "referral_pk": e.referral_pk,
                "reason": e.reason,
                "detail": e.detail,
            }
            for e in events
        ]
    return {"items": items, "next_after": items[-1]["id"] if len(items) == limit else None}


@router.get(
    "/v1/stats",
    operation_id="getStatistics",
    summary="What happened to the referrals: counts and timeliness, small counts suppressed",
)
def get_statistics(
    settings: SettingsDep,
    sessions: SessionsDep,
    user: StatsReader,
) -> dict[str, Any]:
    if user is None and not settings.public_stats:
        raise Problem(
            401, ProblemCode.AUTHENTICATION_REQUIRED, "statistics need an auditor token here"
        )
    with sessions() as session, session.begin():
        figures = compute_statistics(session, threshold=settings.stats_suppression_threshold)
        actor = user.actor if user else Actor("system", "public")
        record_event(session, actor=actor, action="stats.read")
    return figures
