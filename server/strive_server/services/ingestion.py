"""Ingestion: verify, then parse, then store the exact bytes in one transaction.

The order is normative (spec/api.md, "Submitting a referral"): size, signature against the
claimed ASW's registered keys, audience and freshness, rate, schema and semantic rules, then
one transaction that stores the envelope bytes, the parsed referral, its indicators and
selectors, the first lifecycle state, the linking outbox entry and the audit event, with the
signed receipt. Idempotency is decided by the database (a unique key on ASW and referral id),
so any number of workers behave like one.

The request path is lean (issue 12): everything that needs no database - verification
against the process's cached keys (``services/keycache.py``), freshness, validation, selector
extraction, scoring, the signed receipt - is done before the write transaction, which then
holds the write lock only for a few cached Core statements and one commit
(:func:`store_referral`). Linking runs later, in the linking worker (``services/linkworker.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
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
from strive_server.services import tlog
from strive_server.services.audit import Actor, record_event_core
from strive_server.services.key_lifecycle import (
    EXPLAINABLE,
    judged_keys,
    lifecycle_refusal,
    receiver_signing_key,
)
from strive_server.services.keycache import KeySnapshot, current_version, snapshot
from strive_server.services.ratelimit import consume_submission_quota, refund_refused_submission
from strive_server.services.selectors import extract_selectors
from strive_server.services.triage import band_for, own_score

__all__ = ["IngestResult", "PreparedReferral", "ingest_batch", "ingest_envelope", "store_referral"]

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


class _StaleKeys(Exception):
    """The ASWs or keys changed since the snapshot the submission was verified against."""


def _claimed_asw(keys: KeySnapshot, envelope: Envelope, claimed: str | None) -> str:
    if claimed is not None:
        if claimed not in keys.asws:
            raise Problem(401, ProtocolCode.KEY_UNKNOWN, "the claimed ASW is not registered")
        return claimed
    owners = {keys.owners[s.keyid] for s in envelope.signatures if s.keyid in keys.owners}
    if len(owners) != 1:
        raise Problem(
            401,
            ProtocolCode.KEY_UNKNOWN,
            "no signature names a key registered to one ASW; send the Strive-Asw-Id header",
        )
    return owners.pop()


def _verify(keys: KeySnapshot, envelope: Envelope, asw_id: str, now: datetime) -> str:
    """Verify against the ASW's keys usable at the time of receipt; return the key id that
    verified. A key retired, revoked, expired or not yet valid is refused with its own code
    (services/key_lifecycle.py), judged at the receiver's clock, never the envelope's
    ``issued_at``: a backdated envelope signed with a stolen key gains nothing.

    The clock is the one as it is now, not as it was when the request arrived: a submission
    verified again after a revocation committed while it waited (``_StaleKeys``) is refused."""
    at = max(now, datetime.now(UTC))
    rows = keys.keys.get(asw_id, ())
    usable, refused = judged_keys([(k.public_key, k.validity) for k in rows], at, now)
    try:
        verified = verify_envelope(envelope, usable, payload_type=SUBMISSION_PAYLOAD_TYPE)
    except VerificationError as exc:
        if exc.code in EXPLAINABLE:
            problem = lifecycle_refusal(refused, partial(_verifies, envelope), "the envelope")
            if problem is not None:
                raise problem from None
        raise verification_problem(exc) from None
    return verified.key_id


def _verifies(envelope: Envelope, keys: list[PublicKey]) -> bool:
    try:
        verify_envelope(envelope, keys, payload_type=SUBMISSION_PAYLOAD_TYPE)
    except VerificationError:
        return False
    return True


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


@dataclass(frozen=True, slots=True)
class PreparedReferral:
    """A verified, valid submission and every row it becomes, computed before the write
    transaction (no lock held): :func:`store_referral` only writes them."""

    raw: bytes
    submission: Submission
    referral: ReferralModel
    asw_id: str
    key_id: str
    key_version: int
    received_at: datetime
    row: dict[str, Any]
    indicators: list[dict[str, Any]]
    selectors: list[dict[str, Any]]
    receipt_envelope: bytes
    receipt: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A submission refused after its quota was taken: the refusal is counted (in the
    caller's transaction), then ``problem`` is raised."""

    asw_id: str
    key_version: int
    problem: Problem


def _authenticate(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings, raw: bytes,
    claimed_asw: str | None, now: datetime, keys: KeySnapshot,
) -> tuple[str, str, Submission]:  # fmt: skip
    """Size, envelope, signature (cached keys), audience and freshness: who sent what."""
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
    asw_id = _claimed_asw(keys, envelope, claimed_asw)
    key_id = _verify(keys, envelope, asw_id, now)
    try:
        submission = open_submission(
            envelope.payload, audience=settings.receiver_id, now=now, expected_asw_id=asw_id
        )
    except VerificationError as exc:
        raise verification_problem(exc) from None
    return asw_id, key_id, submission


