"""Ingestion: verify, then parse, then store the exact bytes in one transaction.

The order is normative (spec/api.md, "Submitting a referral"): size, signature against the
claimed ASW's registered keys, audience and freshness, rate, schema and semantic rules, then
one transaction that stores the envelope bytes, the parsed referral, its indicators and
selectors, the first lifecycle state and the audit event, and signs the receipt. Idempotency
is decided by the database (a unique key on ASW and referral id), so any number of workers
behave like one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from strive_schema.codes import ProblemCode
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    Envelope,
    Submission,
    open_submission,
    parse_envelope,
    verify_envelope,
)
from strive_schema.errors import ProtocolCode, VerificationError
from strive_schema.keys import PublicKey
from strive_schema.models import Referral as ReferralModel
from strive_schema.receipts import ReceiptStatus, build_receipt, sign_receipt
from strive_schema.semantics import Finding
from strive_schema.validator import validate_document
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.engine import write_guard
from strive_server.problems import Problem, verification_problem
from strive_server.services.attachments import quarantine_matching_files
from strive_server.services.audit import Actor, record_event
from strive_server.services.image_linking import link_images
from strive_server.services.linking import StoredSelector, link_referral
from strive_server.services.ratelimit import consume_submission_quota, refund_refused_submission
from strive_server.services.selectors import extract_selectors
from strive_server.services.triage import band_for, own_score

__all__ = ["IngestResult", "ingest_batch", "ingest_envelope"]

logger = logging.getLogger("strive.server.ingestion")

STORE_ATTEMPTS = 3
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


@dataclass(frozen=True, slots=True)
class IngestResult:
    """An acknowledged referral: new (``accepted``) or already held (``duplicate``)."""

    status: Literal["accepted", "duplicate"]
    referral_id: str
    asw_id: str
    body: dict[str, Any]

    @property
    def http_status(self) -> int:
        return 201 if self.status == "accepted" else 200


def _response_body(receipt_envelope: bytes, *, replayed: bool) -> dict[str, Any]:
    """The acknowledgement: the receipt, readable, and the receipt envelope as a string holding
    its exact JSON text, so that a client keeps the very bytes that were signed and hashed
    (spec/api.md, "Submitting a referral"); a replay gets the original bytes."""
    signed = parse_envelope(receipt_envelope)
    return {
        "receipt": json.loads(signed.payload),
        "receipt_envelope": receipt_envelope.decode("utf-8"),
        "replayed": replayed,
    }


def _claimed_asw(session: Session, envelope: Envelope, claimed: str | None) -> str:
    if claimed is not None:
        if session.get(tables.Asw, claimed) is None:
            raise Problem(401, ProtocolCode.KEY_UNKNOWN, "the claimed ASW is not registered")
        return claimed
    key_ids = [signature.keyid for signature in envelope.signatures]
    owners = session.scalars(
        sa.select(tables.AswKey.asw_id).where(tables.AswKey.key_id.in_(key_ids)).distinct()
    ).all()
    if len(owners) != 1:
        raise Problem(
            401,
            ProtocolCode.KEY_UNKNOWN,
            "no signature names a key registered to one ASW; send the Strive-Asw-Id header",
        )
    return owners[0]


def _verify(session: Session, envelope: Envelope, asw_id: str, now: datetime) -> str:
    """Verify against the ASW's current keys; return the key id that verified."""
    rows = session.scalars(sa.select(tables.AswKey).where(tables.AswKey.asw_id == asw_id)).all()
    active = [r for r in rows if r.revoked_at is None or r.revoked_at > now]
    revoked = [r for r in rows if r not in active]
    try:
        verified = verify_envelope(
            envelope,
            [PublicKey.from_jwk(r.public_jwk) for r in active],
            payload_type=SUBMISSION_PAYLOAD_TYPE,
        )
    except VerificationError as exc:
        if revoked and exc.code in (ProtocolCode.KEY_UNKNOWN, ProtocolCode.SIGNATURE_INVALID):
            try:
                verify_envelope(
                    envelope,
                    [PublicKey.from_jwk(r.public_jwk) for r in revoked],
                    payload_type=SUBMISSION_PAYLOAD_TYPE,
                )
            except VerificationError:
                pass
            else:
                raise Problem(
                    401, ProblemCode.KEY_REVOKED, "the envelope is signed with a revoked key"
                ) from None
        raise verification_problem(exc) from None
    return verified.key_id


def _check_referral(submission: Submission, asw_id: str, now: datetime) -> ReferralModel:
    result = validate_document(submission.referral, now=now)
    if not result.valid or result.referral is None:
        raise Problem(
            422,
            ProblemCode.REFERRAL_INVALID,
            f"the referral is invalid ({len(result.errors)} error(s))",
            errors=result.errors,
        )
    referral = result.referral
    if referral.reporter.organisation_id != asw_id:
        raise Problem(
            403,
            ProtocolCode.ASW_MISMATCH,
            "the referral's reporter is not the ASW that signed it",
            errors=[
                Finding(
                    "/reporter/organisation_id",
                    ProtocolCode.ASW_MISMATCH,
                    "must be the organisation id of the signing ASW",
                )
            ],
        )
    return referral


