"""Recipients, sealed dissemination of cluster packages, and the outcome history.

A dissemination builds the cluster's package in the requested formats plus its assessment
and research, signs it with the receiver's key and seals it to the recipient's public key
(``strive_schema.sealed``). The receiver returns the sealed file once and keeps only the
record: digests, formats, grading, recipient, who, when and why. Outcomes are kept as a
history (``outcome_events``), never overwritten; the referral's ``outcome`` is the latest.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.envelope import format_timestamp
from strive_schema.errors import KeyFormatError
from strive_schema.key_validity import VALIDITY_MEMBERS, KeyValidity, judge_key
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.sealed import (
    Grading,
    PackageFile,
    PackageManifest,
    RecipientPublicKey,
    SealSuite,
    build_package_payload,
    seal_package,
)
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services import packages
from strive_server.services.assessment import (
    assessment_view,
    cluster_findings,
    finding_view,
    latest_cluster_assessment,
)
from strive_server.services.audit import Actor, record_event
from strive_server.services.lifecycle import OUTCOMES

__all__ = [
    "HOME_OFFICE_OUTCOMES",
    "RecipientKeys",
    "Sealed",
    "add_recipient_keys",
    "disseminate_cluster",
    "dissemination_view",
    "new_recipient",
    "new_recipient_keys",
    "outcome_history",
    "parse_recipient_keys",
    "record_outcome_event",
    "record_recipient_outcome",
    "register_recipient",
    "retire_recipient_key",
    "revoke_recipient",
    "revoke_recipient_key",
    "suggest_recipients",
]

HOME_OFFICE_OUTCOMES: Final[dict[str, str]] = {"charge": "1"}
"""Outcome codes with a Home Office crime outcomes framework equivalent (Outcome 1,
charged/summonsed). The others (arrest, conviction, safeguarding, intelligence logged, no
further action) are events the framework does not record as a crime outcome, or records
under several outcome types depending on the reason; see spec/api.md."""


# -- recipients --------------------------------------------------------------------------------


_PERIOD: Final = ("not_before", "not_after")


def _read_recipient_keys(
    jwks: Mapping[str, object],
) -> tuple[list[PublicKey], list[RecipientPublicKey], dict[str, dict[str, str]]]:
    """The signing keys, the encryption keys, and each key's validity period (the JWK members
    ``not_before`` / ``not_after``, spec/protocol.md "Key lifecycle") by key id."""
    entries = jwks.get("keys")
    if not isinstance(entries, list) or not entries:
        raise Problem(422, ProblemCode.REQUEST_INVALID, 'public keys are a JWK Set ("keys")')
    signing: list[PublicKey] = []
    encryption: list[RecipientPublicKey] = []
    periods: dict[str, dict[str, str]] = {}
    try:
        for entry in entries:
            if not isinstance(entry, dict):
                raise KeyFormatError("each key is a JSON object")
            key: PublicKey | RecipientPublicKey
            if (
                entry.get("use") == "enc"
                or entry.get("crv") == "X25519"
                or entry.get("kty") == "AKP"
            ):
                key = RecipientPublicKey.from_jwk(entry)
                encryption.append(key)
            else:
                key = PublicKey.from_jwk(entry)
                signing.append(key)
            period = KeyValidity.from_members({m: entry.get(m) for m in _PERIOD})
            periods[key.key_id] = period.to_members()
    except KeyFormatError as exc:
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"unreadable key: {exc}") from None
    return signing, encryption, periods


def parse_recipient_keys(
    jwks: Mapping[str, object],
) -> tuple[list[PublicKey], list[RecipientPublicKey]]:
    """Split a recipient's JWK Set into Ed25519 signing keys and HPKE encryption keys.

    Raises:
        Problem: 422 ``request_invalid`` when a key is unreadable, or there is no signing key
            or no encryption key.
    """
    signing, encryption, _ = _read_recipient_keys(jwks)
    if not signing or not encryption:
        raise Problem(
            422,
            ProblemCode.REQUEST_INVALID,
            "a recipient registers an Ed25519 signing key and an encryption key",
        )
    return signing, encryption


@dataclass(frozen=True, slots=True)
class RecipientKeys:
    """A recipient's keys as registered: ``(purpose, key_id, public_jwk)`` each, ``sig`` or
    ``enc``, every JWK in its canonical form plus its validity period members, if any."""

    keys: list[tuple[str, str, dict[str, Any]]]

    @property
    def key_ids(self) -> list[str]:
        return [key_id for _, key_id, _ in self.keys]

    @property
    def jwks(self) -> dict[str, Any]:
        """The keys as a JWK Set (what an approval request stores and shows)."""
        return {"keys": [jwk for _, _, jwk in self.keys]}


def _recipient_keys(session: Session, jwks: Mapping[str, object]) -> RecipientKeys:
    signing, encryption, periods = _read_recipient_keys(jwks)
    keys = [("sig", k.key_id, {**k.to_jwk(), **periods[k.key_id]}) for k in signing] + [
        ("enc", k.key_id, {**k.to_jwk(), **periods[k.key_id]}) for k in encryption
    ]
    key_ids = [key_id for _, key_id, _ in keys]
    if len(set(key_ids)) != len(key_ids):
        raise Problem(422, ProblemCode.REQUEST_INVALID, "the JWK Set holds a key twice")
    for key_id in key_ids:
        if session.get(tables.RecipientKey, key_id) is not None:
            raise Problem(409, ProblemCode.CONFLICT, "this key is already registered")
    return RecipientKeys(keys)


def new_recipient(
    session: Session, *, recipient_id: str, jwks: Mapping[str, object]
) -> RecipientKeys:
    """Check that a recipient could be registered with ``jwks`` now; return its keys.

    Raises:
        Problem: 409 ``conflict`` when the recipient or a key exists; 422 as
            :func:`parse_recipient_keys`.
    """
    parse_recipient_keys(jwks)
    if session.get(tables.Recipient, recipient_id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "this recipient is already registered")
    return _recipient_keys(session, jwks)


def new_recipient_keys(
    session: Session, *, recipient_id: str, jwks: Mapping[str, object]
) -> RecipientKeys:
    """Check that ``jwks`` (one key or more, signing or encryption) could be added to a
    current recipient now; return them.

    Raises:
        Problem: 404 ``recipient_unknown``; 409 ``recipient_revoked``; 409 ``conflict`` when
            a key is registered; 422 ``request_invalid`` for an unreadable key.
    """
    recipient = session.get(tables.Recipient, recipient_id)
    if recipient is None:
        raise Problem(404, ProblemCode.RECIPIENT_UNKNOWN, "no such recipient")
    if recipient.revoked_at is not None:
        raise Problem(409, ProblemCode.RECIPIENT_REVOKED, "this recipient has been revoked")
    return _recipient_keys(session, jwks)


def _store_keys(session: Session, recipient_id: str, keys: RecipientKeys, now: datetime) -> None:
    for purpose, key_id, jwk in keys.keys:
        period = KeyValidity.from_members(jwk)
        session.add(
            tables.RecipientKey(
                key_id=key_id, recipient_id=recipient_id, purpose=purpose,
                public_jwk={m: v for m, v in jwk.items() if m not in VALIDITY_MEMBERS},
                created_at=now, revoked_at=None, not_before=period.not_before,
                not_after=period.not_after,
            )
        )  # fmt: skip


def register_recipient(
    session: Session,
    *,
    recipient_id: str,
    name: str,
    regions: Sequence[str],
    jwks: Mapping[str, object],
    actor: Actor,
) -> list[str]:
    """Register a recipient with its keys; return the key ids.

    This is the completion step: it applies no dual control. The API and the CLI register a
    recipient only through an approval request (``services.admin``); tests and
    ``strive serve --demo`` call it directly.

    Raises:
        Problem: 409 ``conflict`` when the recipient or a key exists; 422 as
            :func:`parse_recipient_keys`.
    """
    keys = new_recipient(session, recipient_id=recipient_id, jwks=jwks)
    now = datetime.now(UTC)
    session.add(
        tables.Recipient(
            id=recipient_id, name=name, regions=sorted(set(regions)), created_at=now,
            revoked_at=None,
        )
    )  # fmt: skip
    session.flush()
    _store_keys(session, recipient_id, keys, now)
    record_event(
        session,
        actor=actor,
        action="recipient.registered",
        detail={"recipient_id": recipient_id, "key_ids": keys.key_ids},
    )
    return keys.key_ids


def add_recipient_keys(
    session: Session, *, recipient_id: str, jwks: Mapping[str, object], actor: Actor
) -> list[str]:
    """Add keys to a current recipient (rotation); return their ids. The completion step,
    like :func:`register_recipient`.

    Raises:
        As :func:`new_recipient_keys`.
    """
    keys = new_recipient_keys(session, recipient_id=recipient_id, jwks=jwks)
    _store_keys(session, recipient_id, keys, datetime.now(UTC))
    record_event(
        session,
        actor=actor,
        action="recipient.key_added",
        detail={"recipient_id": recipient_id, "key_ids": keys.key_ids},
    )
    return keys.key_ids


def revoke_recipient(session: Session, *, recipient_id: str, actor: Actor) -> None:
    """Revoke a recipient and its keys: nothing more is sent to it, and its signed requests
    no longer authenticate. Revoking twice is harmless."""
    row = session.get(tables.Recipient, recipient_id)
    if row is None:
        raise Problem(404, ProblemCode.RECIPIENT_UNKNOWN, "no such recipient")
    if row.revoked_at is None:
        now = datetime.now(UTC)
        row.revoked_at = now
        for key in session.scalars(
            sa.select(tables.RecipientKey).where(tables.RecipientKey.recipient_id == recipient_id)
        ):
            key.revoked_at = key.revoked_at or now
        record_event(
            session, actor=actor, action="recipient.revoked", detail={"recipient_id": recipient_id}
        )


def list_recipients(session: Session) -> list[dict[str, Any]]:
    """Recipients with their regions and key ids (public data only)."""
    recipients = session.scalars(sa.select(tables.Recipient).order_by(tables.Recipient.id))
    keys = session.scalars(sa.select(tables.RecipientKey).order_by(tables.RecipientKey.key_id))
    by_recipient: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        by_recipient.setdefault(key.recipient_id, []).append(
            {
                "key_id": key.key_id,
                "purpose": key.purpose,
                "revoked": key.validity.revoked,
                **key.validity.to_members(),
            }
        )
    return [
        {
            "recipient_id": r.id,
            "name": r.name,
            "regions": r.regions,
            "revoked": r.revoked_at is not None,
            "keys": by_recipient.get(r.id, []),
        }
        for r in recipients
    ]


def _cluster_regions(session: Session, cluster: tables.Cluster) -> list[str]:
    return list(
        session.scalars(
            sa.select(tables.ClusterValue.value)
            .where(
                tables.ClusterValue.cluster_id == cluster.id, tables.ClusterValue.kind == "region"
            )
            .order_by(tables.ClusterValue.value)
        )
    )


def suggest_recipients(session: Session, cluster: tables.Cluster) -> dict[str, Any]:
    """Current recipients covering the cluster's regions, most regions covered first."""
    regions = _cluster_regions(session, cluster)
    suggestions = []
    for recipient in session.scalars(
        sa.select(tables.Recipient).where(tables.Recipient.revoked_at.is_(None))
    ):
        covered = sorted(set(recipient.regions) & set(regions))
        if covered:
            suggestions.append(
                {"recipient_id": recipient.id, "name": recipient.name, "regions_covered": covered}
            )
    suggestions.sort(key=lambda s: (-len(s["regions_covered"]), s["recipient_id"]))
    return {"cluster_id": cluster.id, "regions": regions, "suggestions": suggestions}