def _prepare(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings, raw: bytes,
    claimed_asw: str | None, now: datetime, keys: KeySnapshot,
) -> PreparedReferral | _Refusal:  # fmt: skip
    """Everything before the write transaction. Raises the problems that take no quota
    (envelope, signature, freshness); returns a refusal that does (validation)."""
    asw_id, key_id, submission = _authenticate(
        engine, sessions, settings, raw, claimed_asw, now, keys
    )
    try:
        referral = _check_referral(submission, asw_id, now)
    except Problem as problem:
        return _Refusal(asw_id, keys.version, problem)
    received_at = now.replace(microsecond=0)
    receipt = build_receipt(
        receiver_id=settings.receiver_id,
        envelope=raw,
        submission=submission,
        received_at=received_at,
        status=ReceiptStatus.ACCEPTED,
    )
    signed = sign_receipt(receipt, [receiver_signing_key(settings, now)])
    receipt_envelope = signed.to_json()
    own, own_breakdown, child = own_score(referral)
    row = {
        "asw_id": asw_id,
        "referral_id": submission.referral_id,
        "referral_digest": submission.referral_digest,
        "envelope": raw,
        "envelope_sha256": receipt.envelope_sha256,
        "key_id": key_id,
        "issued_at": submission.issued_at,
        "received_at": received_at,
        "receipt_envelope": receipt_envelope,
        "document": dict(submission.referral),
        "schema_version": referral.schema_version,
        "is_test": referral.is_test,
        "urgency": referral.urgency.level,
        "source": referral.source,
        "protective_marking": referral.handling.protective_marking,
        "referral_created_at": referral.created_at,
        "state": "received",
        "updated_at": received_at,
        "own_score": own,
        "own_breakdown": own_breakdown,
        "under_18": child,
        "priority_score": own,
        "priority_band": band_for(own),
    }
    selectors = [
        {"kind": s.kind, "value": s.value[:400], "raw": s.raw[:400],
         "normalised": s.normalised, "entity_ref": s.entity_ref}
        for s in extract_selectors(referral, asw_id=asw_id)
    ]  # fmt: skip
    return PreparedReferral(
        raw=raw, submission=submission, referral=referral, asw_id=asw_id, key_id=key_id,
        key_version=keys.version, received_at=received_at, row=row,
        indicators=[{"code": i.code, "risk": i.risk} for i in referral.indicators],
        selectors=selectors, receipt_envelope=receipt_envelope,
        receipt=json.loads(signed.payload),
    )  # fmt: skip


_REFERRALS = cast(sa.Table, tables.Referral.__table__)
_EXISTING = sa.select(
    _REFERRALS.c.id, _REFERRALS.c.referral_id, _REFERRALS.c.asw_id,
    _REFERRALS.c.referral_digest, _REFERRALS.c.receipt_envelope,
).where(
    _REFERRALS.c.asw_id == sa.bindparam("asw_id"),
    _REFERRALS.c.referral_id == sa.bindparam("referral_id"),
)  # fmt: skip
_INSERT_REFERRAL = sa.insert(_REFERRALS)
_INSERT_INDICATORS = sa.insert(cast(sa.Table, tables.ReferralIndicator.__table__))
_INSERT_SELECTORS = sa.insert(cast(sa.Table, tables.Selector.__table__))
_INSERT_QUEUE = sa.insert(cast(sa.Table, tables.LinkingQueue.__table__))
_INSERT_TRANSITION = sa.insert(cast(sa.Table, tables.StateTransition.__table__))
_REQUESTS = cast(sa.Table, tables.InformationRequest.__table__)
_REQUEST = (
    sa.select(_REQUESTS.c.asw_id, _REQUESTS.c.referral_pk, _REQUESTS.c.state)
    .where(_REQUESTS.c.id == sa.bindparam("request_id"))
    .with_for_update()
)
_ANSWER_REQUEST = (
    sa.update(_REQUESTS)
    .where(_REQUESTS.c.id == sa.bindparam("request_id"))
    .values(
        state="answered",
        answered_at=sa.bindparam("answered_at"),
        answer_referral_pk=sa.bindparam("answer_pk"),
    )
)


def _replay(row: Any, submission: Submission) -> IngestResult:
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


def _existing(connection: Connection, asw_id: str, referral_id: str) -> Any:
    return connection.execute(
        _EXISTING, {"asw_id": asw_id, "referral_id": referral_id}
    ).one_or_none()


