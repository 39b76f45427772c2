"""Signed envelopes (DSSE v1) and the referral submission payload they carry.

The exact signed bytes are the unit of evidence: :func:`verify_envelope` checks the signature
over the payload bytes as received and hands those bytes back; nothing is re-serialised
before it is verified. The normative description is ``spec/protocol.md``.

Sender side::

    payload = build_submission(referral, asw_id="example-asw", audience="receiver.example",
                               issued_at=datetime.now(UTC))
    raw = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()

Receiver side (verify, then parse)::

    verified = verify_envelope(raw, registered_keys, payload_type=SUBMISSION_PAYLOAD_TYPE)
    submission = open_submission(verified.payload, audience="receiver.example",
                                 now=datetime.now(UTC), expected_asw_id="example-asw")

Every failed check raises :class:`~strive_schema.errors.VerificationError` with a stable
``code``; see each function for which codes it raises.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from strive_schema._internal import b64, strict_json, timestamps
from strive_schema.errors import ProtocolCode, VerificationError
from strive_schema.keys import PublicKey, SigningKey

__all__ = [
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
]

#: Media type of an ASW's referral submission payload.
SUBMISSION_PAYLOAD_TYPE = "application/vnd.strive.submission.v1+json"
#: Media type of a receiver's signed receipt payload.
RECEIPT_PAYLOAD_TYPE = "application/vnd.strive.receipt.v1+json"
#: An envelope carries at least one and at most this many signatures.
MAX_SIGNATURES = 4
#: A submission is stale when issued more than this long before the receiver's clock.
SUBMISSION_MAX_AGE = timedelta(seconds=900)
#: A submission is from the future when issued more than this long after the receiver's clock.
SUBMISSION_MAX_FUTURE = timedelta(seconds=300)

_ENVELOPE_MEMBERS = frozenset({"payloadType", "payload", "signatures"})
_SIGNATURE_MEMBERS = frozenset({"keyid", "sig"})
_SUBMISSION_MEMBERS = frozenset({"asw_id", "audience", "issued_at", "referral"})
_SIGNATURE_LENGTH = 64


def _fail(code: ProtocolCode, detail: str) -> VerificationError:
    return VerificationError(code, detail)


def _shorten(text: str, limit: int = 80) -> str:
    # Sender-controlled text in an error detail: quoted, escaped by repr, and bounded.
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 pre-authentication encoding, the exact bytes that are signed.

    ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, where LEN is
    the byte length in ASCII decimal without leading zeros and ``type`` is UTF-8 encoded.

    >>> pae("http://example.com/HelloWorld", b"hello world")
    b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True)
class EnvelopeSignature:
    """One signature of an envelope: the signer's key id (a hint) and 64 signature bytes.

    Raises:
        ValueError: from the constructor, if ``sig`` is not 64 bytes.
    """

    keyid: str
    sig: bytes

    def __post_init__(self) -> None:
        if len(self.sig) != _SIGNATURE_LENGTH:
            raise ValueError("an Ed25519 signature is 64 bytes")


@dataclass(frozen=True, repr=False)
class Envelope:
    """A DSSE v1 envelope: payload type, exact payload bytes and 1 to 4 signatures.

    ``repr()`` shows the payload type, the payload length and the key ids, never the payload.

    Raises:
        ValueError: from the constructor, if the payload type is empty or the number of
            signatures is not between 1 and :data:`MAX_SIGNATURES`.
    """

    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def __post_init__(self) -> None:
        if not self.payload_type:
            raise ValueError("the payload type must not be empty")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise ValueError(f"an envelope carries 1 to {MAX_SIGNATURES} signatures")

    def to_json(self) -> bytes:
        """Serialise as compact UTF-8 JSON with members payloadType, payload, signatures.

        The result is deterministic: the same envelope always gives the same bytes.
        """
        document = {
            "payloadType": self.payload_type,
            "payload": b64.std_encode(self.payload),
            "signatures": [
                {"keyid": signature.keyid, "sig": b64.std_encode(signature.sig)}
                for signature in self.signatures
            ],
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def pae(self) -> bytes:
        """The pre-authentication encoding of this envelope's type and payload."""
        return pae(self.payload_type, self.payload)

    def __repr__(self) -> str:
        key_ids = [signature.keyid for signature in self.signatures]
        return (
            f"Envelope(payload_type={self.payload_type!r}, "
            f"payload=<{len(self.payload)} bytes>, keyids={key_ids!r})"
        )


