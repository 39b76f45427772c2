"""Receiver checks: replay, conflict and receipts (spec/protocol.md sections 11 to 13,
spec/api.md "Submitting a referral")."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from strive_schema.envelope import parse_envelope, referral_digest
from strive_schema.errors import VerificationError
from strive_schema.receipts import Receipt, verify_receipt

from ._framework import Failed, Registry
from ._session import ReceiverSession, describe, json_object, utc_now

checks: Registry[ReceiverSession] = Registry("replay-and-receipts")

REPLAY = "protocol.md#11-freshness-replay-and-idempotency"
RECEIPTS = "protocol.md#13-receipts"
SUBMIT = "api.md#submitting-a-referral"


def _replay_answer(session: ReceiverSession, body: bytes, what: str) -> str:
    original = session.baseline()
    response = session.submit(body)
    if response.status_code != 200:
        raise Failed(f"{what} got {describe(response)}, not 200 with the original receipt")
    answer = json_object(response)
    if answer.get("replayed") is not True:
        raise Failed(f"{what}: replayed is {answer.get('replayed')!r}, not true")
    if answer.get("receipt_envelope") != original.body.get("receipt_envelope"):
        raise Failed(f"{what}: the receipt_envelope is not the original receipt's exact text")
    return f"{what}: 200, replayed true, the original receipt byte for byte"


@checks.add("R-REPLAY-01", "MUST", REPLAY, "the same bytes again -> 200 with the original receipt")
def same_bytes(session: ReceiverSession) -> str:
    return _replay_answer(session, session.baseline().envelope, "the same envelope bytes")


@checks.add(
    "R-REPLAY-02", "MUST", REPLAY, "the same referral re-signed -> 200 with the original receipt"
)
def re_signed(session: ReceiverSession) -> str:
    original = session.baseline()
    envelope = session.envelope(original.referral, issued_at=utc_now() + timedelta(seconds=1))
    return _replay_answer(session, envelope, "a re-signed envelope of the same referral")


@checks.add(
    "R-REPLAY-03", "MUST", REPLAY, "same referral id, other content -> 409 referral_conflict"
)
def conflict(session: ReceiverSession) -> str:
    changed = dict(session.baseline().referral)
    changed["narrative"] = changed["narrative"] + " (changed)"
    return session.expect_problem(
        session.submit(session.envelope(changed)), 409, "referral_conflict"
    )


@checks.add("R-REPLAY-04", "MUST", REPLAY, "a conflict leaves the stored referral unchanged")
def conflict_changes_nothing(session: ReceiverSession) -> str:
    return _replay_answer(session, session.baseline().envelope, "the original after a conflict")


def _verified(session: ReceiverSession) -> Receipt:
    accepted = session.baseline()
    try:
        return verify_receipt(accepted.receipt_envelope, session.receiver_keys())
    except VerificationError as exc:
        raise Failed(f"the receipt does not verify: {exc.code}: {exc.detail}") from None


@checks.add("R-RECEIPT-01", "MUST", RECEIPTS, "the receipt verifies under a published receipt key")
def receipt_signature(session: ReceiverSession) -> str:
    receipt_envelope = parse_envelope(session.baseline().receipt_envelope)
    _verified(session)
    return f"signed by a published key ({receipt_envelope.signatures[0].keyid})"


@checks.add("R-RECEIPT-02", "MUST", RECEIPTS, "the receipt acknowledges exactly what was sent")
def receipt_content(session: ReceiverSession) -> str:
    accepted = session.baseline()
    receipt = _verified(session)
    expected = {
        "envelope_sha256": hashlib.sha256(accepted.envelope).hexdigest(),
        "referral_digest": referral_digest(accepted.referral),
        "asw_id": session.asw_id,
        "referral_id": accepted.referral["referral_id"],
        "receiver_id": session.receiver_id,
    }
    for name, value in expected.items():
        if getattr(receipt, name) != value:
            raise Failed(f"the receipt's {name} is {getattr(receipt, name)!r}, not {value!r}")
    return "envelope SHA-256, referral digest, ASW, referral and receiver ids match"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@checks.add(
    "R-RECEIPT-03", "MUST", RECEIPTS, "the receipt holds no personal data or referral content"
)
def receipt_no_personal_data(session: ReceiverSession) -> str:
    accepted = session.baseline()
    _verified(session)
    payload = parse_envelope(accepted.receipt_envelope).payload.decode("utf-8")
    # Exactly the receipt members (R1) is checked by verify_receipt; here: no referral text.
    identifiers = {accepted.referral["referral_id"], session.asw_id, session.receiver_id}
    content = {s for s in _strings(accepted.referral) if len(s) >= 8 and s not in identifiers}
    leaked = sorted(s for s in content if s in payload or s in accepted.receipt_envelope.decode())
    if leaked:
        raise Failed(f"the receipt carries referral content: {leaked[0][:40]!r}")
    shown = accepted.body.get("receipt")
    for member, value in (shown or {}).items():
        if isinstance(value, str) and value in content:
            raise Failed(f"the response's receipt.{member} carries referral content")
    return "only identifiers, digests and times"


@checks.add("R-RECEIPT-04", "MUST", SUBMIT, "the response's receipt object is the signed payload")
def receipt_object(session: ReceiverSession) -> str:
    accepted = session.baseline()
    _verified(session)
    signed = json.loads(parse_envelope(accepted.receipt_envelope).payload)
    if accepted.body.get("receipt") != signed:
        raise Failed("the response's receipt object differs from the signed receipt payload")
    return "receipt equals the signed payload"
