"""Administration over the API (admin tokens): ASWs, their keys, tokens. No referral
content is reachable with an admin token.

Dual control (spec/api.md, "Dual control"): registering an ASW or a recipient, adding an ASW's
or a recipient's key and creating a token that reads referral content (or an admin token) only
create a pending approval request; a different admin approves it, which carries it out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from strive_server.api.contract import problems
from strive_server.api.deps import RowId, SessionsDep, SettingsDep, User, require_roles
from strive_server.api.schemas import (
    ApiTimestamp,
    AswCreate,
    AswKeyCreate,
    AswKeyRevoked,
    AswView,
    SelectorExcluded,
    SelectorExclusionCreate,
    TokenCreate,
    TokenCreated,
    TokenRevoked,
)
from strive_server.db.engine import write_guard
from strive_server.services import admin

router = APIRouter(tags=["admin"], prefix="/v1/admin")
AdminDep = Annotated[User, require_roles("admin")]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ApprovalRequestView(BaseModel):
    """A dual-control request: what it asks for, who asked, and whether it was decided."""

    id: int
    action: Literal[
        "token.create", "asw.register", "asw.key_add", "recipient.register", "recipient.key_add"
    ]
    state: Literal["pending", "approved", "rejected", "expired"]
    requested_by: str = Field(description="The requester's token holder name.")
    requested_at: ApiTimestamp
    expires_at: ApiTimestamp = Field(description="Not approved by then, it can no longer be.")
    decided_by: str | None = None
    decided_at: ApiTimestamp | None = None
    token_name: str | None = Field(default=None, description="token.create: the holder.")
    role: str | None = Field(default=None, description="token.create: the role.")
    token_lifetime_seconds: int | None = Field(
        default=None, description="token.create: counted from approval."
    )
    token_id: int | None = Field(default=None, description="token.create, once approved.")
    half_collected: bool | None = Field(
        default=None,
        description="token.create, once approved: whether the requester collected half A.",
    )
    asw_id: str | None = None
    asw_name: str | None = Field(default=None, description="asw.register: the ASW's name.")
    key_id: str | None = Field(
        default=None, description="The key's id (JWK thumbprint): check it with the ASW."
    )
    public_key_jwk: dict[str, str] | None = None
    recipient_id: str | None = Field(default=None, description="recipient.*: the recipient.")
    recipient_name: str | None = Field(
        default=None, description="recipient.register: the recipient's name."
    )
    regions: list[str] | None = Field(
        default=None, description="recipient.register: the ITL1 regions it covers."
    )
    key_ids: list[str] | None = Field(
        default=None, description="recipient.*: the keys' ids: check them with the recipient."
    )
    public_keys: dict[str, Any] | None = Field(
        default=None, description="recipient.*: the keys, a JWK Set."
    )


class TokenHalfView(BaseModel):
    """One half of a new token (split custody, spec/api.md "Dual control"). Neither half
    authenticates: the token is ``"strv_"`` followed by half A and then half B, each without
    its ``strvA_``/``strvB_`` prefix (``strive admin join-token A B`` joins them)."""

    id: int = Field(description="The new token's id.")
    name: str
    role: str
    expires_at: ApiTimestamp
    half: str = Field(
        description="strvA_... (the requester's, from collect) or strvB_... (the approver's); "
        "shown once."
    )


class ApprovalResult(ApprovalRequestView):
    """An approved request; ``token_half`` is half B of a new token, shown only in this
    response; the requester collects half A."""

    token_half: TokenHalfView | None = None


def requester(user: User) -> admin.Person:
    """The admin token's holder as the requester (or decider) of an approval request."""
    return admin.Person(user.name, user.token_id, user.actor)


@router.get(
    "/asws",
    operation_id="listAsws",
    response_model=list[AswView],
    summary="Registered ASWs and their key ids",
)
def list_asws(user: AdminDep, sessions: SessionsDep) -> list[dict[str, Any]]:
    with sessions() as session:
        return admin.list_asws(session)