# -- dissemination -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """A sealed file, returned once, and its record."""

    content: bytes
    record: dict[str, Any]


def _dissemination_id(now: datetime) -> str:
    return f"dis-{int(now.timestamp() * 1000):012x}{secrets.token_hex(8)}"


def _encryption_key(
    session: Session, recipient: tables.Recipient, now: datetime
) -> RecipientPublicKey:
    """The recipient's encryption key to seal to now: never one that is retired, revoked,
    expired or not yet valid (spec/protocol.md, "Key lifecycle").

    Raises:
        Problem: 404 ``recipient_unknown`` without an encryption key; 409 with the lifecycle
            code (``key_retired``, ``key_revoked``, ``key_expired``, ``key_not_yet_valid``)
            when it has some but none may be sealed to now.
    """
    rows = session.scalars(
        sa.select(tables.RecipientKey).where(
            tables.RecipientKey.recipient_id == recipient.id,
            tables.RecipientKey.purpose == "enc",
        )
    ).all()
    if not rows:
        raise Problem(404, ProblemCode.RECIPIENT_UNKNOWN, "the recipient has no encryption key")
    judged = [(row, judge_key(row.validity, now)) for row in rows]
    keys = [RecipientPublicKey.from_jwk(row.public_jwk) for row, j in judged if j.valid]
    if not keys:
        # Name the refusal of the most recently registered key: the one to replace.
        _, judgement = max(judged, key=lambda pair: (pair[0].created_at, pair[0].key_id))
        assert judgement.code is not None
        raise Problem(
            409, judgement.code,
            f"the recipient has no encryption key that may be sealed to now "
            f"({judgement.explanation}); it must register a new one",
        )  # fmt: skip
    # The hybrid whenever the recipient has one; the classical suite only for recipients
    # that registered no hybrid key (spec/sealed-package.md, "Suites").
    keys.sort(key=lambda k: (k.suite is not SealSuite.PQ_HYBRID, k.key_id))
    return keys[0]


