"""Administration: ASWs, their keys, law-enforcement tokens, and dual control over them and
over recipients' keys. Used by the API and the CLI."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.envelope import format_timestamp
from strive_schema.errors import KeyFormatError
from strive_schema.key_validity import KeyValidity, judge_key
from strive_schema.keys import PublicKey
from strive_schema.semantics import Finding
from strive_server.core.security import DUAL_CONTROL_ROLES, ROLES, hash_token
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services import dissemination
from strive_server.services.audit import Actor, record_event

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "Approval",
    "Person",
    "TokenHalf",
    "add_key",
    "approval_view",
    "approve_request",
    "collect_token_half",
    "create_token",
    "exclude_selector",
    "get_request",
    "join_token_halves",
    "list_asws",
    "list_requests",
    "live_admin_tokens",
    "needs_dual_control",
    "public_key_from_jwk",
    "register_asw",
    "reject_request",
    "request_asw_registration",
    "request_key",
    "request_recipient_keys",
    "request_recipient_registration",
    "request_token",
    "retire_key",
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


def _check_period(not_before: datetime | None, not_after: datetime | None) -> None:
    if not_before is not None and not_after is not None and not_after < not_before:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID, "not_after must not be before not_before",
            errors=[Finding("/not_after", ProblemCode.REQUEST_INVALID, "is before not_before")],
        )  # fmt: skip


def add_key(
    session: Session,
    *,
    asw_id: str,
    public_key: PublicKey,
    actor: Actor,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> str:
    """Register another key for an ASW (rotation), valid from ``not_before`` to ``not_after``
    when given; return its key id.

    Raises:
        Problem: 404 ``not_found`` (no such ASW); 409 ``conflict`` (already registered);
            422 ``request_invalid`` (``not_after`` before ``not_before``).
    """
    if session.get(tables.Asw, asw_id) is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such ASW")
    if session.get(tables.AswKey, public_key.key_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this key is already registered")
    _check_period(not_before, not_after)
    validity = KeyValidity(not_before=not_before, not_after=not_after)
    session.add(
        tables.AswKey(
            key_id=public_key.key_id,
            asw_id=asw_id,
            public_jwk=public_key.to_jwk(),
            created_at=datetime.now(UTC),
            revoked_at=None,
            not_before=validity.not_before,
            not_after=validity.not_after,
        )
    )
    record_event(
        session,
        actor=actor,
        action="asw.key_added",
        detail={"asw_id": asw_id, "key_id": public_key.key_id, **validity.to_members()},
    )
    return public_key.key_id


def _asw_key(session: Session, asw_id: str, key_id: str) -> tables.AswKey:
    row = session.get(tables.AswKey, key_id)
    if row is None or row.asw_id != asw_id:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such key for this ASW")
    return row


def retire_key(
    session: Session, *, asw_id: str, key_id: str, actor: Actor, at: datetime | None = None
) -> datetime:
    """Retire a key from ``at`` (default: the next whole second): nothing received from then
    on counts,
    and everything received before stays valid evidence. Unlike a revocation it says
    nothing against the key. Returns the retirement time; retiring again changes nothing.

    Raises:
        Problem: 404 ``not_found``; 422 ``request_invalid`` for a time in the past (that
            would make evidence already accepted under the key invalid: a compromise is a
            revocation, :func:`revoke_key`).
    """
    row = _asw_key(session, asw_id, key_id)
    now = datetime.now(UTC)
    # From the next whole second at the earliest: whatever was received so far (received_at
    # is whole seconds) stays before the retirement.
    earliest = now.replace(microsecond=0) + timedelta(seconds=1)
    when = earliest if at is None else at.astimezone(UTC).replace(microsecond=0)
    if when < now.replace(microsecond=0):
        raise Problem(
            422, ProblemCode.REQUEST_INVALID,
            "a key cannot be retired in the past; revoke it with a compromise time instead",
            errors=[Finding("/retired_at", ProblemCode.REQUEST_INVALID, "is in the past")],
        )  # fmt: skip
    when = max(when, earliest)
    if row.retired_at is not None and row.retired_at <= when:
        return row.retired_at
    row.retired_at = when
    record_event(
        session,
        actor=actor,
        action="asw.key_retired",
        detail={"asw_id": asw_id, "key_id": key_id, "retired_at": format_timestamp(when)},
    )
    return when


def revoke_key(
    session: Session,
    *,
    asw_id: str,
    key_id: str,
    actor: Actor,
    compromised_at: datetime | None = None,
) -> datetime:
    """Revoke a key as compromised from ``compromised_at`` (default: now): no signature
    received from then on counts, and what was received before stays valid evidence (the
    evidence re-check says which applied). Returns the compromise time in force.

    Revoking again with an earlier compromise time moves it earlier (what was received in
    between becomes invalid); a later one changes nothing, so a revocation can never be
    weakened.

    Raises:
        Problem: 404 ``not_found``; 422 ``request_invalid`` for a compromise time in the
            future (to stop a key later, retire it).
    """
    row = _asw_key(session, asw_id, key_id)
    now = datetime.now(UTC).replace(microsecond=0)
    when = now if compromised_at is None else compromised_at.astimezone(UTC)
    when = when.replace(microsecond=0)
    if when > now:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID,
            "the compromise time is in the future; retire the key to stop it at a later time",
            errors=[Finding("/compromised_at", ProblemCode.REQUEST_INVALID, "is in the future")],
        )  # fmt: skip
    current = row.validity.compromised_at
    if current is not None and current <= when:
        return current
    row.revoked_at = row.revoked_at or now
    row.compromised_at = when
    record_event(
        session,
        actor=actor,
        action="asw.key_revoked",
        detail={
            "asw_id": asw_id,
            "key_id": key_id,
            "compromised_at": format_timestamp(when),
            **({"previous_compromised_at": format_timestamp(current)} if current else {}),
        },
    )
    return when


MAX_TOKEN_LIFETIME: Final = timedelta(days=366)


def _check_token_request(role: str, lifetime: timedelta) -> None:
    if role not in ROLES:
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"role must be one of {', '.join(ROLES)}")
    if not timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID, "a token's lifetime is between a second and 366 days"
        )


def create_token(
    session: Session, *, name: str, role: str, lifetime: timedelta, actor: Actor
) -> tuple[int, str, datetime]:
    """Create a bearer token valid for ``lifetime`` (at most a year); return its id, the
    token, which is shown only now, and when it expires.

    This is the completion step: it applies no dual control. The API and the CLI create
    tokens of a role in ``DUAL_CONTROL_ROLES`` only through :func:`approve_request`; tests and
    ``strive serve --demo`` call it directly."""
    _check_token_request(role, lifetime)
    return _store_token(
        session, name=name, role=role, lifetime=lifetime, actor=actor,
        token="strv_" + secrets.token_urlsafe(32),
    )  # fmt: skip


def _store_token(
    session: Session, *, name: str, role: str, lifetime: timedelta, actor: Actor, token: str
) -> tuple[int, str, datetime]:
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
    """ASWs with their keys (public data only): each key's lifecycle and the rule in force
    now (``active``, ``before_retirement``, ``after_compromise``, ...)."""
    asws = session.scalars(sa.select(tables.Asw).order_by(tables.Asw.id)).all()
    now = datetime.now(UTC)
    return [
        {
            "asw_id": asw.id,
            "name": asw.name,
            "keys": [
                {
                    "key_id": k.key_id,
                    "revoked": k.validity.revoked,
                    "state": judge_key(k.validity, now).rule.value,
                    **k.validity.to_members(),
                }
                for k in asw.keys
            ],
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


# --- Dual control ------------------------------------------------------------------------------

ApprovalAction = Literal[
    "token.create", "asw.register", "asw.key_add", "recipient.register", "recipient.key_add"
]
ApprovalState = Literal["pending", "approved", "rejected", "expired"]


def needs_dual_control(role: str) -> bool:
    """Whether a token of ``role`` is created only with a second admin's approval."""
    return role in DUAL_CONTROL_ROLES


