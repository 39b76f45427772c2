"""Receipts: built and signed by the receiver, verified by the client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    open_submission,
    sign_envelope,
)
from strive_schema.errors import VerificationError
from strive_schema.keys import SigningKey
from strive_schema.receipts import (
    Receipt,
    ReceiptStatus,
    build_receipt,
    envelope_sha256,
    sign_receipt,
    verify_receipt,
)

NOW = datetime(2026, 11, 23, 17, 2, 0, tzinfo=UTC)
REFERRAL_ID = "0f8e3b5a-3c5d-4e1f-9a0b-7c6d5e4f3a2b"
REFERRAL = {"referral_id": REFERRAL_ID, "phone": "07700 900123", "email": "jane@example.org"}
RECEIVER_KEY = SigningKey.generate()


def submitted(asw_key: SigningKey) -> tuple[bytes, Receipt]:
    payload = build_submission(REFERRAL, asw_id="example-asw", audience="rx", issued_at=NOW)
    raw = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [asw_key]).to_json()
    submission = open_submission(payload, audience="rx", now=NOW)
    receipt = build_receipt(receiver_id="rx", envelope=raw, submission=submission, received_at=NOW)
    return raw, receipt


def test_receipt_round_trip(asw_key: SigningKey) -> None:
    raw, receipt = submitted(asw_key)
    signed = sign_receipt(receipt, [RECEIVER_KEY]).to_json()
    verified = verify_receipt(
        signed,
        [RECEIVER_KEY.public_key],
        expected_envelope_sha256=envelope_sha256(raw),
        expected_asw_id="example-asw",
        expected_referral_id=REFERRAL_ID,
        expected_receiver_id="rx",
    )
    assert verified == receipt
    assert verified.status is ReceiptStatus.ACCEPTED
    assert verified.receipt_version == 1
    assert verified.envelope_sha256 == envelope_sha256(raw)


def test_receipt_payload_holds_no_personal_data(asw_key: SigningKey) -> None:
    _, receipt = submitted(asw_key)
    payload = receipt.to_payload()
    assert b"07700" not in payload
    assert b"jane" not in payload
    assert set(json.loads(payload)) == {
        "asw_id",
        "envelope_sha256",
        "received_at",
        "receipt_version",
        "receiver_id",
        "referral_digest",
        "referral_id",
        "status",
    }


@pytest.mark.parametrize(
    "expectation",
    [
        {"expected_envelope_sha256": "0" * 64},
        {"expected_asw_id": "other-asw"},
        {"expected_referral_id": "11111111-2222-3333-4444-555555555555"},
        {"expected_receiver_id": "other-receiver"},
    ],
)
def test_receipt_for_something_else_is_a_mismatch(
    asw_key: SigningKey, expectation: dict[str, str]
) -> None:
    _, receipt = submitted(asw_key)
    signed = sign_receipt(receipt, [RECEIVER_KEY]).to_json()
    with pytest.raises(VerificationError) as caught:
        verify_receipt(signed, [RECEIVER_KEY.public_key], **expectation)
    assert caught.value.code == "receipt_mismatch"


def test_receipt_signed_by_an_unknown_key(asw_key: SigningKey, other_key: SigningKey) -> None:
    _, receipt = submitted(asw_key)
    signed = sign_receipt(receipt, [other_key]).to_json()
    with pytest.raises(VerificationError) as caught:
        verify_receipt(signed, [RECEIVER_KEY.public_key])
    assert caught.value.code == "key_unknown"


def test_a_submission_is_not_a_receipt(asw_key: SigningKey) -> None:
    raw, _ = submitted(asw_key)
    with pytest.raises(VerificationError) as caught:
        verify_receipt(raw, [asw_key.public_key])
    assert caught.value.code == "payload_type_unsupported"


def test_received_at_is_normalised_to_utc_seconds() -> None:
    receipt = Receipt(
        receiver_id="rx",
        asw_id="a",
        referral_id=REFERRAL_ID,
        envelope_sha256="a" * 64,
        referral_digest="b" * 64,
        received_at=NOW.replace(microsecond=123),
        status=ReceiptStatus.ACCEPTED,
    )
    assert receipt.received_at == NOW
    assert Receipt.from_payload(receipt.to_payload()) == receipt


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "receiver_id": "rx",
        "asw_id": "a",
        "referral_id": REFERRAL_ID,
        "envelope_sha256": "a" * 64,
        "referral_digest": "b" * 64,
        "received_at": NOW,
        "status": ReceiptStatus.ACCEPTED,
    }
    fields.update(changes)
    return fields


@pytest.mark.parametrize(
    "changes",
    [
        {"receiver_id": ""},
        {"asw_id": ""},
        {"referral_id": REFERRAL_ID.upper()},
        {"envelope_sha256": "A" * 64},
        {"referral_digest": "b" * 63},
        {"received_at": datetime(2026, 1, 1)},
        {"status": "lost"},
        {"status": "duplicate"},  # no receiver issues it: a replay gets the original receipt
    ],
)
def test_receipt_constructor_refuses_bad_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Receipt(**_fields(**changes))


def _payload(**changes: Any) -> bytes:
    document = json.loads(Receipt(**_fields()).to_payload())
    for name, value in changes.items():
        if value is ...:
            del document[name]
        else:
            document[name] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        b"[]",
        _payload(receipt_version=2),
        _payload(receipt_version="1"),
        _payload(receipt_version=True),
        _payload(receipt_version=1.0),
        _payload(status="lost"),
        _payload(status="duplicate"),
        _payload(received_at="2026-11-23T17:02:00.000Z"),
        _payload(asw_id=1),
        _payload(referral_id=...),
        _payload(extra="x"),
    ],
)
def test_malformed_receipt_payloads(payload: bytes) -> None:
    with pytest.raises(VerificationError) as caught:
        Receipt.from_payload(payload)
    assert caught.value.code == "payload_malformed"


def test_malformed_receipt_inside_a_valid_signature() -> None:
    signed = sign_envelope(
        _payload(receipt_version=2),
        "application/vnd.strive.receipt.v1+json",
        [RECEIVER_KEY],
    )
    with pytest.raises(VerificationError) as caught:
        verify_receipt(signed, [RECEIVER_KEY.public_key])
    assert caught.value.code == "payload_malformed"