def _recipient_key(session: Session, recipient_id: str, key_id: str) -> tables.RecipientKey:
    row = session.get(tables.RecipientKey, key_id)
    if row is None or row.recipient_id != recipient_id:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such key for this recipient")
    return row


def retire_recipient_key(
    session: Session, *, recipient_id: str, key_id: str, actor: Actor, at: datetime | None = None
) -> datetime:
    """Retire a recipient's key from ``at`` (default: now, never in the past): nothing is
    sealed to it, and nothing it signs is accepted, from then on. Returns the time.

    Raises:
        Problem: 404 ``not_found``; 422 ``request_invalid`` for a time in the past.
    """
    row = _recipient_key(session, recipient_id, key_id)
    now = datetime.now(UTC)
    # From the next whole second at the earliest: whatever was received so far (received_at
    # is whole seconds) stays before the retirement.
    earliest = now.replace(microsecond=0) + timedelta(seconds=1)
    when = earliest if at is None else at.astimezone(UTC).replace(microsecond=0)
    if when < now.replace(microsecond=0):
        raise Problem(
            422, ProblemCode.REQUEST_INVALID,
            "a key cannot be retired in the past; revoke it with a compromise time instead",
        )  # fmt: skip
    when = max(when, earliest)
    if row.retired_at is not None and row.retired_at <= when:
        return row.retired_at
    row.retired_at = when
    record_event(
        session, actor=actor, action="recipient.key_retired",
        detail={"recipient_id": recipient_id, "key_id": key_id,
                "retired_at": format_timestamp(when)},
    )  # fmt: skip
    return when


