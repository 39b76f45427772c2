"""Exceptions and stable error codes of the Strive standard package.

The tree::

    StriveError                  root of every error raised by strive_schema
    ├── KeyFormatError           a key could not be read or is not an Ed25519 key
    ├── VerificationError        a signed envelope, receipt or request did not verify;
    │                            carries .code (a ProtocolCode) and .detail
    ├── SealedPackageError       a sealed package could not be opened; carries .code (a
    │                            SealedCode) and .detail
    └── LogError                 a transparency-log checkpoint, proof, tile or cosignature
                                 was refused; carries .code (a LogCode) and .detail

Codes are stable strings: clients, servers and the specification (``spec/protocol.md``,
"Error codes") refer to them by value, so a member is never renamed or reused.
"""

from __future__ import annotations

from enum import StrEnum, unique

__all__ = [
    "KeyFormatError",
    "LogCode",
    "LogError",
    "ProtocolCode",
    "SealedCode",
    "SealedPackageError",
    "StriveError",
    "VerificationError",
]


class StriveError(Exception):
    """Root of every exception raised by the ``strive_schema`` package."""


@unique
class ProtocolCode(StrEnum):
    """Stable codes for signed envelopes, receipts and signed HTTP requests.

    The value is what appears on the wire (problem documents, CLI output); each is defined
    in ``spec/protocol.md``.
    """

    # The envelope (spec/protocol.md, "Verifying an envelope").
    ENVELOPE_MALFORMED = "envelope_malformed"
    SIGNATURE_MALFORMED = "signature_malformed"
    PAYLOAD_TYPE_UNSUPPORTED = "payload_type_unsupported"
    KEY_UNKNOWN = "key_unknown"
    SIGNATURE_INVALID = "signature_invalid"
    # The key's lifecycle (spec/protocol.md, "Key lifecycle"), judged at the trusted time of
    # receipt by strive_schema.key_validity for whoever knows the key's validity.
    KEY_REVOKED = "key_revoked"
    KEY_RETIRED = "key_retired"
    KEY_EXPIRED = "key_expired"
    KEY_NOT_YET_VALID = "key_not_yet_valid"
    # The submission payload.
    PAYLOAD_MALFORMED = "payload_malformed"
    ASW_MISMATCH = "asw_mismatch"
    AUDIENCE_MISMATCH = "audience_mismatch"
    ENVELOPE_STALE = "envelope_stale"
    ENVELOPE_FROM_FUTURE = "envelope_from_future"
    # Receipts.
    RECEIPT_MISMATCH = "receipt_mismatch"
    # Signed HTTP requests (RFC 9421 / RFC 9530).
    REQUEST_SIGNATURE_MISSING = "request_signature_missing"
    REQUEST_SIGNATURE_MALFORMED = "request_signature_malformed"
    REQUEST_SIGNATURE_STALE = "request_signature_stale"
    REQUEST_SIGNATURE_FROM_FUTURE = "request_signature_from_future"
    CONTENT_DIGEST_MISSING = "content_digest_missing"
    CONTENT_DIGEST_MISMATCH = "content_digest_mismatch"
    # Raised by the receiver's nonce store, not by this package; listed so the code is
    # defined in one place.
    NONCE_REPLAYED = "nonce_replayed"


class KeyFormatError(StriveError, ValueError):
    """A key could not be read, or it is not an Ed25519 key of the expected kind.

    The message names the problem (wrong algorithm, wrong passphrase, bad JWK member) and
    never contains key material.
    """


class VerificationError(StriveError):
    """A signature, envelope, submission, receipt or signed request did not verify.

    Attributes:
        code: the stable :class:`ProtocolCode` naming the first check that failed.
        detail: a short human-readable explanation. It never contains key material or
            payload content, so it is safe to log and to return to the sender.
    """

    code: ProtocolCode
    detail: str

    def __init__(self, code: ProtocolCode, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code.value}: {self.detail}"

    def __repr__(self) -> str:
        return f"VerificationError(code={self.code.value!r}, detail={self.detail!r})"