@dataclass(frozen=True, slots=True)
class Person:
    """Who asks for or decides an approval request: an admin token's holder (``token_id``
    set) or an operator of the local CLI, named on the command line (``token_id`` None)."""

    name: str
    token_id: int | None
    actor: Actor

    def is_same_as(self, name: str, token_id: int | None) -> bool:
        """The same token, or the same holder name (compared without case or outer spaces):
        one person's second token is still one person."""
        if token_id is not None and token_id == self.token_id:
            return True
        return _person_key(name) == _person_key(self.name)


def _person_key(name: str) -> str:
    # NFKC first, so that compatibility variants (fullwidth letters, ligatures) of one name
    # are one name; casefolding can produce text NFKC changes again, hence the second pass.
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(unicodedata.normalize("NFKC", folded).split())


TOKEN_HALF_PREFIXES: Final = ("strvA_", "strvB_")
"""How the two halves of a dual-control token are marked: half A (kept for the requester)
and half B (shown to the approver)."""
_HALF_BYTES: Final = 32
_HALF: Final = re.compile(r"strv[AB]_[A-Za-z0-9_-]{43}")  # base64url of 32 bytes, unpadded


@dataclass(frozen=True, slots=True)
class TokenHalf:
    """One half of a new dual-control token: ``half`` is ``strvA_...`` or ``strvB_...``.
    Neither half authenticates; :func:`join_token_halves` makes the token from both."""

    token_id: int
    half: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Approval:
    """An executed approval request; ``token_half`` holds half B of a new token's secret,
    shown only now, to the approver (half A waits for the requester)."""

    request: tables.ApprovalRequest
    token_half: TokenHalf | None = None


