"""Examples for the OpenAPI document: a signed submission, its receipt, a batch and refusals.

They are made here, by the same code that signs and verifies, with the TEST-ONLY vector keys
(``strive_schema._vectors``) and a fixed clock, so they are real signatures that verify and
the document regenerates byte for byte. Nothing signed with these keys proves anything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from strive_schema._vectors import vector_key
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    parse_submission,
    sign_envelope,
)
from strive_schema.receipts import Receipt, ReceiptStatus, envelope_sha256, sign_receipt

__all__ = ["EXAMPLE_REFERRAL", "batch_example", "submission_examples"]

_ASW: Final = "example-adverts"
_RECEIVER: Final = "receiver.example"
_ISSUED_AT: Final = datetime(2026, 11, 23, 17, 0, 0, tzinfo=UTC)
_RECEIVED_AT: Final = datetime(2026, 11, 23, 17, 0, 2, tzinfo=UTC)

EXAMPLE_REFERRAL: Final[dict[str, Any]] = {
    "schema_version": "1.0",
    "referral_id": "0b6f3f1e-7c2a-4d4e-9a51-2f0c8d7e1a01",
    "created_at": "2026-11-23T16:55:00Z",
    "is_test": True,
    "reporter": {
        "organisation_id": _ASW,
        "platform_name": "Example Adverts",
        "safeguarding_contact": {"name": "Safeguarding Team", "email": "safeguarding@example.com"},
        "case_reference": "SANDBOX-0001",
    },
    "urgency": {"level": "routine"},
    "source": "staff_review",
    "narrative": "Sandbox test referral: no real person is concerned; do not act on it.",
    "indicators": [{"code": "third_person_advert_text", "risk": "low"}],
    "handling": {
        "protective_marking": "OFFICIAL-SENSITIVE",
        "lawful_basis": {"code": "uk_gdpr_6_1_f_legitimate_interests"},
        "declaration": {
            "submitted_by": "Test Integrator",
            "role": "Developer",
            "accurate_to_best_of_knowledge": True,
        },
    },
}
"""A sandbox referral (``is_test``): the one the submission examples carry."""


@cache
def _signed() -> tuple[bytes, bytes, dict[str, Any]]:
    """The example envelope's bytes, its receipt envelope's bytes and the readable receipt."""
    payload = build_submission(
        EXAMPLE_REFERRAL, asw_id=_ASW, audience=_RECEIVER, issued_at=_ISSUED_AT
    )
    envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [vector_key("asw-key-1")])
    raw = envelope.to_json()
    receipt = Receipt(
        receiver_id=_RECEIVER,
        asw_id=_ASW,
        referral_id=str(EXAMPLE_REFERRAL["referral_id"]),
        envelope_sha256=envelope_sha256(raw),
        referral_digest=parse_submission(payload).referral_digest,
        received_at=_RECEIVED_AT,
        status=ReceiptStatus.ACCEPTED,
    )
    signed = sign_receipt(receipt, [vector_key("receiver-key")])
    return raw, signed.to_json(), json.loads(signed.payload)


def submission_examples() -> dict[str, Any]:
    """``{"envelope": ..., "response": ...}``: a signed submission and the receiver's answer."""
    raw, receipt_envelope, receipt = _signed()
    return {
        "envelope": json.loads(raw),
        "response": {
            "receipt": receipt,
            "receipt_envelope": receipt_envelope.decode("utf-8"),
            "replayed": False,
        },
    }


def batch_example() -> dict[str, Any]:
    """A batch answer: the example accepted, and a second line refused with its problem."""
    answer = submission_examples()["response"]
    return {
        "results": [
            {
                "index": 0,
                "status": "accepted",
                "referral_id": EXAMPLE_REFERRAL["referral_id"],
                **answer,
            },
            {
                "index": 1,
                "status": "rejected",
                "problem": {
                    "type": "urn:strive:problem:referral_invalid",
                    "title": "Unprocessable content",
                    "status": 422,
                    "detail": "the referral has 1 error",
                    "code": "referral_invalid",
                    "errors": [
                        {
                            "pointer": "/indicators/0/code",
                            "code": "unknown_indicator",
                            "message": "not an indicator of the taxonomy",
                            "kind": "semantic",
                        }
                    ],
                },
            },
        ]
    }
