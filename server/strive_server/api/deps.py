"""Request dependencies: settings, sessions, and the two ways to authenticate.

* ASWs sign every request with their own key (RFC 9421); submissions are signed envelopes.
  Recipients (forces) sign theirs the same way, verified by the same code.
* Law-enforcement users present bearer tokens; only a token's SHA-256 is stored.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Final

import sqlalchemy as sa
from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import ClientDisconnect

from strive_schema.codes import ProblemCode
from strive_schema.errors import ProtocolCode, VerificationError
from strive_schema.httpsig import check_request_headers, verify_request, verify_request_headers
from strive_schema.key_validity import KeyValidity
from strive_schema.keys import PublicKey
from strive_server.api.contract import (
    ASW_SIGNATURE,
    BEARER,
    BEARER_OR_ANONYMOUS,
    RECIPIENT_SIGNATURE,
    authenticates,
)
from strive_server.core.config import Settings
from strive_server.core.security import ROLES, hash_token
from strive_server.db import tables
from strive_server.db.engine import write_guard
from strive_server.problems import Problem, verification_problem
from strive_server.services.audit import Actor
from strive_server.services.key_lifecycle import (
    EXPLAINABLE,
    JudgedKey,
    judged_keys,
    lifecycle_refusal,
)
from strive_server.services.ratelimit import (
    consume_recipient_request_quota,
    consume_signed_read_quota,
    remember_nonce,
)

logger = logging.getLogger("strive.server.auth")

__all__ = [
    "MAX_ROW_ID",
    "ROLES",
    "AswCaller",
    "RecipientCaller",
    "RecipientDep",
    "RoleCheck",
    "RowId",
    "SessionsDep",
    "SettingsDep",
    "UploadCaller",
    "User",
    "authenticated_asw",
    "authenticated_asw_upload",
    "authenticated_recipient",
    "combined_header_fields",
    "hash_token",
    "read_body",
    "require_roles",
]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]

MAX_ROW_ID: Final = 2**31 - 1
"""The largest id a row can have (PostgreSQL ``integer``): a larger one in a path, query or
cursor is refused before it reaches the database, which would fail on it."""
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""A row id in a path (a cluster, a token)."""


def combined_header_fields(request: Request) -> dict[str, str]:
    """The request's header fields, several lines of one field combined in order with ", "
    (RFC 9110 section 5.3), so a field sent on two lines is read whole, not its first line."""
    combined: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        combined.setdefault(name, []).append(value)
    return {name: ", ".join(values) for name, values in combined.items()}


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) more than ``limit`` bytes without buffering them."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, ProblemCode.BODY_TOO_LARGE, f"the body may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                detail = f"the body may be at most {limit} bytes"
                raise Problem(413, ProblemCode.BODY_TOO_LARGE, detail)
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer; a problem (not a traceback) ends the request.
        raise Problem(
            400, ProblemCode.REQUEST_MALFORMED, "the client left before the body was complete"
        ) from None
    return b"".join(chunks)