def join_token_halves(first: str, second: str) -> str:
    """The token made of its two halves, given in either order:
    ``"strv_" + A + B`` where A and B are the halves without their ``strvA_``/``strvB_``
    prefixes.

    Raises:
        ValueError: when the two are not one half A and one half B.
    """
    halves: dict[str, str] = {}
    for half in (first.strip(), second.strip()):
        if _HALF.fullmatch(half) is None:
            raise ValueError("not a token half (strvA_... or strvB_..., 49 characters)")
        halves[half[:6]] = half[6:]
    if len(halves) != 2:
        raise ValueError("give one half A (strvA_...) and one half B (strvB_...)")
    return "strv_" + halves["strvA_"] + halves["strvB_"]


def live_admin_tokens(session: Session, *, now: datetime | None = None) -> int:
    """How many admin tokens are unrevoked and unexpired (zero: the CLI may bootstrap one)."""
    now = now or datetime.now(UTC)
    count = session.scalar(
        sa.select(sa.func.count())
        .select_from(tables.Token)
        .where(
            tables.Token.role == "admin",
            tables.Token.revoked_at.is_(None),
            tables.Token.expires_at > now,
        )
    )
    return int(count or 0)


def _new_request(
    session: Session,
    *,
    action: ApprovalAction,
    parameters: dict[str, Any],
    requester: Person,
    ttl: timedelta,
    audit_detail: dict[str, Any],
) -> tables.ApprovalRequest:
    now = datetime.now(UTC)
    row = tables.ApprovalRequest(
        action=action,
        parameters=parameters,
        state="pending",
        requested_by=requester.name,
        requested_by_token_id=requester.token_id,
        requested_at=now,
        expires_at=now + ttl,
        result={},
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=requester.actor,
        action="approval.requested",
        detail={"request_id": row.id, "request_action": action, **audit_detail},
    )
    return row


def request_token(
    session: Session,
    *,
    name: str,
    role: str,
    lifetime: timedelta,
    requester: Person,
    ttl: timedelta,
) -> tables.ApprovalRequest:
    """Ask for a token of a dual-control role; a second admin's approval creates it.

    Raises:
        Problem: 422 ``request_invalid`` for an unknown role or a lifetime beyond a year, or
            a role that needs no approval (create that token directly).
    """
    _check_token_request(role, lifetime)
    if not needs_dual_control(role):
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"a {role} token needs no approval")
    return _new_request(
        session,
        action="token.create",
        parameters={"name": name, "role": role, "lifetime_seconds": int(lifetime.total_seconds())},
        requester=requester,
        ttl=ttl,
        audit_detail={"role": role},
    )