def _existing(session: Session, asw_id: str, referral_id: str) -> tables.Referral | None:
    return session.scalars(
        sa.select(tables.Referral).where(
            tables.Referral.asw_id == asw_id, tables.Referral.referral_id == referral_id
        )
    ).one_or_none()


def _replay(row: tables.Referral, submission: Submission) -> IngestResult:
    if row.referral_digest != submission.referral_digest:
        raise Problem(
            409,
            ProblemCode.REFERRAL_CONFLICT,
            "this referral id was already used by this ASW with different content",
            extra={"referral_id": row.referral_id},
        )
    return IngestResult(
        "duplicate",
        row.referral_id,
        row.asw_id,
        _response_body(row.receipt_envelope, replayed=True),
    )


def _link_supplement(
    session: Session, referral: ReferralModel, asw_id: str, now: datetime
) -> tuple[int | None, tables.InformationRequest | None]:
    supplement = referral.supplements
    if supplement is None:
        return None, None
    original = _existing(session, asw_id, str(supplement.referral_id))
    if original is None:
        raise Problem(
            422,
            ProblemCode.SUPPLEMENTED_REFERRAL_UNKNOWN,
            "the supplemented referral is not held for this ASW",
            errors=[
                Finding(
                    "/supplements/referral_id",
                    ProblemCode.SUPPLEMENTED_REFERRAL_UNKNOWN,
                    "no referral with this id from this ASW",
                )
            ],
        )
    request = None
    if supplement.relationship == "answers_request":
        request = session.get(
            tables.InformationRequest, supplement.information_request_id, with_for_update=True
        )
        if (
            request is None
            or request.asw_id != asw_id
            or request.referral_pk != original.id
            or request.state != "open"
        ):
            raise Problem(
                422,
                ProblemCode.INFORMATION_REQUEST_UNKNOWN,
                "no such request for information about the supplemented referral",
                errors=[
                    Finding(
                        "/supplements/information_request_id",
                        ProblemCode.INFORMATION_REQUEST_UNKNOWN,
                        "not an open request for information to this ASW about that referral",
                    )
                ],
            )
    return original.id, request


def _store(
    session: Session,
    *,
    settings: Settings,
    raw: bytes,
    submission: Submission,
    referral: ReferralModel,
    asw_id: str,
    key_id: str,
    now: datetime,
) -> IngestResult:
    supplements_id, request = _link_supplement(session, referral, asw_id, now)
    received_at = now.replace(microsecond=0)
    receipt = build_receipt(
        receiver_id=settings.receiver_id,
        envelope=raw,
        submission=submission,
        received_at=received_at,
        status=ReceiptStatus.ACCEPTED,
    )
    receipt_envelope = sign_receipt(receipt, [settings.signing_key]).to_json()
    own, own_breakdown, child = own_score(referral)
    row = tables.Referral(
        asw_id=asw_id,
        referral_id=submission.referral_id,
        referral_digest=submission.referral_digest,
        envelope=raw,
        envelope_sha256=receipt.envelope_sha256,
        key_id=key_id,
        issued_at=submission.issued_at,
        received_at=received_at,
        receipt_envelope=receipt_envelope,
        document=dict(submission.referral),
        schema_version=referral.schema_version,
        is_test=referral.is_test,
        urgency=referral.urgency.level,
        source=referral.source,
        protective_marking=referral.handling.protective_marking,
        referral_created_at=referral.created_at,
        supplements_id=supplements_id,
        state="received",
        updated_at=received_at,
        own_score=own,
        own_breakdown=own_breakdown,
        under_18=child,
        priority_score=own,
        priority_band=band_for(own),
    )
    session.add(row)
    session.flush()
    # Core bulk inserts: one statement per table, not one ORM round trip per row.
    session.execute(
        sa.insert(tables.ReferralIndicator),
        [{"referral_pk": row.id, "code": i.code, "risk": i.risk} for i in referral.indicators],
    )
    extracted = extract_selectors(referral, asw_id=asw_id)
    stored_selectors: list[StoredSelector] = []
    if extracted:
        selector = tables.Selector
        rows = session.execute(
            sa.insert(selector).returning(
                selector.id, selector.kind, selector.value, sort_by_parameter_order=True
            ),
            [
                {
                    "referral_pk": row.id,
                    "kind": s.kind,
                    "value": s.value[:400],
                    "raw": s.raw[:400],
                    "normalised": s.normalised,
                    "entity_ref": s.entity_ref,
                }
                for s in extracted
            ],
        )
        stored_selectors = [StoredSelector(i, kind, value) for i, kind, value in rows]
    if not referral.is_test:
        # Sandbox referrals never link, never count towards over-correlation and never move
        # a live referral's priority: they are kept apart (spec/linking.md).
        link_referral(
            session,
            referral=row,
            selectors=stored_selectors,
            now=received_at,
            threshold=settings.over_correlation_threshold,
        )
        # Evidence files: PDQ hashes also link when near, not only equal (image_linking.py).
        link_images(session, referral=row, selectors=stored_selectors, settings=settings,
                    now=received_at)  # fmt: skip
    if row.under_18:  # files already stored that carry this child's picture: never served
        quarantine_matching_files(session, row, settings)
    session.add(
        tables.StateTransition(
            referral_pk=row.id,
            from_state=None,
            to_state="received",
            outcome=None,
            actor=f"asw:{asw_id}",
            reason=None,
            at=received_at,
        )
    )
    if request is not None:
        request.state = "answered"
        request.answered_at = received_at
        request.answer_referral_pk = row.id
    record_event(
        session,
        actor=Actor("asw", asw_id),
        action="referral.submitted",
        referral_pk=row.id,
        detail={"referral_id": row.referral_id, "key_id": key_id},
        at=received_at,
    )
    return IngestResult(
        "accepted", row.referral_id, asw_id, _response_body(receipt_envelope, replayed=False)
    )


