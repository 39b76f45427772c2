"""The audit trail and the published statistics."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request

from strive_schema.codes import ProblemCode
from strive_server.api.contract import BEARER_OR_ANONYMOUS, authenticates
from strive_server.api.deps import (
    MAX_ROW_ID,
    SessionsDep,
    SettingsDep,
    User,
    bearer_user,
    require_roles,
)
from strive_server.api.schemas import AuditPage, Statistics
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services.audit import record_event
from strive_server.services.stats import compute_statistics

router = APIRouter(tags=["accountability"])
AuditorDep = Annotated[User, require_roles("auditor")]
STATS_ROLES: Final = ("auditor", "supervisor", "admin")
PUBLIC_STATS_TTL_SECONDS: Final = 60.0
"""How long anonymous readers of published statistics are served the same figures: an
unauthenticated endpoint must not cost the database a full scan per request."""


@authenticates(BEARER_OR_ANONYMOUS)
def stats_reader(request: Request, settings: SettingsDep, sessions: SessionsDep) -> User | None:
    """The user reading statistics, or ``None`` for an anonymous reader where they are public.

    A token, when presented, must be valid; its role must be one of ``STATS_ROLES`` unless
    the statistics are public (then any valid token may read what anyone may).
    """
    if "authorization" not in request.headers:
        if settings.public_stats:
            return None
        raise Problem(
            401,
            ProblemCode.AUTHENTICATION_REQUIRED,
            "statistics need an auditor, supervisor or admin token here",
            headers={"WWW-Authenticate": 'Bearer realm="strive"'},
        )
    user = bearer_user(request, sessions)
    if user.role not in STATS_ROLES and not settings.public_stats:
        raise Problem(
            403, ProblemCode.FORBIDDEN, f"this needs one of the roles: {', '.join(STATS_ROLES)}"
        )
    return user


StatsReader = Annotated[User | None, Depends(stats_reader)]


class _PublicFigures:
    """The last figures served to anonymous readers, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: dict[str, Any] | None = None
        self._computed = 0.0

    def get(self) -> dict[str, Any] | None:
        with self._lock:
            if self._figures is None:
                return None
            if time.monotonic() - self._computed > PUBLIC_STATS_TTL_SECONDS:
                return None
            return self._figures

    def put(self, figures: dict[str, Any]) -> None:
        with self._lock:
            self._figures, self._computed = figures, time.monotonic()


_public_figures_lock = threading.Lock()


def _public_figures(request: Request) -> _PublicFigures:
    with _public_figures_lock:
        cache: _PublicFigures | None = getattr(request.app.state, "public_stats_cache", None)
        if cache is None:
            cache = _PublicFigures()
            request.app.state.public_stats_cache = cache
    return cache


@router.get(
    "/v1/audit",
    operation_id="listAuditEvents",
    response_model=AuditPage,
    summary="The audit trail; auditors",
)
def list_audit_events(
    user: AuditorDep,
    sessions: SessionsDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_ROW_ID, description="Return events with a larger id")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    referral_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        query = sa.select(tables.AuditEvent).where(tables.AuditEvent.id > after)
        if referral_id is not None:
            pks = sa.select(tables.Referral.id).where(tables.Referral.referral_id == referral_id)
            query = query.where(tables.AuditEvent.referral_pk.in_(pks))
        events = session.scalars(query.order_by(tables.AuditEvent.id).limit(limit)).all()
        record_event(
            session,
            actor=user.actor,
            action="audit.read",
            detail={"after": after, "referral_id": referral_id},
        )
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
    response_model=Statistics,
    summary="What happened to the referrals: counts and timeliness, small counts suppressed",
)
def get_statistics(
    request: Request, settings: SettingsDep, sessions: SessionsDep, user: StatsReader
) -> dict[str, Any]:
    threshold = settings.stats_suppression_threshold
    if user is None:
        # Anonymous reads of published figures: cached briefly, and not audited (no person
        # reads personal data, and an unauthenticated caller must not be able to grow the
        # append-only audit trail at will).
        cache = _public_figures(request)
        figures = cache.get()
        if figures is None:
            with sessions() as session, session.begin():
                figures = compute_statistics(session, threshold=threshold)
            cache.put(figures)
        return figures
    with sessions() as session, session.begin():
        figures = compute_statistics(session, threshold=threshold)
        record_event(session, actor=user.actor, action="stats.read")
    return figures