@router.post(
    "/asws",
    operation_id="registerAsw",
    responses=problems(409),
    status_code=202,
    response_model=ApprovalRequestView,
    summary="Ask to register an ASW with its first key (another admin approves)",
)
def register_asw(
    body: AswCreate, user: AdminDep, sessions: SessionsDep, settings: SettingsDep
) -> ApprovalRequestView:
    key = admin.public_key_from_jwk(body.public_key_jwk)
    with sessions() as session, session.begin():
        row = admin.request_asw_registration(
            session, asw_id=body.asw_id, name=body.name, public_key=key,
            requester=requester(user), ttl=timedelta(hours=settings.approval_request_hours),
        )  # fmt: skip
        return ApprovalRequestView.model_validate(admin.approval_view(row))


@router.post(
    "/asws/{asw_id}/keys",
    operation_id="addAswKey",
    responses=problems(409),
    status_code=202,
    response_model=ApprovalRequestView,
    summary="Ask to add a key to an ASW (another admin approves)",
)
def add_asw_key(
    asw_id: str, body: AswKeyCreate, user: AdminDep, sessions: SessionsDep, settings: SettingsDep
) -> ApprovalRequestView:
    key = admin.public_key_from_jwk(body.public_key_jwk)
    with sessions() as session, session.begin():
        row = admin.request_key(
            session, asw_id=asw_id, public_key=key, requester=requester(user),
            ttl=timedelta(hours=settings.approval_request_hours),
        )  # fmt: skip
        return ApprovalRequestView.model_validate(admin.approval_view(row))


@router.delete(
    "/asws/{asw_id}/keys/{key_id}",
    operation_id="revokeAswKey",
    response_model=AswKeyRevoked,
    summary="Revoke a key (kept for verifying old evidence)",
)
def revoke_asw_key(
    asw_id: str, key_id: str, user: AdminDep, sessions: SessionsDep
) -> dict[str, str]:
    with sessions() as session, session.begin():
        admin.revoke_key(session, asw_id=asw_id, key_id=key_id, actor=user.actor)
    return {"asw_id": asw_id, "key_id": key_id, "status": "revoked"}


@router.post(
    "/tokens",
    operation_id="createToken",
    status_code=201,
    response_model=None,
    responses={
        201: {"model": TokenCreated, "description": "An auditor token, shown once"},
        202: {
            "model": ApprovalRequestView,
            "description": "An analyst, supervisor or admin token waits for another admin's "
            "approval; the approver receives half of it, the requester the other half",
        },
    },
    summary="Create a bearer token, or ask for one that needs a second admin",
)
def create_token(
    body: TokenCreate,
    user: AdminDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    response: Response,
) -> TokenCreated | ApprovalRequestView:
    lifetime = timedelta(days=body.expires_in_days or settings.token_lifetime_days)
    with sessions() as session, session.begin():
        if admin.needs_dual_control(body.role):
            row = admin.request_token(
                session, name=body.name, role=body.role, lifetime=lifetime,
                requester=requester(user), ttl=timedelta(hours=settings.approval_request_hours),
            )  # fmt: skip
            response.status_code = 202
            return ApprovalRequestView.model_validate(admin.approval_view(row))
        token_id, token, expires_at = admin.create_token(
            session, name=body.name, role=body.role, lifetime=lifetime, actor=user.actor
        )
    return TokenCreated(
        id=token_id, name=body.name, role=body.role, expires_at=expires_at, token=token
    )


@router.get(
    "/approval-requests",
    operation_id="listApprovalRequests",
    response_model=list[ApprovalRequestView],
    summary="Dual-control requests, newest first (at most 200)",
)
def list_approval_requests(
    user: AdminDep,
    sessions: SessionsDep,
    state: Annotated[
        Literal["pending", "approved", "rejected", "expired", "all"],
        Query(description="Default: pending"),
    ] = "pending",
) -> list[ApprovalRequestView]:
    with sessions() as session:
        rows = admin.list_requests(session, state=None if state == "all" else state)
        return [ApprovalRequestView.model_validate(admin.approval_view(row)) for row in rows]