def revoke_recipient_key(
    session: Session,
    *,
    recipient_id: str,
    key_id: str,
    actor: Actor,
    compromised_at: datetime | None = None,
) -> datetime:
    """Revoke one of a recipient's keys as compromised from ``compromised_at`` (default:
    now; never in the future): nothing is sealed to it and nothing it signed that was
    received from then on counts. An earlier time moves the compromise earlier; a later one
    changes nothing. Returns the compromise time in force.

    Raises:
        Problem: 404 ``not_found``; 422 ``request_invalid`` for a time in the future.
    """
    row = _recipient_key(session, recipient_id, key_id)
    now = datetime.now(UTC).replace(microsecond=0)
    when = (now if compromised_at is None else compromised_at.astimezone(UTC)).replace(
        microsecond=0
    )
    if when > now:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID,
            "the compromise time is in the future; retire the key to stop it later",
        )  # fmt: skip
    current = row.validity.compromised_at
    if current is not None and current <= when:
        return current
    row.revoked_at = row.revoked_at or now
    row.compromised_at = when
    record_event(
        session, actor=actor, action="recipient.key_revoked",
        detail={"recipient_id": recipient_id, "key_id": key_id,
                "compromised_at": format_timestamp(when)},
    )  # fmt: skip
    return when


def disseminate_cluster(
    session: Session,
    cluster: tables.Cluster,
    *,
    recipient_id: str,
    reason: str,
    grading: Grading,
    formats: Sequence[str],
    receiver_id: str,
    signing_key: SigningKey,
    actor: Actor,
) -> Sealed:
    """Seal the cluster's package to the recipient and record the dissemination.

    Raises:
        Problem: 404 ``recipient_unknown``; 409 ``recipient_revoked``; 409 ``sandbox_referral``
            when the cluster holds a test referral; 409 ``assessment_required`` without an
            assessment of the cluster or of each of its referrals; 409 ``key_retired``,
            ``key_revoked``, ``key_expired`` or ``key_not_yet_valid`` when no encryption key
            of the recipient may be sealed to now.
    """
    recipient = session.get(tables.Recipient, recipient_id)
    if recipient is None:
        raise Problem(404, ProblemCode.RECIPIENT_UNKNOWN, "no such recipient")
    if recipient.revoked_at is not None:
        raise Problem(409, ProblemCode.RECIPIENT_REVOKED, "the recipient was revoked")
    members = session.scalars(
        sa.select(tables.Referral)
        .where(tables.Referral.cluster_id == cluster.id)
        .order_by(tables.Referral.id)
        .with_for_update()
    ).all()
    if any(row.is_test for row in members):
        raise Problem(409, ProblemCode.SANDBOX_REFERRAL, "test referrals are never disseminated")
    assessment = latest_cluster_assessment(session, cluster, [row.id for row in members])
    if assessment is None:
        raise Problem(
            409,
            ProblemCode.ASSESSMENT_REQUIRED,
            "record a THRIVE assessment of the cluster (or of each referral) first",
        )
    now = datetime.now(UTC).replace(microsecond=0)
    key = _encryption_key(session, recipient, now)
    dissemination_id = _dissemination_id(now)
    package = packages.build_package(session, cluster)
    findings = json.loads(  # JSON-ready: times as ISO 8601 text
        json.dumps(
            [finding_view(f, session) for f in cluster_findings(session, cluster)], default=str
        )
    )
    package.grading = grading.to_json()
    package.research = findings
    files = []
    for fmt in formats:
        body, media_type, filename = packages.render(package, fmt)
        files.append(PackageFile(filename, media_type, body))
    research = {
        "protective_marking": package.marking,
        "cluster_id": cluster.id,
        "grading": grading.to_json(),
        "assessment": assessment_view(assessment, session),
        "research_findings": findings,
    }
    files.append(
        PackageFile(
            f"strive-cluster-{cluster.id}-assessment.json",
            "application/json",
            (json.dumps(research, indent=2, ensure_ascii=False, default=str) + "\n").encode(),
        )
    )
    manifest = PackageManifest(
        dissemination_id=dissemination_id,
        receiver_id=receiver_id,
        recipient_id=recipient.id,
        issued_at=now,
        reason=reason,
        grading=grading,
        referrals=tuple((row.asw_id, row.referral_id) for row in members),
        files=tuple(files),
    )
    payload = build_package_payload(manifest)
    sealed = seal_package(
        payload, receiver_keys=[signing_key], recipient_key=key, recipient_id=recipient.id,
        receiver_id=receiver_id,
    )  # fmt: skip
    row = tables.Dissemination(
        id=dissemination_id,
        cluster_id=cluster.id,
        recipient_id=recipient.id,
        assessment_id=assessment.id,
        recipient_key_id=key.key_id,
        suite=key.suite.value,
        package_sha256=hashlib.sha256(payload).hexdigest(),
        sealed_sha256=hashlib.sha256(sealed).hexdigest(),
        formats=list(formats),
        grading=grading.to_json(),
        reason=reason,
        sent_by=actor.name,
        sent_at=now,
    )
    session.add(row)
    session.flush()
    for member in members:
        session.add(tables.DisseminationReferral(dissemination_id=row.id, referral_pk=member.id))
        if member.state not in ("disseminated", "closed"):
            session.add(
                tables.StateTransition(
                    referral_pk=member.id, from_state=member.state, to_state="disseminated",
                    outcome=None, actor=actor.name, reason=f"disseminated: {reason}", at=now,
                )
            )  # fmt: skip
            member.first_triaged_at = member.first_triaged_at or now
            member.state = "disseminated"
            member.updated_at = now
        record_event(
            session,
            actor=actor,
            action="referral.disseminated",
            referral_pk=member.id,
            reason=reason,
            detail={"dissemination_id": row.id, "recipient_id": recipient.id},
        )
    record_event(
        session,
        actor=actor,
        action="cluster.disseminated",
        reason=reason,
        detail={
            "dissemination_id": row.id,
            "cluster_id": cluster.id,
            "recipient_id": recipient.id,
            "package_sha256": row.package_sha256,
            "grading": grading.code,
        },
    )
    return Sealed(sealed, dissemination_view(session, row))


