"""The public names of the protocol modules are pinned: removing one is a breaking change."""

from __future__ import annotations

import pytest

from strive_schema import envelope, errors, httpsig, key_validity, keys, receipts

EXPORTS = {
    errors: {
        "KeyFormatError",
        "LogCode",
        "LogError",
        "ProtocolCode",
        "SealedCode",
        "SealedPackageError",
        "StriveError",
        "VerificationError",
    },
    keys: {"JWK_ALGORITHM", "PublicKey", "SigningKey", "compute_key_id"},
    envelope: {
        "MAX_SIGNATURES",
        "RECEIPT_PAYLOAD_TYPE",
        "SUBMISSION_MAX_AGE",
        "SUBMISSION_MAX_FUTURE",
        "SUBMISSION_PAYLOAD_TYPE",
        "Envelope",
        "EnvelopeSignature",
        "Submission",
        "VerifiedEnvelope",
        "build_submission",
        "format_timestamp",
        "open_submission",
        "pae",
        "parse_envelope",
        "parse_submission",
        "parse_timestamp",
        "referral_digest",
        "sign_envelope",
        "verify_envelope",
    },
    receipts: {
        "RECEIPT_VERSION",
        "Receipt",
        "ReceiptCheck",
        "ReceiptStatus",
        "build_receipt",
        "check_receipt",
        "envelope_sha256",
        "sign_receipt",
        "verify_receipt",
    },
    key_validity: {"VALIDITY_MEMBERS", "KeyJudgement", "KeyRule", "KeyValidity", "judge_key"},
    httpsig: {
        "ALGORITHM",
        "COVERED_COMPONENTS",
        "LABEL",
        "REQUEST_MAX_AGE",
        "REQUEST_MAX_FUTURE",
        "TAG",
        "VerifiedRequest",
        "check_request_headers",
        "verify_request_headers",
        "content_digest",
        "sign_request",
        "signature_base",
        "verify_request",
    },
}


@pytest.mark.parametrize("module", list(EXPORTS), ids=lambda module: module.__name__)
def test_exported_names(module: object) -> None:
    assert set(module.__all__) == EXPORTS[module]  # type: ignore[attr-defined]
    for name in module.__all__:  # type: ignore[attr-defined]
        assert hasattr(module, name)


def test_protocol_codes_are_stable_strings() -> None:
    assert {code.value for code in errors.ProtocolCode} == {
        "envelope_malformed",
        "signature_malformed",
        "payload_type_unsupported",
        "key_unknown",
        "signature_invalid",
        "key_revoked",
        "key_retired",
        "key_expired",
        "key_not_yet_valid",
        "payload_malformed",
        "asw_mismatch",
        "audience_mismatch",
        "envelope_stale",
        "envelope_from_future",
        "receipt_mismatch",
        "request_signature_missing",
        "request_signature_malformed",
        "request_signature_stale",
        "request_signature_from_future",
        "content_digest_missing",
        "content_digest_mismatch",
        "nonce_replayed",
    }


def test_every_code_is_documented_in_the_spec() -> None:
    from _protocol_support import VECTORS

    spec = (VECTORS.parent / "errors.md").read_text(encoding="utf-8")  # the code registry
    for code in errors.ProtocolCode:
        assert f"| `{code.value}` |" in spec, code