def request_asw_registration(
    session: Session,
    *,
    asw_id: str,
    name: str,
    public_key: PublicKey,
    requester: Person,
    ttl: timedelta,
) -> tables.ApprovalRequest:
    """Ask to register an ASW with its first key; a second admin's approval registers it.

    Raises:
        Problem: 409 ``conflict`` when the ASW or the key is already registered.
    """
    if session.get(tables.Asw, asw_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this ASW is already registered")
    if session.get(tables.AswKey, public_key.key_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this key is already registered")
    return _new_request(
        session,
        action="asw.register",
        parameters={"asw_id": asw_id, "name": name, "public_jwk": public_key.to_jwk()},
        requester=requester,
        ttl=ttl,
        audit_detail={"asw_id": asw_id, "key_id": public_key.key_id},
    )


def request_key(
    session: Session,
    *,
    asw_id: str,
    public_key: PublicKey,
    requester: Person,
    ttl: timedelta,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tables.ApprovalRequest:
    """Ask to add a key to an ASW, valid from ``not_before`` to ``not_after`` when given; a
    second admin's approval adds it.

    Raises:
        Problem: 404 ``not_found`` for an unknown ASW; 409 ``conflict`` when the key is
            already registered; 422 ``request_invalid`` for ``not_after`` before
            ``not_before``.
    """
    if session.get(tables.Asw, asw_id) is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such ASW")
    if session.get(tables.AswKey, public_key.key_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this key is already registered")
    _check_period(not_before, not_after)
    period = KeyValidity(not_before=not_before, not_after=not_after).to_members()
    return _new_request(
        session,
        action="asw.key_add",
        parameters={"asw_id": asw_id, "public_jwk": public_key.to_jwk(), **period},
        requester=requester,
        ttl=ttl,
        audit_detail={"asw_id": asw_id, "key_id": public_key.key_id, **period},
    )


def request_recipient_registration(
    session: Session,
    *,
    recipient_id: str,
    name: str,
    regions: Sequence[str],
    jwks: Mapping[str, object],
    requester: Person,
    ttl: timedelta,
) -> tables.ApprovalRequest:
    """Ask to register a recipient (force, unit, agency) with its keys; a second admin's
    approval registers it. Its signing key reports outcomes, and its encryption key receives
    police intelligence: the same risk as an ASW's key.

    Raises:
        Problem: as :func:`strive_server.services.dissemination.new_recipient` (409
            ``conflict``, 422 ``request_invalid``).
    """
    keys = dissemination.new_recipient(session, recipient_id=recipient_id, jwks=jwks)
    return _new_request(
        session,
        action="recipient.register",
        parameters={
            "recipient_id": recipient_id,
            "name": name,
            "regions": sorted(set(regions)),
            "public_keys": keys.jwks,
        },
        requester=requester,
        ttl=ttl,
        audit_detail={"recipient_id": recipient_id, "key_ids": keys.key_ids},
    )


def request_recipient_keys(
    session: Session,
    *,
    recipient_id: str,
    jwks: Mapping[str, object],
    requester: Person,
    ttl: timedelta,
) -> tables.ApprovalRequest:
    """Ask to add keys to a recipient; a second admin's approval adds them.

    Raises:
        Problem: as :func:`strive_server.services.dissemination.new_recipient_keys` (404
            ``recipient_unknown``, 409 ``recipient_revoked`` or ``conflict``, 422).
    """
    keys = dissemination.new_recipient_keys(session, recipient_id=recipient_id, jwks=jwks)
    return _new_request(
        session,
        action="recipient.key_add",
        parameters={"recipient_id": recipient_id, "public_keys": keys.jwks},
        requester=requester,
        ttl=ttl,
        audit_detail={"recipient_id": recipient_id, "key_ids": keys.key_ids},
    )


def _state(row: tables.ApprovalRequest, now: datetime) -> ApprovalState:
    if row.state == "pending" and row.expires_at <= now:
        return "expired"
    state: ApprovalState = row.state  # type: ignore[assignment]
    return state


def get_request(session: Session, *, request_id: int) -> tables.ApprovalRequest:
    """One approval request.

    Raises:
        Problem: 404 ``not_found``.
    """
    row = session.get(tables.ApprovalRequest, request_id)
    if row is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such approval request")
    return row


def list_requests(
    session: Session, *, state: ApprovalState | None, limit: int = 200
) -> list[tables.ApprovalRequest]:
    """Approval requests, newest first; ``state`` None for all."""
    now = datetime.now(UTC)
    query = sa.select(tables.ApprovalRequest).order_by(tables.ApprovalRequest.id.desc())
    request = tables.ApprovalRequest
    if state == "pending":
        query = query.where(request.state == "pending", request.expires_at > now)
    elif state == "expired":
        query = query.where(request.state == "pending", request.expires_at <= now)
    elif state is not None:
        query = query.where(request.state == state)
    return list(session.scalars(query.limit(limit)))


def _decide(
    session: Session, *, request_id: int, decider: Person, state: Literal["approved", "rejected"]
) -> tables.ApprovalRequest:
    """Close a pending request, once: a concurrent second decision finds it closed."""
    row = get_request(session, request_id=request_id)
    now = datetime.now(UTC)
    current = _state(row, now)
    if current == "expired":
        raise Problem(409, ProblemCode.APPROVAL_EXPIRED, "this approval request has expired")
    if current != "pending":
        raise Problem(409, ProblemCode.APPROVAL_CLOSED, f"this approval request is {current}")
    request = tables.ApprovalRequest
    closed = session.execute(
        sa.update(request)
        .where(request.id == request_id, request.state == "pending")
        .values(
            state=state,
            decided_by=decider.name,
            decided_by_token_id=decider.token_id,
            decided_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(409, ProblemCode.APPROVAL_CLOSED, "this approval request was decided")
    session.refresh(row)
    return row


def approve_request(session: Session, *, request_id: int, approver: Person) -> Approval:
    """Approve a pending request and carry it out, in the caller's transaction.

    Raises:
        Problem: 404 ``not_found``; 403 ``approval_by_requester`` when the approver is the
            requester (the same token or holder name); 409 ``approval_expired``;
            409 ``approval_closed`` when it was decided before or the requester's token no
            longer works; what the action itself raises (e.g. 409 ``conflict``).
    """
    row = get_request(session, request_id=request_id)
    if approver.is_same_as(row.requested_by, row.requested_by_token_id):
        raise Problem(
            403,
            ProblemCode.APPROVAL_BY_REQUESTER,
            "a second person must approve: the requester cannot approve their own request",
        )
    if row.requested_by_token_id is not None and _state(row, datetime.now(UTC)) == "pending":
        token = session.get(tables.Token, row.requested_by_token_id)
        if token is None or token.revoked_at is not None:
            raise Problem(
                409, ProblemCode.APPROVAL_CLOSED, "the requester's token has been revoked"
            )
        if token.expires_at <= datetime.now(UTC):
            raise Problem(409, ProblemCode.APPROVAL_CLOSED, "the requester's token has expired")
    row = _decide(session, request_id=request_id, decider=approver, state="approved")
    parameters = row.parameters
    approval = Approval(row)
    if row.action == "token.create":
        # Split custody: the approver is shown half B, half A waits on the row for the
        # requester; neither alone holds a working token.
        lifetime = timedelta(seconds=int(parameters["lifetime_seconds"]))
        _check_token_request(parameters["role"], lifetime)
        half_a = secrets.token_urlsafe(_HALF_BYTES)
        half_b = secrets.token_urlsafe(_HALF_BYTES)
        token_id, _, expires_at = _store_token(
            session, name=parameters["name"], role=parameters["role"], lifetime=lifetime,
            actor=approver.actor, token="strv_" + half_a + half_b,
        )  # fmt: skip
        row.result = {"token_id": token_id}
        row.token_half = TOKEN_HALF_PREFIXES[0] + half_a
        approval = Approval(row, TokenHalf(token_id, TOKEN_HALF_PREFIXES[1] + half_b, expires_at))
    elif row.action == "asw.register":
        key = public_key_from_jwk(parameters["public_jwk"])
        register_asw(
            session, asw_id=parameters["asw_id"], name=parameters["name"], public_key=key,
            actor=approver.actor,
        )  # fmt: skip
        row.result = {"asw_id": parameters["asw_id"], "key_id": key.key_id}
    elif row.action == "asw.key_add":
        key = public_key_from_jwk(parameters["public_jwk"])
        period = KeyValidity.from_members(parameters)
        add_key(
            session, asw_id=parameters["asw_id"], public_key=key, actor=approver.actor,
            not_before=period.not_before, not_after=period.not_after,
        )  # fmt: skip
        row.result = {"asw_id": parameters["asw_id"], "key_id": key.key_id}
    elif row.action == "recipient.register":
        key_ids = dissemination.register_recipient(
            session, recipient_id=parameters["recipient_id"], name=parameters["name"],
            regions=parameters["regions"], jwks=parameters["public_keys"], actor=approver.actor,
        )  # fmt: skip
        row.result = {"recipient_id": parameters["recipient_id"], "key_ids": key_ids}
    elif row.action == "recipient.key_add":
        key_ids = dissemination.add_recipient_keys(
            session, recipient_id=parameters["recipient_id"], jwks=parameters["public_keys"],
            actor=approver.actor,
        )  # fmt: skip
        row.result = {"recipient_id": parameters["recipient_id"], "key_ids": key_ids}
    else:  # pragma: no cover - actions are written only by this module
        raise AssertionError(row.action)
    record_event(
        session,
        actor=approver.actor,
        action="approval.approved",
        detail={
            "request_id": row.id,
            "request_action": row.action,
            "requested_by": row.requested_by,
            **row.result,
        },
    )
    return approval


def collect_token_half(session: Session, *, request_id: int, collector: Person) -> TokenHalf:
    """Hand half A of an approved token request to its requester, once; the row then no
    longer holds it.

    Raises:
        Problem: 404 ``not_found``; 403 ``approval_not_requester`` when the collector is not
            the requester (the same token or holder name); 409 ``conflict`` when the request
            is not an approved token request; 409 ``approval_collected`` when half A was
            collected before.
    """
    row = get_request(session, request_id=request_id)
    if not collector.is_same_as(row.requested_by, row.requested_by_token_id):
        raise Problem(
            403,
            ProblemCode.APPROVAL_NOT_REQUESTER,
            "only the requester collects the requester's half of the token",
        )
    if row.action != "token.create" or row.state != "approved":
        raise Problem(409, ProblemCode.CONFLICT, "only an approved token request has a half")
    half = row.token_half
    request = tables.ApprovalRequest
    taken = session.execute(
        sa.update(request)
        .where(request.id == request_id, request.token_half.is_not(None))
        .values(token_half=None)
        .execution_options(synchronize_session=False)
    )
    if half is None or taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(
            409, ProblemCode.APPROVAL_COLLECTED, "the requester's half was already collected"
        )
    session.refresh(row)
    token_id = int(row.result["token_id"])
    token = session.get(tables.Token, token_id)
    assert token is not None  # created with the approval, tokens are never deleted
    record_event(
        session,
        actor=collector.actor,
        action="approval.collected",
        detail={"request_id": row.id, "token_id": token_id},
    )
    return TokenHalf(token_id, half, token.expires_at)


def reject_request(session: Session, *, request_id: int, by: Person) -> tables.ApprovalRequest:
    """Refuse a pending request (any admin), or withdraw one's own.

    Raises:
        Problem: 404 ``not_found``; 409 ``approval_expired`` or ``approval_closed``.
    """
    row = _decide(session, request_id=request_id, decider=by, state="rejected")
    record_event(
        session,
        actor=by.actor,
        action="approval.rejected",
        detail={"request_id": row.id, "request_action": row.action},
    )
    return row


def approval_view(row: tables.ApprovalRequest) -> dict[str, Any]:
    """What an admin sees of a request: who asked, for what, and its state; no secret."""
    parameters = row.parameters
    view: dict[str, Any] = {
        "id": row.id,
        "action": row.action,
        "state": _state(row, datetime.now(UTC)),
        "requested_by": row.requested_by,
        "requested_at": row.requested_at,
        "expires_at": row.expires_at,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
    }
    if row.action == "token.create":
        view["token_name"] = parameters["name"]
        view["role"] = parameters["role"]
        view["token_lifetime_seconds"] = int(parameters["lifetime_seconds"])
        view["token_id"] = row.result.get("token_id")
        if row.state == "approved":
            view["half_collected"] = row.token_half is None
    elif row.action.startswith("recipient."):
        view["recipient_id"] = parameters["recipient_id"]
        view["recipient_name"] = parameters.get("name")
        view["regions"] = parameters.get("regions")
        view["key_ids"] = [key["kid"] for key in parameters["public_keys"]["keys"]]
        view["public_keys"] = parameters["public_keys"]
    else:
        key = PublicKey.from_jwk(parameters["public_jwk"])
        view["asw_id"] = parameters["asw_id"]
        view["asw_name"] = parameters.get("name")
        view["key_id"] = key.key_id
        view["public_key_jwk"] = parameters["public_jwk"]
    return view