def dissemination_view(session: Session, row: tables.Dissemination) -> dict[str, Any]:
    referrals = session.execute(
        sa.select(tables.Referral.asw_id, tables.Referral.referral_id)
        .join(
            tables.DisseminationReferral,
            tables.DisseminationReferral.referral_pk == tables.Referral.id,
        )
        .where(tables.DisseminationReferral.dissemination_id == row.id)
        .order_by(tables.Referral.id)
    ).all()
    return {
        "dissemination_id": row.id,
        "cluster_id": row.cluster_id,
        "recipient_id": row.recipient_id,
        "recipient_key_id": row.recipient_key_id,
        "suite": row.suite,
        "assessment_id": row.assessment_id,
        "package_sha256": row.package_sha256,
        "sealed_sha256": row.sealed_sha256,
        "formats": row.formats,
        "grading": row.grading,
        "reason": row.reason,
        "sent_by": row.sent_by,
        "sent_at": row.sent_at,
        "referrals": [{"asw_id": a, "referral_id": r} for a, r in referrals],
    }


# -- outcomes ----------------------------------------------------------------------------------


def record_outcome_event(
    session: Session,
    row: tables.Referral,
    *,
    outcome: str,
    force_reference: str | None,
    case_reference: str | None,
    dissemination_id: str | None,
    recorded_by_kind: str,
    recorded_by: str,
    at: datetime,
) -> tables.OutcomeEvent:
    """Append an outcome to the referral's history; its ``outcome`` becomes the latest and
    ``outcome_at`` stays the first."""
    event = tables.OutcomeEvent(
        referral_pk=row.id,
        dissemination_id=dissemination_id,
        outcome=outcome,
        force_reference=force_reference,
        case_reference=case_reference,
        recorded_by_kind=recorded_by_kind,
        recorded_by=recorded_by,
        recorded_at=at,
    )
    session.add(event)
    row.outcome = outcome
    row.outcome_at = row.outcome_at or at
    row.updated_at = at
    return event


