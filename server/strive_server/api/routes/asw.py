"""What an ASW reads with signed requests: its referrals' status and requests for
information. An ASW only ever sees its own."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from strive_server.api.deps import AswCaller, SessionsDep, authenticated_asw
from strive_server.api.schemas import AswReferralStatus, InformationRequestPage
from strive_server.services import casework

router = APIRouter(tags=["asw"])
AswDep = Annotated[AswCaller, Depends(authenticated_asw)]


@router.get(
    "/v1/referrals/{referral_id}/status",
    operation_id="getReferralStatus",
    summary="An ASW reads its referral's state and released feedback (signed request)",
    response_model=AswReferralStatus,
)
def get_referral_status(referral_id: str, asw: AswDep, sessions: SessionsDep) -> AswReferralStatus:
    with sessions() as session, session.begin():
        view = casework.asw_status(session, asw_id=asw.asw_id, referral_id=referral_id)
    return AswReferralStatus.model_validate(view)


@router.get(
    "/v1/information-requests",
    operation_id="listInformationRequests",
    summary="An ASW lists requests for information addressed to it (signed request)",
    response_model=InformationRequestPage,
)
def list_information_requests(
    asw: AswDep,
    sessions: SessionsDep,
    state: Annotated[
        Literal["open", "answered", "withdrawn", "all"], Query(description="Default: open")
    ] = "open",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> InformationRequestPage:
    with sessions() as session:
        page = casework.list_information_requests(
            session, asw_id=asw.asw_id, state=None if state == "all" else state, cursor=cursor
        )
    return InformationRequestPage.model_validate(page)
