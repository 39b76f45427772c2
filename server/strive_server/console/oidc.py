"""Single sign-on with the force's OpenID Connect provider (authorisation code flow with PKCE
and a nonce). Authlib builds the authorisation request; joserfc (Authlib's JOSE library)
verifies the ID token against the provider's published keys. The state, nonce and PKCE
verifier wait in the database (``console_sign_ins``), never in the browser. The browser keeps
only a random binding (a cookie) whose SHA-256 is the nonce: the callback must come back
from the browser that started the sign-in (no login CSRF)."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from strive_server.core.config import Settings
from strive_server.core.security import ROLES, hash_token
from strive_server.db import tables

__all__ = ["SignInFailed", "finish_sign_in", "map_role", "start_sign_in"]

SIGN_IN_LIFETIME: Final = timedelta(minutes=10)
METADATA_TTL: Final = 300.0
TIMEOUT: Final = 10.0


class SignInFailed(Exception):
    """Single sign-on did not produce a person with a Strive role (the reason is safe to
    show: it names no claim values)."""


@dataclass(frozen=True)
class Identity:
    subject: str
    name: str
    role: str


_metadata_lock = threading.Lock()
_metadata: dict[str, tuple[float, dict[str, Any]]] = {}


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The provider's discovery document (cached for a few minutes)."""
    with _metadata_lock:
        cached = _metadata.get(issuer)
        if cached and time.monotonic() - cached[0] < METADATA_TTL:
            return cached[1]
    response = httpx.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise SignInFailed("the identity provider's discovery document names another issuer")
    with _metadata_lock:
        _metadata[issuer] = (time.monotonic(), document)
    return document


def _client(settings: Settings) -> tuple[str, str, str]:
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        raise SignInFailed("single sign-on is not configured on this receiver")
    return settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret


def start_sign_in(
    session: Session, settings: Settings, *, redirect_uri: str, now: datetime
) -> tuple[str, str]:
    """Remember a new sign-in and return the provider's authorisation URL to send the
    browser to, and the binding the browser must keep (in a cookie) for the callback."""
    issuer, client_id, _ = _client(settings)
    metadata = provider_metadata(issuer)
    binding, state, verifier = generate_token(43), generate_token(43), generate_token(64)
    nonce = hash_token(binding)
    session.execute(
        sa.delete(tables.ConsoleSignIn).where(
            tables.ConsoleSignIn.created_at < now - SIGN_IN_LIFETIME
        )
    )
    session.add(
        tables.ConsoleSignIn(state=state, nonce=nonce, code_verifier=verifier, created_at=now)
    )
    url: str = prepare_grant_uri(
        metadata["authorization_endpoint"], client_id, "code", redirect_uri=redirect_uri,
        scope="openid email profile", state=state, nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256",
    )  # fmt: skip
    return url, binding


def map_role(claims: dict[str, Any], settings: Settings) -> str | None:
    """The Strive role the configured claim grants: a value listed in ``oidc_role_map``, or
    a value that is itself a role name. Several values: the first that maps."""
    value = claims.get(settings.oidc_role_claim)
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not isinstance(item, str):
            continue
        role = settings.oidc_role_map.get(item, item if item in ROLES else None)
        if role in ROLES:
            return role
    return None


def finish_sign_in(
    session: Session, settings: Settings, *, state: str, code: str, binding: str,
    redirect_uri: str, now: datetime,
) -> Identity:  # fmt: skip
    """Check that the browser holds the sign-in's binding, exchange the code, verify the ID
    token (signature, issuer, audience, expiry, nonce) and map the person's role.

    Raises:
        SignInFailed: an unknown or stale state, a browser without the binding, a refused
            exchange, an ID token that does not verify, or no Strive role in the claims.
    """
    issuer, client_id, client_secret = _client(settings)
    pending = session.get(tables.ConsoleSignIn, state) if state else None
    if pending is None:
        raise SignInFailed("this sign-in is unknown or was already used; start again")
    session.delete(pending)  # one use only
    if pending.created_at < now - SIGN_IN_LIFETIME:
        raise SignInFailed("this sign-in took too long; start again")
    if not binding or not hmac.compare_digest(hash_token(binding), pending.nonce):
        raise SignInFailed("this sign-in was not started in this browser; start again")
    metadata = provider_metadata(issuer)
    exchanged = httpx.post(
        metadata["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
              "code_verifier": pending.code_verifier},
        auth=(client_id, client_secret),
        timeout=TIMEOUT,
    )  # fmt: skip
    if exchanged.status_code != 200 or "id_token" not in exchanged.json():
        raise SignInFailed("the identity provider refused the sign-in")
    keys = httpx.get(metadata["jwks_uri"], timeout=TIMEOUT)
    keys.raise_for_status()
    try:
        token = jwt.decode(exchanged.json()["id_token"], KeySet.import_key_set(keys.json()))
        jwt.JWTClaimsRegistry(
            now=int(now.timestamp()), leeway=60,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": client_id},
            nonce={"essential": True, "value": pending.nonce},
            sub={"essential": True}, exp={"essential": True},
        ).validate(token.claims)  # fmt: skip
    except (JoseError, ValueError) as exc:
        raise SignInFailed("the identity provider's ID token did not verify") from exc
    claims = dict(token.claims)
    role = map_role(claims, settings)
    if role is None and metadata.get("userinfo_endpoint"):
        info = httpx.get(
            metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {exchanged.json()['access_token']}"},
            timeout=TIMEOUT,
        )
        if info.status_code == 200 and info.json().get("sub") == claims["sub"]:
            claims = {**info.json(), **claims}
            role = map_role(claims, settings)
    if role is None:
        raise SignInFailed("your account has no Strive role; ask your administrator")
    name = claims.get(settings.oidc_name_claim) or claims["sub"]
    return Identity(subject=str(claims["sub"]), name=str(name)[:200], role=role)