@dataclass(frozen=True, repr=False)
class VerifiedEnvelope:
    """The result of :func:`verify_envelope`.

    Attributes:
        payload_type: the (expected) payload type.
        payload: the exact payload bytes that were signed.
        key_id: the computed key id of the registered key that verified a signature.
        envelope: the parsed envelope.
    """

    payload_type: str
    payload: bytes
    key_id: str
    envelope: Envelope

    def __repr__(self) -> str:
        return (
            f"VerifiedEnvelope(payload_type={self.payload_type!r}, "
            f"payload=<{len(self.payload)} bytes>, key_id={self.key_id!r})"
        )


def sign_envelope(payload: bytes, payload_type: str, keys: Sequence[SigningKey]) -> Envelope:
    """Sign ``payload`` with every key in ``keys`` (one signature each, in order).

    Give two keys while rotating: receivers that know either key accept the envelope.

    Raises:
        ValueError: no keys, more than :data:`MAX_SIGNATURES` keys, or an empty payload type.
    """
    if not keys:
        raise ValueError("at least one signing key is needed")
    if len(keys) > MAX_SIGNATURES:
        raise ValueError(f"at most {MAX_SIGNATURES} signing keys")
    message = pae(payload_type, payload)
    signatures = tuple(EnvelopeSignature(key.key_id, key.sign(message)) for key in keys)
    return Envelope(payload_type, bytes(payload), signatures)


