"""From referral to outcome: THRIVE assessments, research findings, recipients, sealed
dissemination, and outcomes the recipient reports with its own signed requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import Field

from strive_schema.codes import ProblemCode
from strive_server.api.contract import problems
from strive_server.api.deps import (
    MAX_ROW_ID,
    RecipientDep,
    RowId,
    SessionsDep,
    SettingsDep,
    User,
    require_roles,
)
from strive_server.api.routes.admin import ApprovalRequestView, requester
from strive_server.api.schemas import (
    AssessmentView,
    ClusterResearch,
    DisseminationView,
    FindingView,
    JsonObject,
    OutcomeHistory,
    OutcomesRecorded,
    RecipientRevoked,
    RecipientSuggestions,
    RecipientView,
    ReviewView,
    Text,
    _Body,
)
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services import admin, assessment, attachments, dissemination, retention
from strive_server.services.casework import find_referral
from strive_server.services.intelligence import current_cluster, normalised_selector
from strive_server.services.key_lifecycle import receiver_signing_key

router = APIRouter(tags=["dissemination"])

AnalystDep = Annotated[User, require_roles("analyst", "supervisor")]
SupervisorDep = Annotated[User, require_roles("supervisor")]
AdminDep = Annotated[User, require_roles("admin")]
AswQuery = Annotated[str | None, Query(max_length=64)]
RecipientId = Annotated[str, Path(max_length=64)]
Reason = Annotated[str | None, Header(alias="Strive-Reason", max_length=2000)]
LongText = Annotated[Text, Field(min_length=1, max_length=4000)]
Format = Literal["json", "csv", "graphml", "md"]
Outcome = Literal[
    "no_further_action", "intelligence_logged", "safeguarding_visit",
    "linked_to_existing_operation", "victim_safeguarded", "arrest", "charge", "conviction",
]  # fmt: skip
SEALED_MEDIA_TYPE = "application/vnd.strive.sealed-package.v1+json"


class AssessmentCreate(_Body):
    """A THRIVE assessment: the six considerations, the rationale and the priority."""

    threat: LongText
    harm: LongText
    risk: LongText
    investigation: LongText
    vulnerability: LongText
    engagement: LongText
    rationale: LongText
    priority: Literal["P1", "P2", "P3", "P4"]


class GradingBody(_Body):
    """3x5x2 grading; handling code C needs the conditions."""

    source_evaluation: Literal["1", "2", "3"]
    intelligence_assessment: Literal["A", "B", "C", "D", "E"]
    handling_code: Literal["P", "C"]
    handling_conditions: Text | None = Field(default=None, max_length=2000)


class SelectorRef(_Body):
    kind: Literal[
        "phone", "email", "payer_name", "payment_card", "account", "image_hash", "ip_address",
        "device", "postcode", "region",
    ]  # fmt: skip
    value: Text = Field(min_length=1, max_length=400)


class FindingCreate(_Body):
    """A research finding on exactly one of: a cluster, a referral, a selector value."""

    cluster_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    referral_id: Text | None = Field(default=None, max_length=64)
    asw_id: Text | None = Field(default=None, max_length=64)
    selector: SelectorRef | None = None
    finding: LongText
    source_reference: Text = Field(min_length=1, max_length=200)
    grading: GradingBody


class DisseminationCreate(_Body):
    recipient_id: Text = Field(min_length=1, max_length=64)
    reason: Text = Field(min_length=1, max_length=2000)
    grading: GradingBody
    formats: list[Format] = Field(default=["json", "md"], min_length=1, max_length=4)


class RecipientCreate(_Body):
    recipient_id: Text = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: Text = Field(min_length=1, max_length=200)
    regions: list[Text] = Field(default_factory=list, max_length=20)
    public_keys: JsonObject = Field(description="A JWK Set: Ed25519 sig and HPKE enc keys")


class RecipientKeysCreate(_Body):
    public_keys: JsonObject = Field(
        description="A JWK Set of the keys to add: Ed25519 sig and/or HPKE enc keys"
    )


class OutcomeReport(_Body):
    """An outcome on one referral of a dissemination, or (no referral_id) on all of them."""

    dissemination_id: Text = Field(min_length=1, max_length=40)
    referral_id: Text | None = Field(default=None, max_length=64)
    asw_id: Text | None = Field(default=None, max_length=64)
    outcome: Outcome
    force_reference: Text | None = Field(default=None, max_length=100)
    case_reference: Text | None = Field(default=None, max_length=100)
    release_to_asw: bool = False


def _grading(body: GradingBody) -> Any:
    return assessment.grading_from(
        body.source_evaluation, body.intelligence_assessment, body.handling_code,
        body.handling_conditions,
    )  # fmt: skip


# -- assessments and research -----------------------------------------------------------------


@router.post(
    "/v1/clusters/{cluster_id}/assessments",
    operation_id="assessCluster",
    response_model=AssessmentView,
    status_code=201,
    summary="Record a THRIVE risk assessment of a whole cluster",
)
def assess_cluster(
    cluster_id: RowId, body: AssessmentCreate, user: AnalystDep, sessions: SessionsDep
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        cluster = current_cluster(session, cluster_id)
        row = assessment.record_assessment(
            session, cluster=cluster, referral=None,
            considerations=body.model_dump(include=set(assessment.THRIVE_FIELDS)),
            rationale=body.rationale, priority=body.priority, actor=user.actor,
        )  # fmt: skip
        return assessment.assessment_view(row, session)


@router.post(
    "/v1/referrals/{referral_id}/assessments",
    operation_id="assessReferral",
    response_model=AssessmentView,
    status_code=201,
    summary="Record a THRIVE risk assessment of one referral",
)
def assess_referral(
    referral_id: str, body: AssessmentCreate, user: AnalystDep, sessions: SessionsDep,
    asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = find_referral(session, referral_id, asw_id=asw_id)
        record = assessment.record_assessment(
            session, cluster=None, referral=row,
            considerations=body.model_dump(include=set(assessment.THRIVE_FIELDS)),
            rationale=body.rationale, priority=body.priority, actor=user.actor,
        )  # fmt: skip
        return assessment.assessment_view(record, session)


@router.post(
    "/v1/research-findings",
    operation_id="recordResearchFinding",
    responses=problems(404, 409),
    response_model=FindingView,
    status_code=201,
    summary="Record a graded research finding on a cluster, referral or selector",
)
def record_research_finding(
    body: FindingCreate, user: AnalystDep, sessions: SessionsDep
) -> dict[str, Any]:
    subjects = [
        body.cluster_id is not None,
        body.referral_id is not None,
        body.selector is not None,
    ]
    if sum(subjects) != 1:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID,
            "name exactly one subject: cluster_id, referral_id or selector",
        )  # fmt: skip
    grading = _grading(body.grading)
    with sessions() as session, session.begin():
        referral = (
            find_referral(session, body.referral_id, asw_id=body.asw_id)
            if body.referral_id is not None
            else None
        )
        cluster_id = current_cluster(session, body.cluster_id).id if body.cluster_id else None
        selector = (
            (body.selector.kind, normalised_selector(body.selector.kind, body.selector.value))
            if body.selector
            else None
        )
        row = assessment.record_finding(
            session, cluster_id=cluster_id, referral=referral, selector=selector,
            finding=body.finding, source_reference=body.source_reference, grading=grading,
            actor=user.actor,
        )  # fmt: skip
        return assessment.finding_view(row, session)


@router.get(
    "/v1/clusters/{cluster_id}/research",
    operation_id="getClusterResearch",
    response_model=ClusterResearch,
    summary="A cluster's assessments and research findings (audited)",
)
def get_cluster_research(
    cluster_id: RowId, user: AnalystDep, sessions: SessionsDep, reason: Reason = None
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        cluster = current_cluster(session, cluster_id)
        return assessment.cluster_research(session, cluster, actor=user.actor, reason=reason)


# -- recipients and dissemination ---------------------------------------------------------------


@router.post(
    "/v1/admin/recipients",
    operation_id="registerRecipient",
    responses=problems(409),
    status_code=202,
    response_model=ApprovalRequestView,
    summary="Ask to register a recipient (force, unit, agency) with its keys and regions "
    "(another admin approves)",
)
def register_recipient(
    body: RecipientCreate, user: AdminDep, sessions: SessionsDep, settings: SettingsDep
) -> ApprovalRequestView:
    with sessions() as session, session.begin():
        row = admin.request_recipient_registration(
            session, recipient_id=body.recipient_id, name=body.name, regions=body.regions,
            jwks=body.public_keys, requester=requester(user),
            ttl=timedelta(hours=settings.approval_request_hours),
        )  # fmt: skip
        return ApprovalRequestView.model_validate(admin.approval_view(row))


@router.post(
    "/v1/admin/recipients/{recipient_id}/keys",
    operation_id="addRecipientKeys",
    responses=problems(409),
    status_code=202,
    response_model=ApprovalRequestView,
    summary="Ask to add keys to a recipient (another admin approves)",
)
def add_recipient_keys(
    recipient_id: RecipientId, body: RecipientKeysCreate, user: AdminDep,
    sessions: SessionsDep, settings: SettingsDep,
) -> ApprovalRequestView:  # fmt: skip
    with sessions() as session, session.begin():
        row = admin.request_recipient_keys(
            session, recipient_id=recipient_id, jwks=body.public_keys,
            requester=requester(user), ttl=timedelta(hours=settings.approval_request_hours),
        )  # fmt: skip
        return ApprovalRequestView.model_validate(admin.approval_view(row))


@router.get(
    "/v1/admin/recipients",
    operation_id="listRecipients",
    response_model=list[RecipientView],
    summary="Recipients",
)
def list_recipients(user: AdminDep, sessions: SessionsDep) -> list[dict[str, Any]]:
    with sessions() as session:
        return dissemination.list_recipients(session)


@router.delete(
    "/v1/admin/recipients/{recipient_id}",
    operation_id="revokeRecipient",
    response_model=RecipientRevoked,
    summary="Revoke a recipient and its keys",
)
def revoke_recipient(recipient_id: str, user: AdminDep, sessions: SessionsDep) -> dict[str, str]:
    with sessions() as session, session.begin():
        dissemination.revoke_recipient(session, recipient_id=recipient_id, actor=user.actor)
    return {"recipient_id": recipient_id, "status": "revoked"}


@router.get(
    "/v1/clusters/{cluster_id}/recipient-suggestions",
    operation_id="suggestRecipients",
    response_model=RecipientSuggestions,
    summary="Recipients covering the cluster's regions",
)
def suggest_recipients(
    cluster_id: RowId, user: AnalystDep, sessions: SessionsDep
) -> dict[str, Any]:
    with sessions() as session, session.begin():
        return dissemination.suggest_recipients(session, current_cluster(session, cluster_id))


@router.post(
    "/v1/clusters/{cluster_id}/disseminations",
    operation_id="disseminateCluster",
    status_code=201,
    response_class=Response,
    summary="Seal the cluster's package to a recipient and record it; supervisors",
    responses={
        201: {
            "description": "The sealed package (spec/dissemination.md), returned once",
            "headers": {
                "Strive-Dissemination-Id": {"schema": {"type": "string"}},
                "Strive-Package-Sha256": {"schema": {"type": "string"}},
            },
            "content": {SEALED_MEDIA_TYPE: {"schema": {"type": "object"}}},
        },
        **problems(409, s409="The recipient is revoked, a referral is a test, or no assessment"),
    },
)
def disseminate_cluster(
    cluster_id: RowId, body: DisseminationCreate, user: SupervisorDep, sessions: SessionsDep,
    settings: SettingsDep,
) -> Response:  # fmt: skip
    grading = _grading(body.grading)
    with sessions() as session, session.begin():
        cluster = current_cluster(session, cluster_id)
        sealed = dissemination.disseminate_cluster(
            session, cluster, recipient_id=body.recipient_id, reason=body.reason,
            grading=grading, formats=list(dict.fromkeys(body.formats)),
            receiver_id=settings.receiver_id,
            signing_key=receiver_signing_key(settings, datetime.now(UTC)),
            actor=user.actor,
        )  # fmt: skip
    record = sealed.record
    return Response(
        sealed.content,
        status_code=201,
        media_type=SEALED_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{record["dissemination_id"]}.json"',
            "Strive-Dissemination-Id": record["dissemination_id"],
            "Strive-Package-Sha256": record["package_sha256"],
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/v1/disseminations/{dissemination_id}",
    operation_id="getDissemination",
    response_model=DisseminationView,
    summary="A dissemination record: digests, grading, recipient, who, when, why",
)
def get_dissemination(
    dissemination_id: str, user: AnalystDep, sessions: SessionsDep
) -> dict[str, Any]:
    with sessions() as session:
        row = session.get(tables.Dissemination, dissemination_id)
        if row is None:
            raise Problem(404, ProblemCode.NOT_FOUND, "no such dissemination")
        return dissemination.dissemination_view(session, row)


@router.get(
    "/v1/referrals/{referral_id}/outcomes",
    operation_id="getReferralOutcomes",
    response_model=OutcomeHistory,
    summary="Every outcome recorded on a referral, with its references (audited)",
)
def get_referral_outcomes(
    referral_id: str, user: AnalystDep, sessions: SessionsDep, asw_id: AswQuery = None,
    reason: Reason = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = find_referral(session, referral_id, asw_id=asw_id)
        return dissemination.outcome_history(session, row, actor=user.actor, reason=reason)


# -- outcomes reported by the recipient (signed requests) ----------------------------------------


def _report(raw: bytes) -> OutcomeReport:
    try:
        return OutcomeReport.model_validate(json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID, f"the outcome report is invalid: {exc}"
        ) from None


@router.post(
    "/v1/recipient/outcomes",
    operation_id="reportOutcome",
    responses=problems(
        403, 404, 409, s403="Not disseminated to this recipient (`outcome_not_disseminated`)"
    ),
    response_model=OutcomesRecorded,
    status_code=201,
    summary="A recipient reports an outcome on what was disseminated to it (signed request)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OutcomeReport.model_json_schema()}},
        }
    },
)
def report_outcome(recipient: RecipientDep, sessions: SessionsDep) -> dict[str, Any]:
    body = _report(recipient.body)
    referral = (body.asw_id, body.referral_id) if body.referral_id else None
    with sessions() as session, session.begin():
        recorded = dissemination.record_recipient_outcome(
            session, recipient_id=recipient.recipient_id, dissemination_id=body.dissemination_id,
            referral=referral, outcome=body.outcome, force_reference=body.force_reference,
            case_reference=body.case_reference, release_to_asw=body.release_to_asw,
            actor=recipient.actor,
        )  # fmt: skip
    return {"dissemination_id": body.dissemination_id, "recorded": recorded}


@router.post(
    "/v1/disseminations/{dissemination_id}/outcomes",
    operation_id="recordDisseminationOutcome",
    responses=problems(409),
    response_model=OutcomesRecorded,
    status_code=201,
    summary="Record an outcome on a dissemination for its recipient; supervisors",
)
def record_dissemination_outcome(
    dissemination_id: str, body: OutcomeReport, user: SupervisorDep, sessions: SessionsDep
) -> dict[str, Any]:
    if body.dissemination_id != dissemination_id:
        raise Problem(422, ProblemCode.REQUEST_INVALID, "dissemination_id differs from the path")
    with sessions() as session, session.begin():
        row = session.get(tables.Dissemination, dissemination_id)
        if row is None:
            raise Problem(404, ProblemCode.NOT_FOUND, "no such dissemination")
        referral = (body.asw_id, body.referral_id) if body.referral_id else None
        recorded = dissemination.record_recipient_outcome(
            session, recipient_id=row.recipient_id, dissemination_id=dissemination_id,
            referral=referral, outcome=body.outcome, force_reference=body.force_reference,
            case_reference=body.case_reference, release_to_asw=body.release_to_asw,
            actor=user.actor,
        )  # fmt: skip
    return {"dissemination_id": dissemination_id, "recorded": recorded}


# -- retention and review ---------------------------------------------------------------------


class ErasureCreate(_Body):
    reason: Text = Field(min_length=1, max_length=2000)


@router.get(
    "/v1/referrals/{referral_id}/review",
    operation_id="getReferralReview",
    response_model=ReviewView,
    summary="The referral's review date under the retention rules, and whether it was erased",
)
def get_referral_review(
    referral_id: str, user: AnalystDep, sessions: SessionsDep, settings: SettingsDep,
    asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session:
        row = find_referral(session, referral_id, asw_id=asw_id)
        return retention.review_view(session, row, overrides=settings.retention_review_days)


@router.post(
    "/v1/referrals/{referral_id}/erasure",
    operation_id="eraseReferral",
    responses=problems(409),
    response_model=ReviewView,
    summary="Erase a reviewed referral's content; digests, audit and statistics remain",
)
def erase_referral(
    referral_id: str, body: ErasureCreate, user: SupervisorDep, sessions: SessionsDep,
    settings: SettingsDep, asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        files = attachments.objects_held_only_by(session, row.id)
        erased = retention.erase_referral(
            session, row, reason=body.reason, actor=user.actor,
            overrides=settings.retention_review_days,
        )  # fmt: skip
    attachments.delete_objects(settings, files)  # once the erasure is committed
    return erased
