"""The SDK's public names are pinned: adding or removing one is a deliberate change."""

from __future__ import annotations

import strive_client
from strive_client import StriveClientError

EXCEPTIONS = {
    "APIError", "AuthenticationFailed", "BadRequest", "ConnectionFailed", "DiscoveryInvalid",
    "NotFound", "PayloadTooLarge", "PermissionDenied", "RateLimited", "ReferralConflict",
    "ReferralInvalid", "ReferralRejected", "RequestTimeout", "SandboxViolation",
    "SchemaVersionUnsupported", "ServerError", "StriveClientError", "TransportError",
    "UnsupportedMediaType", "VerificationError",
}  # fmt: skip
OTHERS = {
    "AsyncStriveClient", "AttachmentUpload", "BatchItemResult", "Discovery", "Feedback", "InformationRequest",
    "InformationRequestPage", "PublicKey", "Receipt", "ReferralStatus", "RetryPolicy",
    "SigningKey", "StriveClient", "SubmissionResult", "sign_referral", "verify_envelope",
    "verify_receipt", "CheckpointStore", "FileCheckpointStore", "InclusionProof", "LogCode",
    "LogError", "MemoryCheckpointStore", "LogPin",
}  # fmt: skip


def test_the_exported_names_are_pinned() -> None:
    assert set(strive_client.__all__) == EXCEPTIONS | OTHERS
    for name in strive_client.__all__:
        assert getattr(strive_client, name) is not None


def test_every_sdk_exception_is_a_strive_client_error() -> None:
    for name in EXCEPTIONS:
        assert issubclass(getattr(strive_client, name), StriveClientError), name
