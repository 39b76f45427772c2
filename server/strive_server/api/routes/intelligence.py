"""Triage, links, clusters, selector search and intelligence packages (analysts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response

from strive_server.api.contract import problems
from strive_server.api.deps import RowId, SessionsDep, SettingsDep, User, require_roles
from strive_server.api.schemas import (
    ClusterReferralPage,
    ClusterSelectorPage,
    ClusterSummary,
    LinkingAllowed,
    ReferralLinks,
    SelectorLinkingAllow,
    SelectorSearchResult,
    TriagePage,
)
from strive_server.db.engine import write_guard
from strive_server.services import intelligence, linking, packages
from strive_server.services.casework import find_referral

router = APIRouter(tags=["intelligence"])

AnalystDep = Annotated[User, require_roles("analyst", "supervisor")]
SupervisorDep = Annotated[User, require_roles("supervisor")]
Limit = Annotated[int, Query(ge=1, le=intelligence.MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=512)]
Reason = Annotated[
    str | None,
    Header(
        alias="Strive-Reason",
        max_length=2000,
        description="Why you read it; kept in the audit trail. Never put personal data in it.",
    ),
]
SelectorKind = Literal[
    "phone", "email", "payer_name", "payment_card", "account", "image_hash", "ip_address",
    "device", "postcode", "region",
]  # fmt: skip


@router.get(
    "/v1/triage",
    operation_id="getTriageQueue",
    summary="Referrals by priority, highest first, with the score breakdown",
    response_model=TriagePage,
)
def get_triage_queue(
    user: AnalystDep,
    sessions: SessionsDep,
    state: Annotated[
        Literal[
            "received", "triaged", "under_assessment", "package_developed", "disseminated", "closed"
        ]
        | None,
        Query(description="Default: every state but closed"),
    ] = None,
    band: Annotated[Literal["P1", "P2", "P3", "P4"] | None, Query()] = None,
    region: Annotated[
        str | None, Query(max_length=100, description="ITL1 code or region name")
    ] = None,
    asw_id: Annotated[str | None, Query(max_length=64)] = None,
    include_test: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> TriagePage:
    with sessions() as session, session.begin():
        queue = intelligence.triage_queue(
            session, actor=user.actor, state=state, band=band, region=region, asw_id=asw_id,
            include_test=include_test, cursor=cursor, limit=limit,
        )  # fmt: skip
    return TriagePage.model_validate(queue)


@router.get(
    "/v1/referrals/{referral_id}/links",
    operation_id="getReferralLinks",
    response_model=ReferralLinks,
    summary="Which selectors tie this referral to which others",
)
def get_referral_links(
    referral_id: str, user: AnalystDep, sessions: SessionsDep,
    asw_id: Annotated[str | None, Query()] = None, limit: Limit = 50, reason: Reason = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = find_referral(session, referral_id, asw_id=asw_id)
        return intelligence.referral_links(
            session, row, actor=user.actor, limit=limit, reason=reason
        )


@router.get(
    "/v1/clusters/{cluster_id}",
    operation_id="getCluster",
    response_model=ClusterSummary,
    summary="A cluster: counts, ASWs, regions, score, timeline, merges",
)
def get_cluster(
    cluster_id: RowId, user: AnalystDep, sessions: SessionsDep, reason: Reason = None
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        cluster = intelligence.current_cluster(session, cluster_id)
        return intelligence.cluster_summary(session, cluster, actor=user.actor, reason=reason)


@router.get(
    "/v1/clusters/{cluster_id}/referrals",
    operation_id="listClusterReferrals",
    response_model=ClusterReferralPage,
    summary="A cluster's referrals",
)
def list_cluster_referrals(
    cluster_id: RowId,
    user: AnalystDep,
    sessions: SessionsDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    reason: Reason = None,
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        cluster = intelligence.current_cluster(session, cluster_id)
        return intelligence.cluster_members(
            session, cluster, actor=user.actor, cursor=cursor, limit=limit, reason=reason
        )


@router.get(
    "/v1/clusters/{cluster_id}/selectors",
    operation_id="listClusterSelectors",
    response_model=ClusterSelectorPage,
    summary="A cluster's distinct selector values",
)
def list_cluster_selectors(
    cluster_id: RowId, user: AnalystDep, sessions: SessionsDep,
    kind: Annotated[SelectorKind | None, Query()] = None, cursor: Cursor = None, limit: Limit = 50,
    reason: Reason = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        cluster = intelligence.current_cluster(session, cluster_id)
        return intelligence.cluster_selectors(
            session, cluster, actor=user.actor, kind=kind, cursor=cursor, limit=limit,
            reason=reason,
        )  # fmt: skip


@router.get(
    "/v1/clusters/{cluster_id}/export",
    operation_id="exportCluster",
    summary="An intelligence package: json, csv (i2 entity and link tables, zipped), graphml or md",
    response_class=Response,
    responses={
        200: {
            "description": "The package as a download; its protective marking in "
            "`Strive-Protective-Marking`",
            "headers": {"Strive-Protective-Marking": {"schema": {"type": "string"}}},
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "The package as one document"}
                },
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/graphml+xml": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        }
    },
)
def export_cluster(
    cluster_id: RowId, user: AnalystDep, sessions: SessionsDep,
    format: Annotated[Literal["json", "csv", "graphml", "md"], Query()] = "json",
    reason: Reason = None,
) -> Response:  # fmt: skip
    with write_guard(sessions), sessions() as session, session.begin():
        cluster = intelligence.current_cluster(session, cluster_id)
        export = packages.export_cluster(session, cluster, format, actor=user.actor, reason=reason)
    return export_response(export)


@router.get(
    "/v1/selectors",
    operation_id="searchSelector",
    response_model=SelectorSearchResult,
    summary="Where else does this value appear?",
)
def search_selector(
    user: AnalystDep, sessions: SessionsDep, settings: SettingsDep,
    kind: Annotated[SelectorKind, Query()],
    value: Annotated[str, Query(min_length=1, max_length=400)],
    reason: Reason = None, cursor: Cursor = None, limit: Limit = 50,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        return intelligence.search_selector(
            session, actor=user.actor, kind=kind, value=value, reason=reason, cursor=cursor,
            limit=limit, audit_key=settings.audit_hmac_key,
        )  # fmt: skip


@router.post(
    "/v1/selectors/linking-allowed",
    operation_id="allowSelectorLinking",
    responses=problems(404),
    response_model=LinkingAllowed,
    summary="Let an over-correlating value link referrals again; supervisors",
)
def allow_selector_linking(
    body: SelectorLinkingAllow, user: SupervisorDep, sessions: SessionsDep, settings: SettingsDep
) -> dict[str, Any]:
    value = intelligence.normalised_selector(body.kind, body.value)
    fingerprint = intelligence.value_fingerprint(settings.audit_hmac_key, body.kind, value)
    with sessions() as session, session.begin():
        return linking.allow_linking(
            session, kind=body.kind, value=value, value_hmac=fingerprint, reason=body.reason,
            actor=user.actor, now=datetime.now(UTC),
        )  # fmt: skip


def export_response(export: packages.Export) -> Response:
    """An intelligence package as a download: never cached, its protective marking stated."""
    return Response(
        export.body,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Strive-Protective-Marking": export.marking,
            "Cache-Control": "no-store",
        },
    )
