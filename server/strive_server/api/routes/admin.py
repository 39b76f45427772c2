"""Administration over the API (admin tokens): ASWs, their keys, tokens. No referral
content is reachable with an admin token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter

from strive_server.api.deps import RowId, SessionsDep, SettingsDep, User, require_roles
from strive_server.api.schemas import (
    AswCreate,
    AswKeyCreate,
    SelectorExclusionCreate,
    TokenCreate,
    TokenCreated,
)
from strive_server.services import admin

router = APIRouter(tags=["admin"], prefix="/v1/admin")
AdminDep = Annotated[User, require_roles("admin")]


@router.get("/asws", operation_id="listAsws", summary="Registered ASWs and their key ids")
def list_asws(user: AdminDep, sessions: SessionsDep) -> list[dict[str, Any]]:
    with sessions() as session:
        return admin.list_asws(session)


@router.post("/asws", operation_id="registerAsw", status_code=201, summary="Register an ASW")
def register_asw(body: AswCreate, user: AdminDep, sessions: SessionsDep) -> dict[str, str]:
    key = admin.public_key_from_jwk(body.public_key_jwk)
    with sessions() as session, session.begin():
        key_id = admin.register_asw(
            session, asw_id=body.asw_id, name=body.name, public_key=key, actor=user.actor
        )
    return {"asw_id": body.asw_id, "key_id": key_id}


@router.post("/asws/{asw_id}/keys", operation_id="addAswKey", status_code=201, summary="Add a key")
def add_asw_key(
    asw_id: str, body: AswKeyCreate, user: AdminDep, sessions: SessionsDep
) -> dict[str, str]:
    key = admin.public_key_from_jwk(body.public_key_jwk)
    with sessions() as session, session.begin():
        key_id = admin.add_key(session, asw_id=asw_id, public_key=key, actor=user.actor)
    return {"asw_id": asw_id, "key_id": key_id}


@router.delete(
    "/asws/{asw_id}/keys/{key_id}",
    operation_id="revokeAswKey",
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
    response_model=TokenCreated,
    summary="Create a bearer token; it is shown once",
)
def create_token(
    body: TokenCreate, user: AdminDep, sessions: SessionsDep, settings: SettingsDep
) -> TokenCreated:
    days = body.expires_in_days or settings.token_lifetime_days
    with sessions() as session, session.begin():
        token_id, token, expires_at = admin.create_token(
            session, name=body.name, role=body.role, lifetime=timedelta(days=days),
            actor=user.actor,
        )  # fmt: skip
    return TokenCreated(
        id=token_id, name=body.name, role=body.role, expires_at=expires_at, token=token
    )


@router.delete("/tokens/{token_id}", operation_id="revokeToken", summary="Revoke a token")
def revoke_token(token_id: RowId, user: AdminDep, sessions: SessionsDep) -> dict[str, Any]:
    with sessions() as session, session.begin():
        admin.revoke_token(session, token_id=token_id, actor=user.actor)
    return {"id": token_id, "status": "revoked"}


@router.post(
    "/selector-exclusions",
    operation_id="excludeSelector",
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