def ingest_envelope(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    raw: bytes,
    claimed_asw: str | None,
    now: datetime,
) -> IngestResult:
    """Verify and store one signed envelope.

    Raises:
        Problem: with the status and stable code of the first check that failed; nothing
            is stored then.
    """
    if len(raw) > settings.max_envelope_bytes:
        raise Problem(
            413,
            ProblemCode.BODY_TOO_LARGE,
            f"an envelope may be at most {settings.max_envelope_bytes} bytes",
        )
    try:
        envelope = parse_envelope(raw)
    except VerificationError as exc:
        raise verification_problem(exc) from None
    # One short write transaction: who signed, is it for us and fresh, and is there quota.
    with write_guard(sessions), sessions() as session, session.begin():
        asw_id = _claimed_asw(session, envelope, claimed_asw)
        key_id = _verify(session, envelope, asw_id, now)
        try:
            submission = open_submission(
                envelope.payload, audience=settings.receiver_id, now=now, expected_asw_id=asw_id
            )
        except VerificationError as exc:
            raise verification_problem(exc) from None
        consume_submission_quota(
            session, asw_id=asw_id, now=now, limit=settings.rate_limit_per_minute,
            refused_limit=settings.refused_submission_limit_per_minute,
        )  # fmt: skip
    try:
        referral = _check_referral(submission, asw_id, now)
    except Problem:
        _refused(sessions, asw_id, now)
        raise
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            with write_guard(sessions), sessions() as session, session.begin():
                existing = _existing(session, asw_id, submission.referral_id)
                if existing is not None:
                    return _replay(existing, submission)
                return _store(
                    session,
                    settings=settings,
                    raw=raw,
                    submission=submission,
                    referral=referral,
                    asw_id=asw_id,
                    key_id=key_id,
                    now=now,
                )
        except Problem:  # a conflict, an unknown supplemented referral or request
            _refused(sessions, asw_id, now)
            raise
        except IntegrityError:
            # Another worker stored the same (ASW, referral id) between our read and insert.
            with write_guard(sessions), sessions() as session, session.begin():
                existing = _existing(session, asw_id, submission.referral_id)
                if existing is None:
                    raise
                return _replay(existing, submission)
        except OperationalError as exc:
            # A deadlock or serialisation failure between concurrent linking transactions
            # (PostgreSQL) rolled everything back: try again from "is it stored yet?".
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in RETRYABLE_SQLSTATES or attempt == STORE_ATTEMPTS:
                raise
            logger.warning(
                "store retried",
                extra={"event": "store_retried", "sqlstate": sqlstate, "attempt": attempt},
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _refused(sessions: sessionmaker[Session], asw_id: str, now: datetime) -> None:
    """A refused submission spends the refused quota, not the acceptance quota."""
    with write_guard(sessions), sessions() as session, session.begin():
        refund_refused_submission(session, asw_id=asw_id, now=now)


def ingest_batch(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    items: list[bytes],
    claimed_asw: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Ingest each envelope on its own; one bad or duplicate item never fails the others."""
    results: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        try:
            outcome = ingest_envelope(
                sessions=sessions, settings=settings, raw=raw, claimed_asw=claimed_asw, now=now
            )
        except Problem as problem:
            results.append({"index": index, "status": "rejected", "problem": problem.document()})
        else:
            results.append(
                {
                    "index": index,
                    "status": outcome.status,
                    "referral_id": outcome.referral_id,
                    **outcome.body,
                }
            )
    return results