def _supplemented(connection: Connection, prepared: PreparedReferral) -> tuple[int | None, Any]:
    """The referral this one supplements and the request for information it answers (ids),
    or the problem why not."""
    supplement = prepared.referral.supplements
    if supplement is None:
        return None, None
    original = _existing(connection, prepared.asw_id, str(supplement.referral_id))
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
    request_id = None
    if supplement.relationship == "answers_request":
        request_id = supplement.information_request_id
        request = connection.execute(_REQUEST, {"request_id": request_id}).one_or_none()
        if (
            request is None
            or request.asw_id != prepared.asw_id
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
    return original.id, request_id


def _take_quota(connection: Connection, settings: Settings, asw_id: str, version: int,
                now: datetime) -> None:  # fmt: skip
    """In the store transaction: the keys verified against are still current (else
    ``_StaleKeys``: verify again), and the ASW's quota has room (else 429, rolled back)."""
    if current_version(connection) != version:
        raise _StaleKeys
    consume_submission_quota(
        connection, asw_id=asw_id, now=now, limit=settings.rate_limit_per_minute,
        refused_limit=settings.refused_submission_limit_per_minute,
    )  # fmt: skip


def count_refusal(connection: Connection, settings: Settings, refusal: _Refusal,
                  now: datetime) -> None:  # fmt: skip
    """A refused submission spends the refused quota, not the acceptance quota (a 429 if
    either is spent comes first, as for any submission)."""
    _take_quota(connection, settings, refusal.asw_id, refusal.key_version, now)
    refund_refused_submission(connection, asw_id=refusal.asw_id, now=now)


def store_referral(
    connection: Connection, settings: Settings, prepared: PreparedReferral, now: datetime
) -> IngestResult | Problem:
    """THE store transaction's work, on the caller's connection and transaction: take the
    quota, answer a replay, or write the referral, its indicators, selectors, first state,
    linking outbox entry and audit event. Returns a problem (after counting the refusal)
    for a conflict or an unknown supplemented referral or request; nothing else is written
    then. Raises 429 (the caller rolls back) and ``_StaleKeys``.

    One function on one ``Connection`` so that a hook that must be in the same transaction
    as every receipt (a transparency log entry) has one place to go."""
    _take_quota(connection, settings, prepared.asw_id, prepared.key_version, now)
    try:
        existing = _existing(connection, prepared.asw_id, prepared.submission.referral_id)
        if existing is not None:
            return _replay(existing, prepared.submission)
        supplements_id, request_id = _supplemented(connection, prepared)
    except Problem as problem:
        refund_refused_submission(connection, asw_id=prepared.asw_id, now=now)
        return problem
    at = prepared.received_at
    inserted = connection.execute(
        _INSERT_REFERRAL, {**prepared.row, "supplements_id": supplements_id}
    ).inserted_primary_key
    assert inserted is not None
    pk = inserted[0]
    # The receipt's transparency-log entry, pending, in the receipt's own transaction.
    tlog.log_submission(connection, pk, prepared.receipt_envelope)
    connection.execute(_INSERT_INDICATORS, [{**i, "referral_pk": pk} for i in prepared.indicators])
    if prepared.selectors:
        connection.execute(
            _INSERT_SELECTORS, [{**s, "referral_pk": pk} for s in prepared.selectors]
        )
    if not prepared.referral.is_test:
        # Linking runs in the linking worker (services/linkworker.py), off the request path:
        # the outbox entry is written in this transaction, so a stored referral is always
        # linked later. Sandbox referrals never link, never count towards over-correlation
        # and never move a live referral's priority: they are kept apart (spec/linking.md).
        connection.execute(_INSERT_QUEUE, {"referral_pk": pk, "enqueued_at": at})
    transition = {
        "referral_pk": pk,
        "from_state": None,
        "to_state": "received",
        "outcome": None,
        "actor": f"asw:{prepared.asw_id}",
        "reason": None,
        "at": at,
    }
    inserted = connection.execute(_INSERT_TRANSITION, transition).inserted_primary_key
    assert inserted is not None
    tlog.log_row(
        connection, "state_transitions", inserted[0], values={**transition, "id": inserted[0]}
    )
    if request_id is not None:
        connection.execute(
            _ANSWER_REQUEST, {"request_id": request_id, "answered_at": at, "answer_pk": pk}
        )
    record_event_core(
        connection,
        actor=Actor("asw", prepared.asw_id),
        action="referral.submitted",
        referral_pk=pk,
        detail={"referral_id": prepared.submission.referral_id, "key_id": prepared.key_id},
        at=at,
    )
    return IngestResult(
        "accepted",
        prepared.submission.referral_id,
        prepared.asw_id,
        {
            "receipt": prepared.receipt,
            "receipt_envelope": prepared.receipt_envelope.decode("utf-8"),
            "replayed": False,
        },
    )


def _engine(sessions: sessionmaker[Session]) -> Engine:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("ingestion needs sessions bound to an engine")
    return bind


def _store_all(
    sessions: sessionmaker[Session], settings: Settings,
    items: list[PreparedReferral | _Refusal], now: datetime,
) -> list[IngestResult | Problem]:  # fmt: skip
    """Store every prepared item (and count every refusal) in ONE transaction and one commit;
    each item of several in a savepoint of its own, so one item's 429 or concurrent
    duplicate rolls back that item only. Raises ``_StaleKeys`` (nothing committed)."""
    engine = _engine(sessions)
    results: list[IngestResult | Problem] = []
    with write_guard(sessions), engine.begin() as connection:
        for item in items:
            savepoint = connection.begin_nested() if len(items) > 1 else None
            try:
                if isinstance(item, _Refusal):
                    count_refusal(connection, settings, item, now)
                    result: IngestResult | Problem = item.problem
                else:
                    result = store_referral(connection, settings, item, now)
            except Problem as problem:  # a spent quota: this item's writes roll back
                if savepoint is None:
                    raise
                savepoint.rollback()
                results.append(problem)
                continue
            except IntegrityError:
                # Another worker stored the same (ASW, referral id) first: answer as a replay.
                if savepoint is None or not isinstance(item, PreparedReferral):
                    raise
                savepoint.rollback()
                existing = _existing(connection, item.asw_id, item.submission.referral_id)
                if existing is None:
                    raise
                try:
                    results.append(_replay(existing, item.submission))
                except Problem as problem:
                    results.append(problem)
                continue
            if savepoint is not None:
                savepoint.commit()
            results.append(result)
    return results


def _ingest_many(
    sessions: sessionmaker[Session], settings: Settings, raws: list[bytes],
    claimed_asw: str | None, now: datetime,
) -> list[IngestResult | Problem]:  # fmt: skip
    engine = _engine(sessions)
    for attempt in range(1, STORE_ATTEMPTS + 1):
        keys = snapshot(engine, guard=write_guard(sessions))
        prepared: list[PreparedReferral | _Refusal | Problem] = []
        for raw in raws:
            try:
                prepared.append(_prepare(engine, sessions, settings, raw, claimed_asw, now, keys))
            except Problem as problem:
                prepared.append(problem)
        to_store = [p for p in prepared if not isinstance(p, Problem)]
        if len(to_store) < len(prepared) and _keys_changed(sessions, keys):
            continue  # a key unknown to this process may have been added elsewhere
        try:
            stored = iter(_store_all(sessions, settings, to_store, now)) if to_store else iter(())
        except _StaleKeys:
            _keys_changed(sessions, keys)
            continue
        except IntegrityError:
            # A single submission stored concurrently by another worker: answer the replay.
            only = to_store[0]
            assert isinstance(only, PreparedReferral)
            with write_guard(sessions), engine.begin() as connection:
                existing = _existing(connection, only.asw_id, only.submission.referral_id)
            if existing is None:
                raise
            try:
                return [_replay(existing, only.submission)]
            except Problem as problem:
                return [problem]
        except OperationalError as exc:
            # A deadlock or serialisation failure (PostgreSQL) rolled everything back: try
            # again from "is it stored yet?".
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in RETRYABLE_SQLSTATES or attempt == STORE_ATTEMPTS:
                raise
            logger.warning(
                "store retried",
                extra={"event": "store_retried", "sqlstate": sqlstate, "attempt": attempt},
            )
            continue
        return [p if isinstance(p, Problem) else next(stored) for p in prepared]
    raise Problem(409, ProblemCode.CONFLICT, "the receiver's keys are changing; try again")


def _keys_changed(sessions: sessionmaker[Session], keys: KeySnapshot) -> bool:
    """Reload the snapshot if another process changed the ASWs or keys; say whether it did."""
    engine = _engine(sessions)
    with write_guard(sessions), engine.begin() as connection:
        fresh = snapshot(engine, refresh_from=connection)
    return fresh.version != keys.version


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
    (result,) = _ingest_many(sessions, settings, [raw], claimed_asw, now)
    if isinstance(result, Problem):
        raise result
    return result


def ingest_batch(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    items: list[bytes],
    claimed_asw: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Ingest each envelope on its own terms (one bad or duplicate item never fails the
    others), all in one store transaction: one commit for the batch."""
    results: list[dict[str, Any]] = []
    for index, outcome in enumerate(_ingest_many(sessions, settings, items, claimed_asw, now)):
        if isinstance(outcome, Problem):
            results.append({"index": index, "status": "rejected", "problem": outcome.document()})
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
