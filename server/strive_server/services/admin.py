"""Administration: ASWs, their keys, and law-enforcement tokens. Used by the API and the CLI."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.envelope import format_timestamp
from strive_schema.errors import KeyFormatError
from strive_schema.keys import PublicKey
from strive_server.core.security import ROLES, hash_token
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services.audit import Actor, record_event

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "add_key",
    "create_token",
    "exclude_selector",
    "list_asws",
    "public_key_from_jwk",
    "register_asw",
    "revoke_key",
    "revoke_token",
]


def public_key_from_jwk(jwk: Mapping[str, object]) -> PublicKey:
    """Read an ASW's public key from a JWK.

    Raises:
        Problem: 422 ``request_invalid`` when it is not an Ed25519 public key.
    """
    try:
        return PublicKey.from_jwk(jwk)
    except KeyFormatError as exc:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID, f"not an Ed25519 public key: {exc}"
        ) from None


def register_asw(
    session: Session, *, asw_id: str, name: str, public_key: PublicKey, actor: Actor
) -> str:
    """Register an ASW with its first key; return the key id.

    Raises:
        Problem: 409 ``conflict`` when the ASW or the key is already registered.
    """
    if session.get(tables.Asw, asw_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this ASW is already registered")
    now = datetime.now(UTC)
    session.add(tables.Asw(id=asw_id, name=name, created_at=now))
    session.flush()
    add_key(session, asw_id=asw_id, public_key=public_key, actor=actor)
    record_event(session, actor=actor, action="asw.registered", detail={"asw_id": asw_id})
    return public_key.key_id


def add_key(session: Session, *, asw_id: str, public_key: PublicKey, actor: Actor) -> str:
    """Register another key for an ASW (rotation); return its key id."""
    if session.get(tables.Asw, asw_id) is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such ASW")
    if session.get(tables.AswKey, public_key.key_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this key is already registered")
    session.add(
        tables.AswKey(
            key_id=public_key.key_id,
            asw_id=asw_id,
            public_jwk=public_key.to_jwk(),
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
    )
    record_event(
        session,
        actor=actor,
        action="asw.key_added",
        detail={"asw_id": asw_id, "key_id": public_key.key_id},
    )
    return public_key.key_id


def revoke_key(session: Session, *, asw_id: str, key_id: str, actor: Actor) -> None:
    """Revoke a key: it no longer authenticates anything, but evidence it signed stays
    verifiable. Revoking twice is harmless."""
    row = session.get(tables.AswKey, key_id)
    if row is None or row.asw_id != asw_id:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such key for this ASW")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        record_event(
            session,
            actor=actor,
            action="asw.key_revoked",
            detail={"asw_id": asw_id, "key_id": key_id},
        )


MAX_TOKEN_LIFETIME: Final = timedelta(days=366)


def create_token(
    session: Session, *, name: str, role: str, lifetime: timedelta, actor: Actor
) -> tuple[int, str, datetime]:
    """Create a bearer token valid for ``lifetime`` (at most a year); return its id, the
    token, which is shown only now, and when it expires."""
    if role not in ROLES:
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"role must be one of {', '.join(ROLES)}")
    if not timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID, "a token's lifetime is between a second and 366 days"
        )
    token = "strv_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC).replace(microsecond=0)  # times are kept in whole seconds
    row = tables.Token(
        name=name,
        role=role,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="token.created",
        detail={"token_id": row.id, "role": role, "expires_at": format_timestamp(row.expires_at)},
    )
    return row.id, token, row.expires_at


def revoke_token(session: Session, *, token_id: int, actor: Actor) -> None:
    """Revoke a token at once."""
    row = session.get(tables.Token, token_id)
    if row is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such token")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        record_event(session, actor=actor, action="token.revoked", detail={"token_id": token_id})


def list_asws(session: Session) -> list[dict[str, object]]:
    """ASWs with their keys (public data only)."""
    asws = session.scalars(sa.select(tables.Asw).order_by(tables.Asw.id)).all()
    return [
        {
            "asw_id": asw.id,
            "name": asw.name,
            "keys": [{"key_id": k.key_id, "revoked": k.revoked_at is not None} for k in asw.keys],
        }
        for asw in asws
    ]


def exclude_selector(
    session: Session, *, kind: str, value: str, reason: str, actor: Actor
) -> tuple[str, str]:
    """Stop a value linking referrals from now on (an ASW's own support number, say); returns
    the normalised (kind, value). Links made before stay; the value is still shown."""
    from strive_server.services.intelligence import normalised_selector  # noqa: PLC0415

    normalised = normalised_selector(kind, value)
    if session.get(tables.SelectorExclusion, (kind, normalised)) is None:
        session.add(
            tables.SelectorExclusion(
                kind=kind, value=normalised, reason=reason, created_at=datetime.now(UTC)
            )
        )
        record_event(
            session, actor=actor, action="selector.excluded", reason=reason, detail={"kind": kind}
        )
    return kind, normalised