def _disseminations_to(
    session: Session, recipient_id: str, dissemination_id: str
) -> tables.Dissemination:
    row = session.get(tables.Dissemination, dissemination_id)
    if row is None or row.recipient_id != recipient_id:
        # One answer for "not yours" and "none": a recipient learns nothing of others'.
        raise Problem(
            403,
            ProblemCode.OUTCOME_NOT_DISSEMINATED,
            "no such dissemination was sent to this recipient",
        )
    return row


def record_recipient_outcome(
    session: Session,
    *,
    recipient_id: str,
    dissemination_id: str,
    referral: tuple[str | None, str] | None,
    outcome: str,
    force_reference: str | None,
    case_reference: str | None,
    release_to_asw: bool,
    actor: Actor,
) -> list[dict[str, Any]]:
    """An outcome reported by a recipient (or recorded for it by a supervisor), on one
    referral of a dissemination or, with ``referral`` None, on every referral in it.

    Raises:
        Problem: 422 ``request_invalid`` for an unknown outcome; 409 ``referral_ambiguous``
            when two ASWs' referrals in it share the id and no ASW is named; 403
            ``outcome_not_disseminated`` when the dissemination was not sent to the recipient
            or does not hold the referral.
    """
    if outcome not in OUTCOMES:
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"unknown outcome {outcome}")
    dissemination = _disseminations_to(session, recipient_id, dissemination_id)
    query = (
        sa.select(tables.Referral)
        .join(
            tables.DisseminationReferral,
            tables.DisseminationReferral.referral_pk == tables.Referral.id,
        )
        .where(tables.DisseminationReferral.dissemination_id == dissemination.id)
        .order_by(tables.Referral.id)
        .with_for_update()
    )
    if referral is not None:
        query = query.where(tables.Referral.referral_id == referral[1])
        if referral[0] is not None:
            query = query.where(tables.Referral.asw_id == referral[0])
    rows = session.scalars(query).all()
    if referral is not None and len(rows) > 1:
        raise Problem(409, ProblemCode.REFERRAL_AMBIGUOUS, "several ASWs used this id; add asw_id")
    if not rows:
        raise Problem(
            403,
            ProblemCode.OUTCOME_NOT_DISSEMINATED,
            "this referral was not disseminated to this recipient",
        )
    now = datetime.now(UTC)
    recorded = []
    for row in rows:
        record_outcome_event(
            session, row, outcome=outcome, force_reference=force_reference,
            case_reference=case_reference, dissemination_id=dissemination.id,
            recorded_by_kind=actor.kind, recorded_by=actor.name, at=now,
        )  # fmt: skip
        # Beside the transitions too, so the lifecycle history and feedback see it.
        session.add(
            tables.StateTransition(
                referral_pk=row.id, from_state=row.state, to_state=row.state, outcome=outcome,
                actor=actor.name, reason=f"outcome reported by {recipient_id}", at=now,
            )
        )  # fmt: skip
        if release_to_asw:
            session.add(
                tables.Feedback(
                    referral_pk=row.id, message=f"Outcome recorded: {outcome.replace('_', ' ')}",
                    outcome=outcome, created_by=actor.name, created_at=now, released=True,
                )
            )  # fmt: skip
        record_event(
            session,
            actor=actor,
            action="referral.outcome_reported",
            referral_pk=row.id,
            detail={
                "dissemination_id": dissemination.id,
                "outcome": outcome,
                "released": release_to_asw,
            },
        )
        recorded.append({"asw_id": row.asw_id, "referral_id": row.referral_id, "outcome": outcome})
    return recorded


def outcome_history(
    session: Session, row: tables.Referral, *, actor: Actor, reason: str | None
) -> dict[str, Any]:
    """Every outcome recorded on a referral, oldest first, and the latest (audited)."""
    record_event(
        session, actor=actor, action="referral.outcomes_read", referral_pk=row.id, reason=reason
    )
    events = session.scalars(
        sa.select(tables.OutcomeEvent)
        .where(tables.OutcomeEvent.referral_pk == row.id)
        .order_by(tables.OutcomeEvent.recorded_at, tables.OutcomeEvent.id)
    ).all()
    return {
        "referral_id": row.referral_id,
        "latest": events[-1].outcome if events else None,
        "outcomes": [
            {
                "outcome": e.outcome,
                "home_office_outcome": HOME_OFFICE_OUTCOMES.get(e.outcome),
                "force_reference": e.force_reference,
                "case_reference": e.case_reference,
                "dissemination_id": e.dissemination_id,
                "recorded_by_kind": e.recorded_by_kind,
                "recorded_by": e.recorded_by,
                "recorded_at": e.recorded_at,
            }
            for e in events
        ],
    }
