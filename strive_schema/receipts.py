"""Signed receipts: the receiver's proof that it received exactly one envelope.

A receipt names the envelope by the SHA-256 of its exact bytes and the referral by its id
and digest. It never holds personal data. See ``spec/protocol.md``, "Receipts".

Receiver side::

    receipt = build_receipt(receiver_id="receiver.example", envelope=raw,
                            submission=submission, received_at=datetime.now(UTC))
    signed = sign_receipt(receipt, [receiver_key]).to_json()

Client side::

    receipt = verify_receipt(signed, receiver_keys,
                             expected_envelope_sha256=envelope_sha256(raw))
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, unique
from typing import ClassVar

from strive_schema._internal import strict_json, timestamps
from strive_schema.envelope import (
    RECEIPT_PAYLOAD_TYPE,
    Envelope,
    Submission,
    sign_envelope,
    verify_envelope,
)
from strive_schema.errors import ProtocolCode, VerificationError
from strive_schema.key_validity import KeyJudgement, KeyRule, KeyValidity, judge_key
from strive_schema.keys import PublicKey, SigningKey

__all__ = [
    "RECEIPT_VERSION",
    "Receipt",
    "ReceiptCheck",
    "ReceiptStatus",
    "build_receipt",
    "check_receipt",
    "envelope_sha256",
    "sign_receipt",
    "verify_receipt",
]

#: The only receipt version this package writes and reads.
RECEIPT_VERSION = 1

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEMBERS = frozenset(
    {
        "receipt_version",
        "receiver_id",
        "asw_id",
        "referral_id",
        "envelope_sha256",
        "referral_digest",
        "received_at",
        "status",
    }
)


@unique
class ReceiptStatus(StrEnum):
    """What the receiver did with the envelope."""

    ACCEPTED = "accepted"
    """Stored. A replay is answered with the original receipt (spec/protocol.md section 11),
    so no other status is ever issued."""


def envelope_sha256(envelope: bytes) -> str:
    """Lower-case hex SHA-256 of the exact envelope bytes, as a receipt names them."""
    return hashlib.sha256(envelope).hexdigest()


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@dataclass(frozen=True)
class Receipt:
    """A receipt's fields. The constructor refuses values a receipt may not hold.

    ``received_at`` is normalised to UTC whole seconds, the precision written on the wire.

    Raises:
        ValueError: from the constructor - an empty id, a ``referral_id`` that is not a
            lower-case UUID, a digest that is not 64 lower-case hex digits, or a naive
            ``received_at``.
    """

    receiver_id: str
    asw_id: str
    referral_id: str
    envelope_sha256: str
    referral_digest: str
    received_at: datetime
    status: ReceiptStatus
    receipt_version: ClassVar[int] = RECEIPT_VERSION

    def __post_init__(self) -> None:
        if not self.receiver_id or not self.asw_id:
            raise ValueError("receiver_id and asw_id must not be empty")
        if not _is_uuid(self.referral_id):
            raise ValueError("referral_id must be a lower-case hyphenated UUID")
        for name in ("envelope_sha256", "referral_digest"):
            if _HEX64.fullmatch(getattr(self, name)) is None:
                raise ValueError(f"{name} must be 64 lower-case hex digits")
        moment = timestamps.require_aware(self.received_at, "received_at")
        object.__setattr__(self, "received_at", moment.replace(microsecond=0))
        object.__setattr__(self, "status", ReceiptStatus(self.status))

    def to_payload(self) -> bytes:
        """The receipt payload: compact UTF-8 JSON with sorted member names."""
        return strict_json.dumps_compact(
            {
                "asw_id": self.asw_id,
                "envelope_sha256": self.envelope_sha256,
                "received_at": timestamps.format_utc(self.received_at),
                "receipt_version": RECEIPT_VERSION,
                "receiver_id": self.receiver_id,
                "referral_digest": self.referral_digest,
                "referral_id": self.referral_id,
                "status": self.status.value,
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> Receipt:
        """Parse receipt payload bytes (already verified) strictly.

        Raises:
            VerificationError: ``payload_malformed`` - not strict JSON, members missing or
                unknown, ``receipt_version`` not the integer 1, or any field invalid.
        """
        code = ProtocolCode.PAYLOAD_MALFORMED
        try:
            document = strict_json.loads(payload)
        except strict_json.StrictJSONError as exc:
            raise VerificationError(code, f"receipt is not strict JSON: {exc}") from None
        if not isinstance(document, dict) or set(document) != _MEMBERS:
            raise VerificationError(code, "receipt members are wrong")
        version = document["receipt_version"]
        if type(version) is not int or version != RECEIPT_VERSION:
            raise VerificationError(code, "receipt_version is not 1")
        texts = {name: document[name] for name in _MEMBERS - {"receipt_version"}}
        for name, value in texts.items():
            if not isinstance(value, str):
                raise VerificationError(code, f"{name} is not a string")
        strings = {name: str(value) for name, value in texts.items()}
        try:
            received_at = timestamps.parse_utc(strings["received_at"])
            status = ReceiptStatus(strings["status"])
            return cls(
                receiver_id=strings["receiver_id"],
                asw_id=strings["asw_id"],
                referral_id=strings["referral_id"],
                envelope_sha256=strings["envelope_sha256"],
                referral_digest=strings["referral_digest"],
                received_at=received_at,
                status=status,
            )
        except ValueError as exc:
            raise VerificationError(code, f"receipt field invalid: {exc}") from None


def build_receipt(
    *,
    receiver_id: str,
    envelope: bytes,
    submission: Submission,
    received_at: datetime,
    status: ReceiptStatus = ReceiptStatus.ACCEPTED,
) -> Receipt:
    """Build the receipt for a verified submission (receiver side).

    Args:
        receiver_id: this receiver's id (the submission's audience).
        envelope: the exact envelope bytes as received.
        submission: the submission opened from that envelope.
        received_at: when the receiver stored it.
        status: ``accepted``, the only status (a replay gets the original receipt).

    Raises:
        ValueError: as for the :class:`Receipt` constructor.
    """
    return Receipt(
        receiver_id=receiver_id,
        asw_id=submission.asw_id,
        referral_id=submission.referral_id,
        envelope_sha256=envelope_sha256(envelope),
        referral_digest=submission.referral_digest,
        received_at=received_at,
        status=status,
    )


def sign_receipt(receipt: Receipt, keys: Sequence[SigningKey]) -> Envelope:
    """Sign a receipt with the receiver's key(s) into an envelope of the receipt media type.

    Raises:
        ValueError: no keys or more than four.
    """
    return sign_envelope(receipt.to_payload(), RECEIPT_PAYLOAD_TYPE, keys)


@dataclass(frozen=True)
class ReceiptCheck:
    """A verified receipt, the receipt key that signed it, and the key lifecycle rule that
    let it count (:func:`strive_schema.key_validity.judge_key`)."""

    receipt: Receipt
    key_id: str
    key_judgement: KeyJudgement


def check_receipt(
    envelope: bytes | Envelope,
    receiver_keys: Sequence[PublicKey],
    *,
    key_validity: Mapping[str, KeyValidity] | None = None,
    observed_at: datetime | None = None,
    expected_envelope_sha256: str | None = None,
    expected_asw_id: str | None = None,
    expected_referral_id: str | None = None,
    expected_receiver_id: str | None = None,
) -> ReceiptCheck:
    """Verify a signed receipt (as :func:`verify_receipt`) and judge its key's lifecycle.

    The key that signed must be valid at the receipt's ``received_at`` (spec/protocol.md,
    "Key lifecycle"): not before its ``not_before``, not after its ``not_after``, before its
    ``retired_at`` and before its ``compromised_at``. With ``observed_at`` (when the client
    got a fresh receipt, by its own clock) the key must be valid then too: a receipt key
    retired or revoked before the client saw the receipt cannot vouch for it, whatever
    ``received_at`` it claims (a thief of the key can backdate that). For a receipt kept
    from earlier, omit ``observed_at``; for a key revoked since, confirm the receipt's
    inclusion in the receiver's transparency log, which fixes when it was issued.

    Args:
        key_validity: each receipt key's lifecycle by key id, as published; a key not in it
            is judged valid at any time.

    Raises:
        VerificationError: as :func:`verify_receipt`; then ``key_revoked``, ``key_retired``,
            ``key_expired`` or ``key_not_yet_valid``, the detail naming the rule and times.
    """
    verified = verify_envelope(envelope, receiver_keys, payload_type=RECEIPT_PAYLOAD_TYPE)
    receipt = Receipt.from_payload(verified.payload)
    expectations = (
        ("envelope_sha256", expected_envelope_sha256, receipt.envelope_sha256),
        ("asw_id", expected_asw_id, receipt.asw_id),
        ("referral_id", expected_referral_id, receipt.referral_id),
        ("receiver_id", expected_receiver_id, receipt.receiver_id),
    )
    for name, expected, actual in expectations:
        if expected is not None and expected != actual:
            raise VerificationError(
                ProtocolCode.RECEIPT_MISMATCH, f"the receipt's {name} is not the expected one"
            )
    validity = (key_validity or {}).get(verified.key_id, KeyValidity())
    judgement = judge_key(validity, receipt.received_at)
    if observed_at is not None and judgement.valid:
        seen = judge_key(validity, observed_at)
        if not seen.valid and seen.rule is not KeyRule.NOT_YET_VALID:
            judgement = seen
    if judgement.code is not None:
        raise VerificationError(
            judgement.code,
            f"the receipt key {judgement.explanation} "
            f"(judged at {timestamps.format_utc(judgement.at)})",
        )
    return ReceiptCheck(receipt, verified.key_id, judgement)


def verify_receipt(
    envelope: bytes | Envelope,
    receiver_keys: Sequence[PublicKey],
    *,
    key_validity: Mapping[str, KeyValidity] | None = None,
    observed_at: datetime | None = None,
    expected_envelope_sha256: str | None = None,
    expected_asw_id: str | None = None,
    expected_referral_id: str | None = None,
    expected_receiver_id: str | None = None,
) -> Receipt:
    """Verify a signed receipt against the receiver's published keys (client side).

    Each ``expected_*`` argument that is given must equal the receipt's field;
    ``key_validity`` and ``observed_at`` are as for :func:`check_receipt`.

    Raises:
        VerificationError: the codes of :func:`~strive_schema.envelope.verify_envelope`
            (with the receipt payload type), then ``payload_malformed``, then
            ``receipt_mismatch`` naming the first field that differs, then the key lifecycle
            codes of :func:`check_receipt`.
    """
    return check_receipt(
        envelope, receiver_keys, key_validity=key_validity, observed_at=observed_at,
        expected_envelope_sha256=expected_envelope_sha256, expected_asw_id=expected_asw_id,
        expected_referral_id=expected_referral_id, expected_receiver_id=expected_receiver_id,
    ).receipt  # fmt: skip