def public_origin(request: Request, settings: Settings) -> str:
    """The origin signed requests are verified against: ``STRIVE_PUBLIC_BASE_URL`` when set,
    otherwise the scheme and ``Host`` of the request (published in the discovery document)."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def target_uri(request: Request, settings: Settings) -> str:
    """The absolute target URI as the client sent it: public origin plus raw path and query."""
    origin = public_origin(request, settings)
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1")
    if query:
        target += "?" + query.decode("latin-1")
    return origin + target


# --- Signed requests: ASWs and recipients ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AswCaller:
    """An ASW whose signed request verified."""

    asw_id: str
    key_id: str

    @property
    def actor(self) -> Actor:
        return Actor("asw", self.asw_id)


@dataclass(frozen=True, slots=True)
class RecipientCaller:
    """A recipient (force, unit, agency) whose signed request verified, with the body it
    signed."""

    recipient_id: str
    key_id: str
    body: bytes

    @property
    def actor(self) -> Actor:
        return Actor("recipient", self.recipient_id)


@dataclass(frozen=True, slots=True)
class _Signer:
    """Who signs requests of one kind: the header naming them, where their keys are, and
    the quota their verified requests count against."""

    header: str
    who: str
    keys: Callable[[Session, str, datetime], tuple[list[PublicKey], list[JudgedKey]]]
    """The claimed signer's Ed25519 keys at a time: those usable, and those its lifecycle
    refuses with the judgement that does (spec/protocol.md, "Key lifecycle")."""
    count: Callable[[Session, str, datetime, Settings], None]


@dataclass(frozen=True, slots=True)
class _Verified:
    signer_id: str
    key_id: str
    body: bytes


async def _verify_signed_request(
    request: Request, settings: Settings, sessions: sessionmaker[Session], signer: _Signer
) -> _Verified:
    """Verify a signed request (RFC 9421 + RFC 9530) by the current keys of the signer its
    header names, count it against that signer's quota (429 when spent), then remember its
    nonce (401 ``nonce_replayed`` when seen before)."""
    claimed = request.headers.get(signer.header)
    if not claimed:
        raise Problem(
            401,
            ProblemCode.AUTHENTICATION_REQUIRED,
            f"sign the request and name {signer.who} in the {signer.header} header",
        )
    now = datetime.now(UTC)
    fields = combined_header_fields(request)
    try:  # what needs no body first: an unsigned or stale request costs no read
        check_request_headers(fields, now=now)
    except VerificationError as exc:
        raise verification_problem(exc) from None
    body = await read_body(request, settings.max_envelope_bytes)
    origin = public_origin(request, settings)
    target = target_uri(request, settings)
    with write_guard(sessions), sessions() as session, session.begin():
        current, refused = signer.keys(session, claimed, now)
        try:
            verified = verify_request(request.method, target, fields, body, current, now=now)
        except VerificationError as exc:
            raise _signed_request_problem(
                exc, request.method, target, fields, body, origin, refused, now
            ) from None
        # Verified first: nobody spends another's quota; refused, no nonce is stored.
        signer.count(session, claimed, now, settings)
        remember_nonce(session, key_id=verified.key_id, nonce=verified.nonce, now=now)
    return _Verified(claimed, verified.key_id, body)


def _signed_request_problem(
    error: VerificationError,
    method: str,
    target: str,
    fields: dict[str, str],
    body: bytes,
    origin: str,
    refused: list[JudgedKey],
    now: datetime,
) -> Problem:
    """The problem for a signed request that did not verify under the signer's current keys.

    Step H9 failed (``key_unknown``, ``signature_invalid``) but a key of the signer that its
    lifecycle refuses verifies the signature: ``key_revoked``, ``key_retired``,
    ``key_expired`` or ``key_not_yet_valid``, as for submissions (spec/protocol.md section 9).
    Every earlier check (H1 to H8) has passed by then, so it keeps its own code.
    """
    if error.code in EXPLAINABLE:

        def verifies(keys: list[PublicKey]) -> bool:
            try:
                verify_request(method, target, fields, body, keys, now=now)
            except VerificationError:
                return False
            return True

        refusal = lifecycle_refusal(refused, verifies, "the request")
        if refusal is not None:
            return refusal
    problem = verification_problem(error)
    if error.code == ProtocolCode.SIGNATURE_INVALID:
        # The most common cause is signing for another origin (localhost for 127.0.0.1, a
        # proxy's inner name): say which one this receiver verifies against.
        detail = (
            f"{error.detail}; this receiver verifies signatures over the origin {origin} "
            "(the discovery document's origin) and the path and query as sent"
        )
        return Problem(problem.status, problem.code, detail)
    return problem


def _asw_keys(
    session: Session, asw_id: str, now: datetime
) -> tuple[list[PublicKey], list[JudgedKey]]:
    rows = session.scalars(sa.select(tables.AswKey).where(tables.AswKey.asw_id == asw_id)).all()
    return judged_keys([(PublicKey.from_jwk(r.public_jwk), r.validity) for r in rows], now)


def _count_asw_request(session: Session, asw_id: str, now: datetime, settings: Settings) -> None:
    consume_signed_read_quota(
        session, asw_id=asw_id, now=now, limit=settings.signed_read_limit_per_minute
    )


_ASW = _Signer("Strive-Asw-Id", "your organisation", _asw_keys, _count_asw_request)


@authenticates(ASW_SIGNATURE)
async def authenticated_asw(
    request: Request, settings: SettingsDep, sessions: SessionsDep
) -> AswCaller:
    """Verify an ASW's signed request (RFC 9421 + RFC 9530), count it against the ASW's
    signed-read quota (429 when spent) and remember its nonce."""
    verified = await _verify_signed_request(request, settings, sessions, _ASW)
    return AswCaller(verified.signer_id, verified.key_id)


@dataclass(frozen=True, slots=True)
class UploadCaller:
    """An ASW whose signed upload request verified before its body was read, with the
    SHA-256 its signature vouches for (``Content-Digest``): the body must hash to it."""

    asw_id: str
    key_id: str
    sha256: bytes

    @property
    def actor(self) -> Actor:
        return Actor("asw", self.asw_id)


async def authenticated_asw_upload(
    request: Request, settings: Settings, sessions: sessionmaker[Session]
) -> UploadCaller:
    """Verify an ASW's signed request whose body is a file, without reading the body: the
    signature covers ``Content-Digest``, and the caller hashes the body as it streams it and
    refuses a body that does not match (spec/evidence-files.md). Quota and nonce as for
    :func:`authenticated_asw`."""
    claimed = request.headers.get(_ASW.header)
    if not claimed:
        raise Problem(
            401, ProblemCode.AUTHENTICATION_REQUIRED,
            f"sign the request and name your organisation in the {_ASW.header} header",
        )  # fmt: skip
    now = datetime.now(UTC)
    fields = combined_header_fields(request)
    target = target_uri(request, settings)
    try:
        check_request_headers(fields, now=now)
    except VerificationError as exc:
        raise verification_problem(exc) from None
    with write_guard(sessions), sessions() as session, session.begin():
        current, refused = _asw_keys(session, claimed, now)
        try:
            verified, sha256 = verify_request_headers(
                request.method, target, fields, current, now=now
            )
        except VerificationError as exc:
            if exc.code in EXPLAINABLE:

                def verifies(keys: list[PublicKey]) -> bool:
                    try:
                        verify_request_headers(request.method, target, fields, keys, now=now)
                    except VerificationError:
                        return False
                    return True

                refusal = lifecycle_refusal(refused, verifies, "the request")
                if refusal is not None:
                    raise refusal from None
            raise verification_problem(exc) from None
        _count_asw_request(session, claimed, now, settings)
        remember_nonce(session, key_id=verified.key_id, nonce=verified.nonce, now=now)
    return UploadCaller(claimed, verified.key_id, sha256)


def _recipient_keys(
    session: Session, recipient_id: str, now: datetime
) -> tuple[list[PublicKey], list[JudgedKey]]:
    """A recipient's Ed25519 signing keys; all revoked once the recipient is."""
    recipient = session.get(tables.Recipient, recipient_id)
    if recipient is None:
        return [], []
    rows = session.scalars(
        sa.select(tables.RecipientKey).where(
            tables.RecipientKey.recipient_id == recipient_id,
            tables.RecipientKey.purpose == "sig",
        )
    ).all()

    gone = recipient.revoked_at

    def validity(row: tables.RecipientKey) -> KeyValidity:
        # A revoked recipient's keys are all refused from the recipient's revocation.
        own = row.validity
        if gone is None or (own.compromised_at is not None and own.compromised_at <= gone):
            return own
        return replace(own, compromised_at=gone)

    return judged_keys([(PublicKey.from_jwk(r.public_jwk), validity(r)) for r in rows], now)


