"""Offline helpers: sign and verify without a server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from strive_client._exceptions import ReferralInvalid, VerificationError
from strive_schema import errors as schema_errors
from strive_schema import receipts
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    Submission,
    build_submission,
    parse_submission,
    sign_envelope,
)
from strive_schema.envelope import verify_envelope as _verify_envelope
from strive_schema.key_validity import KeyValidity
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.receipts import Receipt
from strive_schema.validator import validate_document

__all__ = ["sign_referral", "verify_envelope", "verify_receipt"]


def sign_referral(
    referral: dict[str, object],
    *,
    key: SigningKey | Sequence[SigningKey],
    asw_id: str,
    audience: str,
    issued_at: datetime | None = None,
    validate: bool = True,
) -> bytes:
    """Wrap a referral document in a submission and return the signed envelope bytes.

    Give two keys while rotating, so receivers that know either accept it.

    Raises:
        ReferralInvalid: ``validate`` is on and the referral is invalid.
        ValueError: as for ``strive_schema.envelope.build_submission``.
    """
    if validate:
        result = validate_document(referral)
        if not result.valid:
            raise ReferralInvalid(result.errors)
    keys = [key] if isinstance(key, SigningKey) else list(key)
    payload = build_submission(
        referral,
        asw_id=asw_id,
        audience=audience,
        issued_at=issued_at or datetime.now(UTC).replace(microsecond=0),
    )
    return sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, keys).to_json()


def verify_envelope(envelope: bytes, keys: Sequence[PublicKey]) -> Submission:
    """Verify a submission envelope against an ASW's public keys, then parse it.

    Freshness and audience are not checked (this is for reviewing an envelope at any time
    later); the receiver checks those on arrival.

    Raises:
        VerificationError: with the stable code of the first check that failed.
    """
    try:
        verified = _verify_envelope(envelope, keys, payload_type=SUBMISSION_PAYLOAD_TYPE)
        return parse_submission(verified.payload)
    except schema_errors.VerificationError as exc:
        raise VerificationError(exc.code, exc.detail) from None


def verify_receipt(
    envelope: bytes,
    receiver_keys: Sequence[PublicKey],
    *,
    sent_envelope: bytes | None = None,
    key_validity: Mapping[str, KeyValidity] | None = None,
) -> Receipt:
    """Verify a receipt against the receiver's keys; with ``sent_envelope``, also check that
    it acknowledges exactly those bytes. With ``key_validity`` (each receipt key's published
    lifecycle, by key id), the signing key must also be valid at the receipt's
    ``received_at`` (spec/protocol.md 9.1): a receipt kept from before a key was retired or
    revoked stays valid, one dated after does not.

    Raises:
        VerificationError: with the stable code of the first check that failed.
    """
    expected = receipts.envelope_sha256(sent_envelope) if sent_envelope is not None else None
    try:
        return receipts.verify_receipt(
            envelope, receiver_keys, key_validity=key_validity, expected_envelope_sha256=expected
        )
    except schema_errors.VerificationError as exc:
        raise VerificationError(exc.code, exc.detail) from None