def parse_envelope(raw: bytes) -> Envelope:
    """Parse envelope JSON strictly, without verifying any signature.

    Raises:
        VerificationError: ``envelope_malformed`` (not strict UTF-8 JSON, duplicate member
            names, missing or unknown members, wrong member types, no signatures or more
            than four, payload not canonical base64); ``signature_malformed`` (a ``sig`` not
            canonical base64 or not 64 bytes).
    """
    try:
        document = strict_json.loads(raw)
    except strict_json.StrictJSONError as exc:
        raise _fail(
            ProtocolCode.ENVELOPE_MALFORMED, f"envelope is not strict JSON: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise _fail(ProtocolCode.ENVELOPE_MALFORMED, "envelope is not a JSON object")
    members = set(document)
    if members != _ENVELOPE_MEMBERS:
        missing = sorted(_ENVELOPE_MEMBERS - members)
        unknown = sorted(members - _ENVELOPE_MEMBERS)
        raise _fail(
            ProtocolCode.ENVELOPE_MALFORMED,
            f"envelope members wrong (missing {missing}, unknown {len(unknown)})",
        )
    payload_type = document["payloadType"]
    payload_text = document["payload"]
    signature_list = document["signatures"]
    if not isinstance(payload_type, str) or not payload_type:
        raise _fail(ProtocolCode.ENVELOPE_MALFORMED, "payloadType is not a non-empty string")
    if not isinstance(payload_text, str):
        raise _fail(ProtocolCode.ENVELOPE_MALFORMED, "payload is not a string")
    if not isinstance(signature_list, list):
        raise _fail(ProtocolCode.ENVELOPE_MALFORMED, "signatures is not an array")
    if not 1 <= len(signature_list) <= MAX_SIGNATURES:
        raise _fail(
            ProtocolCode.ENVELOPE_MALFORMED,
            f"envelope has {len(signature_list)} signatures; 1 to {MAX_SIGNATURES} are allowed",
        )
    encoded_signatures: list[tuple[str, str]] = []
    for entry in signature_list:
        if not isinstance(entry, dict) or set(entry) != _SIGNATURE_MEMBERS:
            raise _fail(
                ProtocolCode.ENVELOPE_MALFORMED,
                'each signature must be an object with exactly "keyid" and "sig"',
            )
        keyid, sig_text = entry["keyid"], entry["sig"]
        if not isinstance(keyid, str) or not isinstance(sig_text, str):
            raise _fail(ProtocolCode.ENVELOPE_MALFORMED, "keyid and sig must be strings")
        encoded_signatures.append((keyid, sig_text))
    try:
        payload = b64.std_decode(payload_text)
    except ValueError:
        raise _fail(
            ProtocolCode.ENVELOPE_MALFORMED, "payload is not canonical padded standard base64"
        ) from None
    signatures: list[EnvelopeSignature] = []
    for index, (keyid, sig_text) in enumerate(encoded_signatures):
        try:
            sig = b64.std_decode(sig_text)
        except ValueError:
            raise _fail(
                ProtocolCode.SIGNATURE_MALFORMED,
                f"signature {index} is not canonical padded standard base64",
            ) from None
        if len(sig) != _SIGNATURE_LENGTH:
            raise _fail(
                ProtocolCode.SIGNATURE_MALFORMED,
                f"signature {index} is {len(sig)} bytes; Ed25519 signatures are 64",
            )
        signatures.append(EnvelopeSignature(keyid, sig))
    return Envelope(payload_type, payload, tuple(signatures))


def verify_envelope(
    envelope: bytes | Envelope, keys: Sequence[PublicKey], *, payload_type: str
) -> VerifiedEnvelope:
    """Verify an envelope against the public keys registered to the claimed sender.

    The key id of each signature is a hint only: the key with that id is tried first, then
    every other registered key. The envelope verifies if any signature verifies under any
    registered key.

    Args:
        envelope: the raw envelope bytes as received, or an already parsed envelope.
        keys: the public keys registered to the claimed sender.
        payload_type: the payload type the caller expects.

    Returns:
        The exact signed payload bytes and the key id of the key that verified.

    Raises:
        VerificationError: the codes of :func:`parse_envelope`, then
            ``payload_type_unsupported`` (checked before any signature), then
            ``signature_invalid`` (a signature's key id names a registered key, but no
            signature verifies) or ``key_unknown`` (no key id names a registered key and no
            signature verifies under any of them).
    """
    parsed = envelope if isinstance(envelope, Envelope) else parse_envelope(envelope)
    if parsed.payload_type != payload_type:
        raise _fail(
            ProtocolCode.PAYLOAD_TYPE_UNSUPPORTED,
            f"payload type {_shorten(parsed.payload_type)} is not the expected {payload_type!r}",
        )
    message = parsed.pae()
    unique_keys = list({key.key_id: key for key in keys}.values())
    hinted = False
    for signature in parsed.signatures:
        named = [key for key in unique_keys if key.key_id == signature.keyid]
        hinted = hinted or bool(named)
        others = [key for key in unique_keys if key.key_id != signature.keyid]
        for key in named + others:
            if key.verify(signature.sig, message):
                return VerifiedEnvelope(parsed.payload_type, parsed.payload, key.key_id, parsed)
    if hinted:
        raise _fail(ProtocolCode.SIGNATURE_INVALID, "no signature verifies")
    raise _fail(
        ProtocolCode.KEY_UNKNOWN,
        "no signature was made by a key registered to the sender",
    )


# -- the submission payload ----------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """Write an aware datetime in the protocol's one timestamp form, ``YYYY-MM-DDTHH:MM:SSZ``
    (RFC 3339, UTC, whole seconds; sub-second digits are dropped).

    Raises:
        ValueError: ``moment`` is naive.
    """
    return timestamps.format_utc(moment)


def parse_timestamp(text: str) -> datetime:
    """Read a ``YYYY-MM-DDTHH:MM:SSZ`` timestamp into an aware UTC datetime.

    Raises:
        ValueError: any other form (offsets, fractions, lower-case ``t`` or ``z``).
    """
    return timestamps.parse_utc(text)


def referral_digest(referral: Mapping[str, object]) -> str:
    """Return the referral digest: lower-case hex SHA-256 of the RFC 8785 (JCS) form.

    Two submissions carry "the same referral" exactly when their digests are equal; the
    receiver's idempotency check compares them.

    Raises:
        ValueError: the referral cannot be canonicalised (a value that is not JSON, a
            non-finite number, or an integer outside the I-JSON range of +/-(2**53 - 1)).
    """
    canonical = strict_json.canonical(referral)
    return hashlib.sha256(canonical).hexdigest()


def _canonical_uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return value if str(parsed) == value else None


@dataclass(frozen=True, repr=False)
class Submission:
    """A parsed submission payload.

    Attributes:
        asw_id: the sending ASW's organisation id.
        audience: the receiver id the ASW addressed.
        issued_at: when the ASW signed it (aware, UTC).
        referral_id: ``referral.referral_id``, the ASW's idempotency key.
        referral: the referral document, as parsed JSON.
        referral_digest: see :func:`referral_digest`.
        payload: the exact payload bytes.

    ``repr()`` never shows the referral, which holds personal data.
    """

    asw_id: str
    audience: str
    issued_at: datetime
    referral_id: str
    referral: Mapping[str, object] = field(compare=False)
    referral_digest: str
    payload: bytes = field(compare=False)

    def __repr__(self) -> str:
        return (
            f"Submission(asw_id={self.asw_id!r}, audience={self.audience!r}, "
            f"issued_at={timestamps.format_utc(self.issued_at)!r}, "
            f"referral_id={self.referral_id!r}, referral_digest={self.referral_digest!r})"
        )


def build_submission(
    referral: Mapping[str, object], *, asw_id: str, audience: str, issued_at: datetime
) -> bytes:
    """Return the submission payload bytes for ``referral``: compact, sorted UTF-8 JSON.

    ``issued_at`` is written in whole seconds (sub-second digits are dropped).

    Raises:
        ValueError: ``asw_id`` or ``audience`` is empty, ``issued_at`` is naive, the
            referral has no canonical lower-case UUID ``referral_id``, or it cannot be
            serialised (NaN, infinity, integers beyond +/-(2**53 - 1)).
        TypeError: the referral holds a value JSON cannot represent.
    """
    if not asw_id:
        raise ValueError("asw_id must not be empty")
    if not audience:
        raise ValueError("audience must not be empty")
    if _canonical_uuid(referral.get("referral_id")) is None:
        raise ValueError("referral.referral_id must be a lower-case hyphenated UUID")
    referral_digest(referral)  # refuse now what a receiver would refuse later
    document = {
        "asw_id": asw_id,
        "audience": audience,
        "issued_at": timestamps.format_utc(issued_at),
        "referral": referral,
    }
    return strict_json.dumps_compact(document)


def parse_submission(payload: bytes) -> Submission:
    """Parse a submission payload without checking audience, sender or freshness.

    Use it to read an envelope verified long ago (evidence review); a receiver accepting a
    new submission uses :func:`open_submission`.

    Raises:
        VerificationError: ``payload_malformed`` - not strict UTF-8 JSON, not an object with
            exactly ``asw_id``, ``audience``, ``issued_at`` and ``referral``, a member of the
            wrong type, ``issued_at`` not of the form ``YYYY-MM-DDTHH:MM:SSZ``,
            ``referral.referral_id`` not a lower-case UUID, or a referral that cannot be
            canonicalised.
    """
    code = ProtocolCode.PAYLOAD_MALFORMED
    try:
        document = strict_json.loads(payload)
    except strict_json.StrictJSONError as exc:
        raise _fail(code, f"submission is not strict JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _fail(code, "submission is not a JSON object")
    members = set(document)
    if members != _SUBMISSION_MEMBERS:
        missing = sorted(_SUBMISSION_MEMBERS - members)
        raise _fail(
            code,
            f"submission members wrong (missing {missing}, "
            f"unknown {len(members - _SUBMISSION_MEMBERS)})",
        )
    asw_id, audience = document["asw_id"], document["audience"]
    issued_text, referral = document["issued_at"], document["referral"]
    if not isinstance(asw_id, str) or not asw_id:
        raise _fail(code, "asw_id is not a non-empty string")
    if not isinstance(audience, str) or not audience:
        raise _fail(code, "audience is not a non-empty string")
    if not isinstance(issued_text, str):
        raise _fail(code, "issued_at is not a string")
    try:
        issued_at = timestamps.parse_utc(issued_text)
    except ValueError as exc:
        raise _fail(code, f"issued_at: {exc}") from None
    if not isinstance(referral, dict):
        raise _fail(code, "referral is not a JSON object")
    referral_id = _canonical_uuid(referral.get("referral_id"))
    if referral_id is None:
        raise _fail(code, "referral.referral_id is not a lower-case hyphenated UUID")
    try:
        digest = referral_digest(referral)
    except ValueError as exc:
        raise _fail(code, str(exc)) from None
    return Submission(
        asw_id=asw_id,
        audience=audience,
        issued_at=issued_at,
        referral_id=referral_id,
        referral=referral,
        referral_digest=digest,
        payload=bytes(payload),
    )


def open_submission(
    payload: bytes,
    *,
    audience: str,
    now: datetime,
    expected_asw_id: str | None = None,
    max_age: timedelta | int = SUBMISSION_MAX_AGE,
    max_future: timedelta | int = SUBMISSION_MAX_FUTURE,
) -> Submission:
    """Parse a verified submission payload and apply the receiver's replay checks.

    Call it on :attr:`VerifiedEnvelope.payload`, never on unverified bytes. Accepts when
    ``now - max_age <= issued_at <= now + max_future`` (both ends inclusive).

    Args:
        payload: the verified payload bytes.
        audience: this receiver's id, as published in its discovery document.
        now: the receiver's clock (aware).
        expected_asw_id: the ASW whose registered key verified the envelope. Receivers
            must pass it; only offline tools that do not know the sender may omit it.
        max_age: the freshness window's past bound (default 900 s; an int is seconds).
        max_future: the tolerated clock skew into the future (default 300 s; an int is
            seconds).

    Raises:
        VerificationError: ``payload_malformed`` (see :func:`parse_submission`), then
            ``asw_mismatch``, ``audience_mismatch``, ``envelope_stale`` and
            ``envelope_from_future``, in that order.
        ValueError: ``now`` is naive.
    """
    clock = timestamps.require_aware(now, "now")
    past, future = timestamps.as_timedelta(max_age), timestamps.as_timedelta(max_future)
    submission = parse_submission(payload)
    if expected_asw_id is not None and submission.asw_id != expected_asw_id:
        raise _fail(
            ProtocolCode.ASW_MISMATCH,
            "the submission names a different ASW than the one whose key signed it",
        )
    if submission.audience != audience:
        raise _fail(ProtocolCode.AUDIENCE_MISMATCH, "the submission is addressed elsewhere")
    if submission.issued_at < clock - past:
        raise _fail(
            ProtocolCode.ENVELOPE_STALE,
            f"issued more than {int(past.total_seconds())} s ago; re-sign and resend",
        )
    if submission.issued_at > clock + future:
        raise _fail(
            ProtocolCode.ENVELOPE_FROM_FUTURE,
            f"issued more than {int(future.total_seconds())} s in the future; "
            "check the sender's clock",
        )
    return submission
