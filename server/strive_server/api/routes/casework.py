"""Law-enforcement casework on referrals (bearer tokens with roles). Every read of content
and every change is audited in the same transaction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from strive_server.api.contract import problems
from strive_server.api.deps import SessionsDep, SettingsDep, User, require_roles
from strive_server.api.schemas import (
    AssignmentCreate,
    AssignmentView,
    EvidenceCheck,
    FeedbackCreate,
    FeedbackCreated,
    HistoryEntry,
    InformationRequestCreate,
    InformationRequestView,
    InformationRequestWithdrawal,
    OutcomeCreate,
    ReferralView,
    StateChange,
    TransitionCreate,
)
from strive_server.services import casework

router = APIRouter(tags=["casework"])

AnalystDep = Annotated[User, require_roles("analyst", "supervisor")]
SupervisorDep = Annotated[User, require_roles("supervisor")]
AswQuery = Annotated[
    str | None, Query(description="Choose the ASW when several used the same referral id.")
]
Reason = Annotated[
    str | None,
    Header(
        alias="Strive-Reason",
        max_length=2000,
        description="Why you read it; kept in the audit trail. Never put personal data in it.",
    ),
]


@router.get(
    "/v1/referrals/{referral_id}",
    operation_id="getReferral",
    summary="The full referral for an analyst, with its cluster and priority (audited)",
    response_model=ReferralView,
)
def get_referral(
    referral_id: str, user: AnalystDep, sessions: SessionsDep, asw_id: AswQuery = None,
    reason: Reason = None,
) -> ReferralView:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        return ReferralView.model_validate(
            casework.analyst_view(session, row, actor=user.actor, reason=reason)
        )


@router.get(
    "/v1/referrals/{referral_id}/evidence",
    operation_id="verifyReferralEvidence",
    response_model=EvidenceCheck,
    response_model_exclude_unset=True,
    summary="Re-verify the stored signed envelope, also after key revocation (audited)",
)
def verify_referral_evidence(
    referral_id: str, user: AnalystDep, sessions: SessionsDep, settings: SettingsDep,
    asw_id: AswQuery = None, reason: Reason = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        return casework.verify_evidence(
            session, row, actor=user.actor, reason=reason, receipt_keys=settings.published_keys
        )


@router.get(
    "/v1/referrals/{referral_id}/history",
    operation_id="getReferralHistory",
    response_model=list[HistoryEntry],
    summary="The referral's lifecycle transitions and outcomes (audited)",
)
def get_referral_history(
    referral_id: str, user: AnalystDep, sessions: SessionsDep, asw_id: AswQuery = None,
    reason: Reason = None,
) -> list[dict[str, Any]]:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        return casework.history(session, row, actor=user.actor, reason=reason)


@router.post(
    "/v1/referrals/{referral_id}/transitions",
    operation_id="transitionReferral",
    responses=problems(
        409, s409="Not a transition from the current state, or several ASWs used the id"
    ),
    response_model=StateChange,
    summary="Move a referral through its lifecycle (closing and reopening: supervisors)",
)
def transition_referral(
    referral_id: str, body: TransitionCreate, user: AnalystDep, sessions: SessionsDep,
    asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        casework.transition(
            session, row, to_state=body.to_state, outcome=body.outcome, reason=body.reason,
            actor=user.actor,
        )  # fmt: skip
        return {"referral_id": row.referral_id, "state": row.state, "outcome": row.outcome}


@router.post(
    "/v1/referrals/{referral_id}/outcomes",
    operation_id="recordReferralOutcome",
    response_model=StateChange,
    summary="Record a further outcome (e.g. a charge after an arrest); supervisors",
)
def record_referral_outcome(
    referral_id: str, body: OutcomeCreate, user: SupervisorDep, sessions: SessionsDep,
    asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        casework.record_outcome(
            session, row, outcome=body.outcome, reason=body.reason, actor=user.actor,
            force_reference=body.force_reference, case_reference=body.case_reference,
        )  # fmt: skip
        return {"referral_id": row.referral_id, "state": row.state, "outcome": row.outcome}


@router.post(
    "/v1/referrals/{referral_id}/assignment",
    operation_id="assignReferral",
    response_model=AssignmentView,
    summary="Assign a referral to an analyst; supervisors",
)
def assign_referral(
    referral_id: str, body: AssignmentCreate, user: SupervisorDep, sessions: SessionsDep,
    asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        casework.assign(session, row, assignee=body.assignee, reason=body.reason, actor=user.actor)
        return {"referral_id": row.referral_id, "assigned_to": row.assigned_to}


@router.post(
    "/v1/referrals/{referral_id}/feedback",
    operation_id="addReferralFeedback",
    response_model=FeedbackCreated,
    summary="Add feedback; released feedback is shown to the ASW",
    status_code=201,
)
def add_referral_feedback(
    referral_id: str, body: FeedbackCreate, user: AnalystDep, sessions: SessionsDep,
    asw_id: AswQuery = None,
) -> dict[str, Any]:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        feedback_id = casework.add_feedback(
            session, row, message=body.message, outcome=body.outcome,
            release=body.release_to_asw, actor=user.actor,
        )  # fmt: skip
        return {"feedback_id": feedback_id, "released": body.release_to_asw}


@router.post(
    "/v1/referrals/{referral_id}/information-requests",
    operation_id="createInformationRequest",
    summary="Ask the ASW for further information; it answers with a supplementary referral",
    status_code=201,
    response_model=InformationRequestView,
)
def create_information_request(
    referral_id: str, body: InformationRequestCreate, user: AnalystDep, sessions: SessionsDep,
    asw_id: AswQuery = None,
) -> InformationRequestView:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        request = casework.create_information_request(
            session, row, question=body.question, due_by=body.due_by, actor=user.actor
        )
        session.flush()
        return InformationRequestView.model_validate(
            casework.information_request_view(session, request)
        )


@router.post(
    "/v1/referrals/{referral_id}/information-requests/{request_id}/withdrawal",
    operation_id="withdrawInformationRequest",
    responses=problems(409),
    summary="Withdraw an open request for information; the ASW can no longer answer it",
    response_model=InformationRequestView,
)
def withdraw_information_request(
    referral_id: str, request_id: str, body: InformationRequestWithdrawal, user: AnalystDep,
    sessions: SessionsDep, asw_id: AswQuery = None,
) -> InformationRequestView:  # fmt: skip
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id, for_update=True)
        request = casework.withdraw_information_request(
            session, row, request_id, reason=body.reason, actor=user.actor
        )
        return InformationRequestView.model_validate(
            casework.information_request_view(session, request)
        )


@router.get(
    "/v1/referrals/{referral_id}/information-requests",
    operation_id="listReferralInformationRequests",
    summary="The requests for information about a referral and their answers (audited)",
    response_model=list[InformationRequestView],
)
def list_referral_information_requests(
    referral_id: str, user: AnalystDep, sessions: SessionsDep, asw_id: AswQuery = None
) -> list[InformationRequestView]:
    with sessions() as session, session.begin():
        row = casework.find_referral(session, referral_id, asw_id=asw_id)
        views = casework.referral_information_requests(session, row, actor=user.actor)
    return [InformationRequestView.model_validate(view) for view in views]