def _count_recipient_request(
    session: Session, recipient_id: str, now: datetime, settings: Settings
) -> None:
    consume_recipient_request_quota(
        session, recipient_id=recipient_id, now=now, limit=settings.signed_read_limit_per_minute
    )


_RECIPIENT = _Signer(
    "Strive-Recipient-Id", "the recipient", _recipient_keys, _count_recipient_request
)


@authenticates(RECIPIENT_SIGNATURE)
async def authenticated_recipient(
    request: Request, settings: SettingsDep, sessions: SessionsDep
) -> RecipientCaller:
    """Verify a recipient's signed request exactly as an ASW's (:func:`authenticated_asw`),
    by the recipient's Ed25519 keys, against the recipient's own quota."""
    verified = await _verify_signed_request(request, settings, sessions, _RECIPIENT)
    return RecipientCaller(verified.signer_id, verified.key_id, verified.body)


AswDep = Annotated[AswCaller, Depends(authenticated_asw)]
RecipientDep = Annotated[RecipientCaller, Depends(authenticated_recipient)]


# --- Law-enforcement users ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    """A law-enforcement user, identified by the name and role of their token."""

    token_id: int
    name: str
    role: str

    @property
    def actor(self) -> Actor:
        return Actor("user", self.name, self.role)


def bearer_user(request: Request, sessions: SessionsDep) -> User:
    """The user whose bearer token authenticates the request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            ProblemCode.AUTHENTICATION_REQUIRED,
            "a bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="strive"'},
        )
    digest = hash_token(token.strip())
    with sessions() as session:
        row = session.scalars(
            sa.select(tables.Token).where(tables.Token.token_hash == digest)
        ).one_or_none()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= datetime.now(UTC)
        or not hmac.compare_digest(row.token_hash, digest)
    ):
        raise Problem(
            401,
            ProblemCode.TOKEN_INVALID,
            "the token is unknown, revoked or expired",
            headers={"WWW-Authenticate": 'Bearer realm="strive", error="invalid_token"'},
        )
    return User(row.id, row.name, row.role)


def _log_denied(request: Request, user: User) -> None:
    # Who was refused what: identifiers only (token id, role, route template).
    route = getattr(request.scope.get("route"), "path", "unmatched")
    logger.warning(
        "access denied",
        extra={"event": "access_denied", "token_id": user.token_id, "role": user.role,
               "route": route},
    )  # fmt: skip


@authenticates(BEARER)
class RoleCheck:
    """The dependency behind :func:`require_roles`. The request guard (``api/guard.py``)
    runs :meth:`authorise` before a body is read, since FastAPI reads and parses a body
    before it solves dependencies."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles

    def __call__(self, request: Request, user: Annotated[User, Depends(bearer_user)]) -> User:
        return self.admit(request, user)

    def admit(self, request: Request, user: User) -> User:
        """``user`` if their role is one of ``roles``; raises 403 ``forbidden`` otherwise."""
        if user.role not in self.roles:
            _log_denied(request, user)
            raise Problem(
                403,
                ProblemCode.FORBIDDEN,
                f"this needs one of the roles: {', '.join(self.roles)}",
            )
        return user

    def authorise(self, request: Request) -> User:
        """Authenticate the bearer token and check the role (raises 401 or 403)."""
        return self.admit(request, bearer_user(request, get_sessions(request)))


def require_roles(*roles: str) -> object:
    """A dependency admitting only users holding one of ``roles``."""
    return Depends(RoleCheck(roles))


def optional_roles(*roles: str) -> object:
    """Like :func:`require_roles`, but ``None`` when no token is presented."""

    @authenticates(BEARER_OR_ANONYMOUS)
    def check(request: Request, sessions: SessionsDep) -> User | None:
        if "authorization" not in request.headers:
            return None
        user = bearer_user(request, sessions)
        if user.role not in roles:
            _log_denied(request, user)
            raise Problem(
                403, ProblemCode.FORBIDDEN, f"this needs one of the roles: {', '.join(roles)}"
            )
        return user

    return Depends(check)
