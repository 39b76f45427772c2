"""Stable codes for validation findings.

These strings are part of the standard (``spec/errors.md``): tools match on them, so a code is
never renamed or reused. Add new ones; retire old ones only in a major version.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SCHEMA_CODES", "SEMANTIC_CODES", "WARNING_CODES", "ProblemCode", "ValidationCode"]


class ValidationCode(StrEnum):
    """Every code the validator can report, with its kind."""

    # Reading the document (before any schema check).
    EMPTY_DOCUMENT = "empty_document"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    DUPLICATE_KEY = "duplicate_key"
    TOO_DEEP = "too_deep"
    TOO_LARGE = "too_large"
    NOT_AN_OBJECT = "not_an_object"
    LONE_SURROGATE = "lone_surrogate"

    # What the published JSON Schema rejects (kind "schema").
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    INVALID_FORMAT = "invalid_format"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    OUT_OF_RANGE = "out_of_range"
    INVALID_EXTENSION_NAME = "invalid_extension_name"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    NUL_CHARACTER = "nul_character"

    # Documented semantic rules (kind "semantic"), errors.
    DUPLICATE_LOCAL_ID = "duplicate_local_id"
    UNKNOWN_REFERENCE = "unknown_reference"
    REFERENCE_WRONG_KIND = "reference_wrong_kind"
    SELF_REFERENCE = "self_reference"
    CREATED_IN_FUTURE = "created_in_future"
    TIME_ORDER = "time_order"
    UNKNOWN_INDICATOR = "unknown_indicator"
    CARD_NUMBER_FORBIDDEN = "card_number_forbidden"
    MEMBER_NEWER_THAN_VERSION = "member_newer_than_version"

    # Documented semantic rules, warnings: the document is still valid.
    PHONE_UNPARSEABLE = "phone_unparseable"
    PHONE_E164_MISMATCH = "phone_e164_mismatch"
    PHONE_E164_INVALID = "phone_e164_invalid"
    INDICATOR_FROM_NEWER_TAXONOMY = "indicator_from_newer_taxonomy"
    EMAIL_UNPARSEABLE = "email_unparseable"
    ADVERTISED_AGE_UNDER_18 = "advertised_age_under_18"
    IMAGE_HASH_LENGTH_UNEXPECTED = "image_hash_length_unexpected"
    INDICATOR_WITHOUT_EVIDENCE = "indicator_without_evidence"
    DEPRECATED_FIELD = "deprecated_field"


READ_CODES = frozenset(
    {
        ValidationCode.EMPTY_DOCUMENT,
        ValidationCode.INVALID_UTF8,
        ValidationCode.INVALID_JSON,
        ValidationCode.DUPLICATE_KEY,
        ValidationCode.TOO_DEEP,
        ValidationCode.TOO_LARGE,
        ValidationCode.NOT_AN_OBJECT,
        ValidationCode.LONE_SURROGATE,
    }
)
SCHEMA_CODES = frozenset(
    {
        ValidationCode.MISSING_FIELD,
        ValidationCode.UNKNOWN_FIELD,
        ValidationCode.WRONG_TYPE,
        ValidationCode.INVALID_VALUE,
        ValidationCode.INVALID_FORMAT,
        ValidationCode.TOO_SHORT,
        ValidationCode.TOO_LONG,
        ValidationCode.OUT_OF_RANGE,
        ValidationCode.INVALID_EXTENSION_NAME,
        ValidationCode.UNSUPPORTED_SCHEMA_VERSION,
        ValidationCode.NUL_CHARACTER,
    }
)
SEMANTIC_CODES = frozenset(
    {
        ValidationCode.DUPLICATE_LOCAL_ID,
        ValidationCode.UNKNOWN_REFERENCE,
        ValidationCode.REFERENCE_WRONG_KIND,
        ValidationCode.SELF_REFERENCE,
        ValidationCode.CREATED_IN_FUTURE,
        ValidationCode.TIME_ORDER,
        ValidationCode.UNKNOWN_INDICATOR,
        ValidationCode.CARD_NUMBER_FORBIDDEN,
        ValidationCode.MEMBER_NEWER_THAN_VERSION,
    }
)
WARNING_CODES = frozenset(
    {
        ValidationCode.PHONE_UNPARSEABLE,
        ValidationCode.PHONE_E164_MISMATCH,
        ValidationCode.PHONE_E164_INVALID,
        ValidationCode.INDICATOR_FROM_NEWER_TAXONOMY,
        ValidationCode.EMAIL_UNPARSEABLE,
        ValidationCode.ADVERTISED_AGE_UNDER_18,
        ValidationCode.IMAGE_HASH_LENGTH_UNEXPECTED,
        ValidationCode.INDICATOR_WITHOUT_EVIDENCE,
        ValidationCode.DEPRECATED_FIELD,
    }
)


class ProblemCode(StrEnum):
    """Stable ``code`` members of the receiver's RFC 9457 problem documents.

    Signature and freshness failures use the ``ProtocolCode`` values of
    ``strive_schema.errors`` as their problem code; validation findings appear inside the
    ``errors`` array of ``referral_invalid``. See ``spec/errors.md``.
    """

    REQUEST_MALFORMED = "request_malformed"
    REQUEST_INVALID = "request_invalid"
    BODY_TOO_LARGE = "body_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    AUTHENTICATION_REQUIRED = "authentication_required"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - an error code, not a secret
    KEY_REVOKED = "key_revoked"
    # The other key lifecycle refusals (spec/protocol.md section 9.1; also ProtocolCode).
    KEY_RETIRED = "key_retired"
    KEY_EXPIRED = "key_expired"
    KEY_NOT_YET_VALID = "key_not_yet_valid"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    REFERRAL_INVALID = "referral_invalid"
    REFERRAL_CONFLICT = "referral_conflict"
    REFERRAL_AMBIGUOUS = "referral_ambiguous"
    SUPPLEMENTED_REFERRAL_UNKNOWN = "supplemented_referral_unknown"
    INFORMATION_REQUEST_UNKNOWN = "information_request_unknown"
    TRANSITION_INVALID = "transition_invalid"
    OUTCOME_REQUIRED = "outcome_required"
    CONFLICT = "conflict"
    INTERNAL_ERROR = "internal_error"
    APPROVAL_BY_REQUESTER = "approval_by_requester"
    APPROVAL_EXPIRED = "approval_expired"
    APPROVAL_CLOSED = "approval_closed"
    APPROVAL_NOT_REQUESTER = "approval_not_requester"
    APPROVAL_COLLECTED = "approval_collected"
    ASSESSMENT_REQUIRED = "assessment_required"
    RECIPIENT_UNKNOWN = "recipient_unknown"
    RECIPIENT_REVOKED = "recipient_revoked"
    SANDBOX_REFERRAL = "sandbox_referral"
    OUTCOME_NOT_DISSEMINATED = "outcome_not_disseminated"
    REVIEW_NOT_DUE = "review_not_due"
    REQUEST_TIMEOUT = "request_timeout"
    SERVICE_UNAVAILABLE = "service_unavailable"
    # Evidence files (spec/evidence-files.md).
    ATTACHMENT_NOT_DECLARED = "attachment_not_declared"
    ATTACHMENT_DIGEST_MISMATCH = "attachment_digest_mismatch"
    ATTACHMENT_SIZE_MISMATCH = "attachment_size_mismatch"
    ATTACHMENT_TYPE_MISMATCH = "attachment_type_mismatch"
    ATTACHMENT_INCOMPLETE = "attachment_incomplete"
    ATTACHMENT_NOT_RECEIVED = "attachment_not_received"
    IMAGE_TOO_LARGE = "image_too_large"
    SANDBOX_LIMIT_EXCEEDED = "sandbox_limit_exceeded"
    CHILD_IMAGE_REFUSED = "child_image_refused"
    ATTACHMENT_QUARANTINED = "attachment_quarantined"
    REASON_REQUIRED = "reason_required"