@router.get(
    "/approval-requests/{request_id}",
    operation_id="getApprovalRequest",
    response_model=ApprovalRequestView,
    summary="One dual-control request",
)
def get_approval_request(
    request_id: RequestId, user: AdminDep, sessions: SessionsDep
) -> ApprovalRequestView:
    with sessions() as session:
        row = admin.get_request(session, request_id=request_id)
        return ApprovalRequestView.model_validate(admin.approval_view(row))


@router.post(
    "/approval-requests/{request_id}/approve",
    operation_id="approveRequest",
    responses=problems(409, s403="Not allowed, or the requester approving their own request"),
    response_model=ApprovalResult,
    summary="Approve another admin's request and carry it out; half B of a new token is shown once",
)
def approve_request(request_id: RequestId, user: AdminDep, sessions: SessionsDep) -> ApprovalResult:
    with write_guard(sessions), sessions() as session, session.begin():
        approval = admin.approve_request(session, request_id=request_id, approver=requester(user))
        result = ApprovalResult.model_validate(admin.approval_view(approval.request))
    if approval.token_half is not None:
        result.token_half = _half_view(result, approval.token_half)
    return result


def _half_view(request: ApprovalRequestView, half: admin.TokenHalf) -> TokenHalfView:
    return TokenHalfView(
        id=half.token_id, name=request.token_name or "", role=request.role or "",
        expires_at=half.expires_at, half=half.half,
    )  # fmt: skip


@router.post(
    "/approval-requests/{request_id}/collect",
    operation_id="collectTokenHalf",
    responses=problems(409, s403="Only the requester collects their half"),
    response_model=TokenHalfView,
    summary="The requester collects half A of an approved token, once",
)
def collect_token_half(
    request_id: RequestId, user: AdminDep, sessions: SessionsDep
) -> TokenHalfView:
    with write_guard(sessions), sessions() as session, session.begin():
        half = admin.collect_token_half(session, request_id=request_id, collector=requester(user))
        view = ApprovalRequestView.model_validate(
            admin.approval_view(admin.get_request(session, request_id=request_id))
        )
    return _half_view(view, half)


@router.post(
    "/approval-requests/{request_id}/reject",
    operation_id="rejectRequest",
    responses=problems(409),
    response_model=ApprovalRequestView,
    summary="Refuse a pending request (or withdraw one's own)",
)
def reject_request(
    request_id: RequestId, user: AdminDep, sessions: SessionsDep
) -> ApprovalRequestView:
    with write_guard(sessions), sessions() as session, session.begin():
        row = admin.reject_request(session, request_id=request_id, by=requester(user))
        return ApprovalRequestView.model_validate(admin.approval_view(row))


@router.delete(
    "/tokens/{token_id}",
    operation_id="revokeToken",
    response_model=TokenRevoked,
    summary="Revoke a token",
)
def revoke_token(token_id: RowId, user: AdminDep, sessions: SessionsDep) -> dict[str, Any]:
    with sessions() as session, session.begin():
        admin.revoke_token(session, token_id=token_id, actor=user.actor)
    return {"id": token_id, "status": "revoked"}


@router.post(
    "/selector-exclusions",
    operation_id="excludeSelector",
    response_model=SelectorExcluded,
    status_code=201,
    summary="Stop a selector value linking referrals (e.g. an ASW's support number)",
)
def exclude_selector(
    body: SelectorExclusionCreate, user: AdminDep, sessions: SessionsDep
) -> dict[str, str]:
    with sessions() as session, session.begin():
        kind, value = admin.exclude_selector(
            session, kind=body.kind, value=body.value, reason=body.reason, actor=user.actor
        )
    return {"kind": kind, "value": value}
