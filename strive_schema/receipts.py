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
from collections.abc import Sequence
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
from strive_schema.keys import PublicKey, SigningKey

__all__ = [
    "RECEIPT_VERSION",
    "Receipt",
    "ReceiptStatus",
    "build_receipt",
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


def verify_receipt(
    envelope: bytes | Envelope,
    receiver_keys: Sequence[PublicKey],
    *,
    expected_envelope_sha256: str | None = None,
    expected_asw_id: str | None = None,
    expected_referral_id: str | None = None,
    expected_receiver_id: str | None = None,
) -> Receipt:
    """Verify a signed receipt against the receiver's published keys (client side).

    Each ``expected_*`` argument that is given must equal the receipt's field.

    Raises:
        VerificationError: the codes of :func:`~strive_schema.envelope.verify_envelope`
            (with the receipt payload type), then ``payload_malformed``, then
            ``receipt_mismatch`` naming the first field that differs.
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
    return receipt