@unique
class SealedCode(StrEnum):
    """Stable codes for opening a sealed package (``spec/sealed-package.md``, "Errors")."""

    SEALED_MALFORMED = "sealed_malformed"
    """Not a sealed file: not strict JSON, members missing or unknown, bad base64, or a
    ciphertext too short to hold the encapsulated key and a tag (a truncated file)."""
    SEALED_SUITE_UNSUPPORTED = "sealed_suite_unsupported"
    """The header names a suite this implementation does not know."""
    SEALED_SUITE_MISMATCH = "sealed_suite_mismatch"
    """The header's algorithm ids do not match its suite, or the key given has no part
    for the suite (a classical-only key for a post-quantum package)."""
    SEALED_RECIPIENT_MISMATCH = "sealed_recipient_mismatch"
    """Sealed to another key or addressed to another recipient: the wrong key was given."""
    SEALED_DECRYPT_FAILED = "sealed_decrypt_failed"
    """HPKE open failed: the ciphertext or the header was changed."""
    SEALED_SIGNATURE_INVALID = "sealed_signature_invalid"
    """The package inside is not signed by the receiver's key."""
    SEALED_CONTENT_MALFORMED = "sealed_content_malformed"
    """The signed package is not a valid package manifest, or a file's digest differs."""


class SealedPackageError(StriveError):
    """A sealed package could not be opened.

    Attributes:
        code: the stable :class:`SealedCode` naming the first check that failed.
        detail: a short explanation; never key material or package content.
    """

    code: SealedCode
    detail: str

    def __init__(self, code: SealedCode, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code.value}: {self.detail}"

    def __repr__(self) -> str:
        return f"SealedPackageError(code={self.code.value!r}, detail={self.detail!r})"


@unique
class LogCode(StrEnum):
    """Stable codes for refusing what a transparency log serves (``spec/transparency-log.md``,
    "Errors"); the SDK, the ``strive log`` commands and the receiver use the same values."""

    CHECKPOINT_MALFORMED = "log_checkpoint_malformed"
    """Not a signed note holding a checkpoint (origin, size, base64 root hash)."""
    CHECKPOINT_SIGNATURE_INVALID = "log_checkpoint_signature_invalid"
    """No valid signature by the log's key, or a signature by a known key fails."""
    ORIGIN_MISMATCH = "log_origin_mismatch"
    """The checkpoint names another log."""
    INCLUSION_PROOF_INVALID = "log_inclusion_proof_invalid"
    """The inclusion proof does not lead from the entry to the checkpoint's root."""
    CONSISTENCY_FAILED = "log_consistency_failed"
    """The newer checkpoint does not extend the older one: the log forked."""
    ROLLBACK = "log_rollback"
    """The log served a checkpoint smaller than one already seen."""
    TILE_MISMATCH = "log_tile_mismatch"
    """A tile or entry bundle has the wrong size or does not hash to the checkpoint."""
    COSIGNER_UNKNOWN = "log_cosigner_unknown"
    """A cosignature from a witness this party does not know."""
    COSIGNATURE_INVALID = "log_cosignature_invalid"
    """A cosignature from a known witness that does not verify, or too few cosignatures."""
    ENTRY_UNKNOWN = "log_entry_unknown"
    """The log holds no entry with this leaf hash (yet)."""
    CHECKPOINT_UNKNOWN = "log_checkpoint_unknown"
    """A cosignature for a checkpoint this log never signed."""
    PROMISE_INVALID = "log_promise_invalid"
    """An inclusion promise that is malformed, not signed by the log, or for another entry."""
    PROMISE_BROKEN = "log_promise_broken"
    """The entry is not in the log after the time the log's signed promise named."""
    KEY_CHANGED = "log_key_changed"
    """The receiver's log key or origin differs from the one pinned for it on first use."""


class LogError(StriveError):
    """A transparency-log checkpoint, proof, tile or cosignature was refused.

    Attributes:
        code: the stable :class:`LogCode`.
        detail: a short explanation; never entry content.
    """

    code: LogCode
    detail: str

    def __init__(self, code: LogCode, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code.value}: {self.detail}"

    def __repr__(self) -> str:
        return f"LogError(code={self.code.value!r}, detail={self.detail!r})"
