"""Casework on referrals: reading, moving through the lifecycle, feedback, requests for
information. Every read of content and every change is written to the audit trail in the same
transaction, so no read or change goes unrecorded."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    format_timestamp,
    parse_submission,
    verify_envelope,
)
from strive_schema.errors import VerificationError
from strive_schema.key_validity import judge_key
from strive_schema.keys import PublicKey
from strive_schema.receipts import envelope_sha256, verify_receipt
from strive_schema.semantics import Finding
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services import tlog
from strive_server.services.attachments import attachment_summaries
from strive_server.services.audit import Actor, record_event
from strive_server.services.dissemination import record_outcome_event
from strive_server.services.lifecycle import OUTCOMES, STATES, is_allowed, needs_supervisor
from strive_server.services.linkworker import linking_state
from strive_server.services.triage import describe

__all__ = [
    "add_feedback",
    "analyst_view",
    "assign",
    "asw_status",
    "create_information_request",
    "find_referral",
    "history",
    "list_information_requests",
    "record_outcome",
    "recorded_outcomes",
    "referral_information_requests",
    "transition",
    "verify_evidence",
    "withdraw_information_request",
]


def find_referral(
    session: Session, referral_id: str, *, asw_id: str | None = None, for_update: bool = False
) -> tables.Referral:
    """The referral with this id (ASW-chosen, so unique only per ASW).

    ``for_update`` locks the row until the transaction ends (PostgreSQL; SQLite transactions
    already hold the write lock), so two people moving one referral at the same moment are
    serialised and the second sees the first's state.

    Raises:
        Problem: 404 when none; 409 ``referral_ambiguous`` when several ASWs used the id and
            ``asw_id`` does not choose.
    """
    query = sa.select(tables.Referral).where(tables.Referral.referral_id == referral_id)
    if asw_id is not None:
        query = query.where(tables.Referral.asw_id == asw_id)
    if for_update:
        query = query.with_for_update()
    rows = session.scalars(query).all()
    if not rows:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such referral")
    if len(rows) > 1:
        raise Problem(
            409,
            ProblemCode.REFERRAL_AMBIGUOUS,
            "several ASWs used this referral id; add ?asw_id=",
            extra={"asw_ids": sorted(r.asw_id for r in rows)},
        )
    return rows[0]


def _released_feedback(session: Session, row: tables.Referral) -> list[tables.Feedback]:
    return list(
        session.scalars(
            sa.select(tables.Feedback)
            .where(tables.Feedback.referral_pk == row.id, tables.Feedback.released.is_(True))
            .order_by(tables.Feedback.created_at, tables.Feedback.id)
        )
    )


def asw_status(session: Session, *, asw_id: str, referral_id: str) -> dict[str, Any]:
    """What the ASW may see: state and released feedback. Another ASW's referral is 404,
    exactly like one that does not exist."""
    row = find_referral(session, referral_id, asw_id=asw_id)
    feedback = _released_feedback(session, row)
    released_outcomes = [f.outcome for f in feedback if f.outcome]
    record_event(
        session,
        actor=Actor("asw", asw_id),
        action="referral.status_read",
        referral_pk=row.id,
        detail={"referral_id": row.referral_id},
    )
    return {
        "referral_id": row.referral_id,
        "state": row.state,
        "received_at": row.received_at,
        "updated_at": row.updated_at,
        "outcome": released_outcomes[-1] if released_outcomes else None,
        "feedback": [
            {"created_at": f.created_at, "message": f.message, "outcome": f.outcome}
            for f in feedback
        ],
        "attachments_received": [
            a["attachment_id"] for a in attachment_summaries(session, row) if a["received"]
        ],
    }


def analyst_view(
    session: Session, row: tables.Referral, *, actor: Actor, reason: str | None
) -> dict[str, Any]:
    """The full referral for an analyst, with its cluster and the breakdown of its priority
    (the same fields as a triage queue item); the read is audited."""
    record_event(
        session,
        actor=actor,
        action="referral.read",
        referral_pk=row.id,
        reason=reason,
        detail={"referral_id": row.referral_id, "asw_id": row.asw_id},
    )
    supplements = session.get(tables.Referral, row.supplements_id) if row.supplements_id else None
    supplemented_by = session.scalars(
        sa.select(tables.Referral.referral_id)
        .where(tables.Referral.supplements_id == row.id)
        .order_by(tables.Referral.id)
    ).all()
    # A merge moves its referrals, so a referral's cluster is always a live one.
    cluster = session.get(tables.Cluster, row.cluster_id) if row.cluster_id is not None else None
    return {
        "referral_id": row.referral_id,
        "asw_id": row.asw_id,
        "received_at": row.received_at,
        "state": row.state,
        "outcome": row.outcome,
        "assigned_to": row.assigned_to,
        "urgency": row.urgency,
        "is_test": row.is_test,
        "protective_marking": row.protective_marking,
        "supplements_referral_id": supplements.referral_id if supplements else None,
        "supplemented_by": list(supplemented_by),
        "envelope_sha256": row.envelope_sha256,
        "referral_digest": row.referral_digest,
        "document": row.document,
        "cluster_id": row.cluster_id,
        "cluster_referrals": cluster.referral_count if cluster is not None else 1,
        "linking": linking_state(session, row),
        "attachments": attachment_summaries(session, row),
        **describe(row, cluster),
    }


def _same_json(stored: object, signed: object) -> bool:
    """Whether the stored parsed copy holds the same JSON value as the signed bytes do.

    Numbers are compared as numbers, not as the type a database gives back: PostgreSQL's
    JSONB returns ``1e21`` as the integer 10**21, which has no canonical form (beyond 2**53)
    and must not make the check fail. Walks iteratively: documents may nest deeply.
    """
    pending: list[tuple[object, object]] = [(stored, signed)]
    while pending:
        left, right = pending.pop()
        if isinstance(left, bool) or isinstance(right, bool):
            if left is not right:
                return False
        elif isinstance(left, int | float) and isinstance(right, int | float):
            if isinstance(left, int) and isinstance(right, int):
                if left != right:
                    return False
            else:
                try:
                    if float(left) != float(right):
                        return False
                except OverflowError:
                    return False
        elif isinstance(left, dict) and isinstance(right, dict):
            if left.keys() != right.keys():
                return False
            pending.extend((left[name], right[name]) for name in right)
        elif isinstance(left, list) and isinstance(right, list):
            if len(left) != len(right):
                return False
            pending.extend(zip(left, right, strict=True))
        elif type(left) is not type(right) or left != right:
            return False
    return True


def verify_evidence(
    session: Session,
    row: tables.Referral,
    *,
    actor: Actor,
    reason: str | None,
    receipt_keys: Sequence[PublicKey],
) -> dict[str, Any]:
    """Re-verify the stored envelope bytes against the key that signed them, even if that key
    has since been retired or revoked: the evidence check years later. Returns the envelope,
    so the read is audited like any other read of content.

    Everything is checked from the envelope bytes (``referrals.envelope``); the stored parsed
    copy (``document``) is only compared with them, never canonicalised itself. Whether the
    key's lifecycle lets the signature count is judged at the time of receipt as the stored
    receipt states it (verified under ``receipt_keys``, the receiver's published keys), never
    at the envelope's claimed ``issued_at``: ``key_validity`` says which rule applied, and a
    referral received at or after its key's compromise is ``verified: false`` with
    ``key_revoked`` (spec/protocol.md, "Key lifecycle").
    """
    key = session.get(tables.AswKey, row.key_id)
    record_event(
        session,
        actor=actor,
        action="referral.evidence_verified",
        referral_pk=row.id,
        reason=reason,
        detail={"referral_id": row.referral_id},
    )
    try:
        verified = verify_envelope(
            row.envelope,
            [PublicKey.from_jwk(key.public_jwk)] if key and key.asw_id == row.asw_id else [],
            payload_type=SUBMISSION_PAYLOAD_TYPE,
        )
        submission = parse_submission(verified.payload)
    except VerificationError as exc:
        return {"verified": False, "code": exc.code.value, "key_id": row.key_id}
    assert key is not None  # it verified
    try:
        receipt = verify_receipt(
            row.receipt_envelope, receipt_keys, expected_envelope_sha256=row.envelope_sha256
        )
    except VerificationError as exc:
        return {"verified": False, "code": exc.code.value, "key_id": row.key_id,
                "reason": "the stored receipt does not verify under the receiver's "
                          f"published receipt keys ({exc.detail})"}  # fmt: skip
    # The signature covers the stored bytes; the stored derivations must agree with them too,
    # or someone changed the database behind the triggers' back.
    mismatches = [
        name
        for name, ok in (
            ("envelope_sha256", envelope_sha256(row.envelope) == row.envelope_sha256),
            ("referral_digest", submission.referral_digest == row.referral_digest),
            ("document", _same_json(row.document, submission.referral)),
            ("asw_id", submission.asw_id == row.asw_id),
            ("referral_id", submission.referral_id == row.referral_id),
            ("received_at", receipt.received_at == row.received_at),
        )
        if not ok
    ]
    if mismatches:
        return {"verified": False, "code": "stored_copy_mismatch", "mismatch": mismatches,
                "key_id": row.key_id}  # fmt: skip
    judgement = judge_key(key.validity, receipt.received_at)
    # The receipt's entry in the transparency log fixes when it was issued (None while the
    # sequencer has not reached it): a witness to received_at beyond the receiver's key.
    ref = f"referrals:{row.id}"
    logged = {"log_index": tlog.entries_of(session.connection(), [ref]).get(ref)}
    if not judgement.valid:
        assert judgement.code is not None
        return {
            "verified": False,
            "code": judgement.code.value,
            "key_id": row.key_id,
            "received_at": format_timestamp(receipt.received_at),
            "key_validity": judgement.to_json(),
            **logged,
            "reason": f"{judgement.explanation} (received at "
            f"{format_timestamp(receipt.received_at)})",
        }
    return {
        "verified": True,
        "key_id": row.key_id,
        "key_revoked": key.validity.revoked,
        "received_at": format_timestamp(receipt.received_at),
        "key_validity": judgement.to_json(),
        **logged,
        "reason": judgement.explanation,
        "envelope_sha256": row.envelope_sha256,
        "envelope": row.envelope.decode(),
    }


def transition(
    session: Session,
    row: tables.Referral,
    *,
    to_state: str,
    outcome: str | None,
    reason: str,
    actor: Actor,
) -> None:
    """Move a referral along the lifecycle.

    Raises:
        Problem: 409 ``transition_invalid``; 403 ``forbidden`` for a supervisor-only move by
            an analyst; 422 ``outcome_required`` when closing without a valid outcome;
            422 ``request_invalid`` for an outcome on any other move (outcomes are recorded
            by closing, or by a supervisor with :func:`record_outcome`).
    """
    if to_state not in STATES or not is_allowed(row.state, to_state):
        raise Problem(
            409,
            ProblemCode.TRANSITION_INVALID,
            f"a referral in state {row.state} cannot move to {to_state}",
            extra={"state": row.state},
        )
    if needs_supervisor(row.state, to_state) and actor.role != "supervisor":
        raise Problem(403, ProblemCode.FORBIDDEN, "only a supervisor may make this move")
    if to_state == "closed" and outcome not in OUTCOMES:
        raise Problem(
            422, ProblemCode.OUTCOME_REQUIRED, f"closing needs an outcome: {', '.join(OUTCOMES)}"
        )
    if outcome is not None and to_state != "closed":
        raise Problem(
            422,
            ProblemCode.REQUEST_INVALID,
            "an outcome is given when closing; a supervisor records further outcomes",
        )
    now = datetime.now(UTC)
    session.add(
        tables.StateTransition(
            referral_pk=row.id,
            from_state=row.state,
            to_state=to_state,
            outcome=outcome,
            actor=actor.name,
            reason=reason,
            at=now,
        )
    )
    if row.first_triaged_at is None and row.state == "received":
        row.first_triaged_at = now
    if outcome is not None:
        record_outcome_event(
            session, row, outcome=outcome, force_reference=None, case_reference=None,
            dissemination_id=None, recorded_by_kind=actor.kind, recorded_by=actor.name, at=now,
        )  # fmt: skip
    record_event(
        session,
        actor=actor,
        action="referral.transitioned",
        referral_pk=row.id,
        reason=reason,
        detail={"from": row.state, "to": to_state, "outcome": outcome},
    )
    row.state = to_state
    row.updated_at = now


def record_outcome(
    session: Session,
    row: tables.Referral,
    *,
    outcome: str,
    reason: str,
    actor: Actor,
    force_reference: str | None = None,
    case_reference: str | None = None,
) -> None:
    """Record a further outcome (an arrest, then a charge) on a disseminated or closed
    referral (supervisors only, checked by the route). The outcome is kept in the history
    beside the transitions, so an arrest followed by a charge keeps both.

    Raises:
        Problem: 422 ``request_invalid`` for an unknown outcome; 409 ``transition_invalid``
            before the referral is disseminated.
    """
    if outcome not in OUTCOMES:
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"unknown outcome {outcome}")
    if row.state not in ("disseminated", "closed"):
        raise Problem(
            409,
            ProblemCode.TRANSITION_INVALID,
            "outcomes are recorded once a referral is disseminated or closed",
        )
    now = datetime.now(UTC)
    session.add(
        tables.StateTransition(
            referral_pk=row.id,
            from_state=row.state,
            to_state=row.state,
            outcome=outcome,
            actor=actor.name,
            reason=reason,
            at=now,
        )
    )
    record_outcome_event(
        session, row, outcome=outcome, force_reference=force_reference,
        case_reference=case_reference, dissemination_id=None, recorded_by_kind=actor.kind,
        recorded_by=actor.name, at=now,
    )  # fmt: skip
    record_event(
        session,
        actor=actor,
        action="referral.outcome_recorded",
        referral_pk=row.id,
        reason=reason,
        detail={"outcome": outcome},
    )


def assign(
    session: Session, row: tables.Referral, *, assignee: str, reason: str, actor: Actor
) -> None:
    """Assign a referral to an analyst (supervisors only, checked by the route)."""
    row.assigned_to = assignee
    row.updated_at = datetime.now(UTC)
    record_event(
        session,
        actor=actor,
        action="referral.assigned",
        referral_pk=row.id,
        reason=reason,
        detail={"assignee": assignee},
    )


def add_feedback(
    session: Session,
    row: tables.Referral,
    *,
    message: str,
    outcome: str | None,
    release: bool,
    actor: Actor,
) -> int:
    """Add feedback; released feedback is shown to the ASW. Returns the feedback id.

    Raises:
        Problem: 422 ``request_invalid`` when ``outcome`` is not one recorded on the referral
            (feedback reports outcomes; it cannot invent one).
    """
    if outcome is not None and outcome not in recorded_outcomes(session, row):
        raise Problem(
            422,
            ProblemCode.REQUEST_INVALID,
            "feedback can only report an outcome recorded on the referral",
        )
    feedback = tables.Feedback(
        referral_pk=row.id,
        message=message,
        outcome=outcome,
        created_by=actor.name,
        created_at=datetime.now(UTC),
        released=release,
    )
    session.add(feedback)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="referral.feedback_added",
        referral_pk=row.id,
        detail={"feedback_id": feedback.id, "released": release, "outcome": outcome},
    )
    return feedback.id


def recorded_outcomes(session: Session, row: tables.Referral) -> set[str]:
    """Every outcome recorded on the referral (when closing, or added later)."""
    outcomes = session.scalars(
        sa.select(tables.StateTransition.outcome).where(
            tables.StateTransition.referral_pk == row.id,
            tables.StateTransition.outcome.is_not(None),
        )
    )
    return {outcome for outcome in outcomes if outcome} | ({row.outcome} if row.outcome else set())


def _information_request_id(now: datetime) -> str:
    # Milliseconds first, so ids sort in creation order and an ASW paging by cursor never
    # misses a request created while it pages; 64 random bits make ids unguessable.
    return f"rfi-{int(now.timestamp() * 1000):012x}{secrets.token_hex(8)}"


def create_information_request(
    session: Session,
    row: tables.Referral,
    *,
    question: str,
    due_by: datetime | None,
    actor: Actor,
) -> tables.InformationRequest:
    """Ask the ASW for more information about a referral.

    Raises:
        Problem: 422 ``request_invalid`` when ``due_by`` has no time zone.
    """
    if due_by is not None and due_by.utcoffset() is None:
        raise Problem(
            422,
            ProblemCode.REQUEST_INVALID,
            "due_by needs a time zone (RFC 3339, e.g. 2026-05-01T17:00:00Z)",
            errors=[Finding("/due_by", "invalid_value", "needs a time zone", kind="schema")],
        )
    now = datetime.now(UTC)
    request = tables.InformationRequest(
        id=_information_request_id(now),
        referral_pk=row.id,
        asw_id=row.asw_id,
        question=question,
        state="open",
        created_by=actor.name,
        created_at=now,
        due_by=due_by,
    )
    session.add(request)
    record_event(
        session,
        actor=actor,
        action="information_request.created",
        referral_pk=row.id,
        detail={"information_request_id": request.id},
    )
    return request


def withdraw_information_request(
    session: Session, row: tables.Referral, request_id: str, *, reason: str, actor: Actor
) -> tables.InformationRequest:
    """Withdraw an open request (asked in error, or overtaken by events): the ASW sees it as
    ``withdrawn`` and can no longer answer it.

    Raises:
        Problem: 404 ``not_found`` when the referral has no such request; 409 ``conflict``
            when it is no longer open (answered or already withdrawn).
    """
    request = session.get(tables.InformationRequest, request_id, with_for_update=True)
    if request is None or request.referral_pk != row.id:
        raise Problem(404, ProblemCode.NOT_FOUND, "this referral has no such request")
    if request.state != "open":
        raise Problem(409, ProblemCode.CONFLICT, f"the request is {request.state}, not open")
    request.state = "withdrawn"
    record_event(
        session,
        actor=actor,
        action="information_request.withdrawn",
        referral_pk=row.id,
        reason=reason,
        detail={"information_request_id": request.id},
    )
    return request


def information_request_view(
    session: Session, request: tables.InformationRequest
) -> dict[str, Any]:
    referral = session.get(tables.Referral, request.referral_pk)
    answer = (
        session.get(tables.Referral, request.answer_referral_pk)
        if request.answer_referral_pk
        else None
    )
    return {
        "id": request.id,
        "referral_id": referral.referral_id if referral else "",
        "created_at": request.created_at,
        "question": request.question,
        "state": request.state,
        "due_by": request.due_by,
        "answer_referral_id": answer.referral_id if answer else None,
    }


def referral_information_requests(
    session: Session, row: tables.Referral, *, actor: Actor
) -> list[dict[str, Any]]:
    """The requests for information about a referral, oldest first, for analysts (audited)."""
    record_event(
        session, actor=actor, action="referral.information_requests_read", referral_pk=row.id
    )
    requests = session.scalars(
        sa.select(tables.InformationRequest)
        .where(tables.InformationRequest.referral_pk == row.id)
        .order_by(tables.InformationRequest.id)
    )
    return [information_request_view(session, request) for request in requests]


def list_information_requests(
    session: Session, *, asw_id: str, state: str | None, cursor: str | None, limit: int = 50
) -> dict[str, Any]:
    """An ASW's requests for information, oldest first, paged by an opaque cursor."""
    query = sa.select(tables.InformationRequest).where(tables.InformationRequest.asw_id == asw_id)
    if state is not None:
        query = query.where(tables.InformationRequest.state == state)
    if cursor:
        query = query.where(tables.InformationRequest.id > cursor)
    rows = session.scalars(query.order_by(tables.InformationRequest.id).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "items": [information_request_view(session, r) for r in page],
        "next_cursor": page[-1].id if len(rows) > limit else None,
    }


def history(
    session: Session, row: tables.Referral, *, actor: Actor, reason: str | None
) -> list[dict[str, Any]]:
    """The referral's lifecycle: its transitions (``kind`` ``transition``) and the further
    outcomes recorded on it (``kind`` ``outcome``), oldest first. The read is audited."""
    record_event(
        session, actor=actor, action="referral.history_read", referral_pk=row.id, reason=reason
    )
    transitions = session.scalars(
        sa.select(tables.StateTransition)
        .where(tables.StateTransition.referral_pk == row.id)
        .order_by(tables.StateTransition.id)
    )
    return [
        {
            "kind": "outcome" if t.from_state == t.to_state else "transition",
            "from_state": t.from_state,
            "to_state": t.to_state,
            "outcome": t.outcome,
            "actor": t.actor,
            "reason": t.reason,
            "at": t.at,
        }
        for t in transitions
    ]
