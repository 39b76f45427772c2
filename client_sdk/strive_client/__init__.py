"""The Strive client SDK: build, sign and submit referrals to a law-enforcement receiver.

::

    from strive_client import StriveClient

    with StriveClient("https://receiver.example", asw_id="example-adverts",
                      key="keys/private_key.pem") as client:
        result = client.submit_referral(referral)      # a verified receipt
        status = client.get_referral_status(result.receipt.referral_id)

Offline helpers (no server needed): :func:`sign_referral` builds and signs an envelope,
:func:`verify_envelope` checks one against a set of public keys, :func:`verify_receipt`
checks a receipt.
"""

from strive_client._client import AsyncStriveClient, StriveClient
from strive_client._exceptions import (
    APIError,
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    DiscoveryInvalid,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ReferralConflict,
    ReferralInvalid,
    ReferralRejected,
    RequestTimeout,
    SandboxViolation,
    SchemaVersionUnsupported,
    ServerError,
    StriveClientError,
    TransportError,
    UnsupportedMediaType,
    VerificationError,
)
from strive_client._models import (
    AttachmentUpload,
    BatchItemResult,
    Discovery,
    Feedback,
    InformationRequest,
    InformationRequestPage,
    ReferralStatus,
    SubmissionResult,
)
from strive_client._offline import sign_referral, verify_envelope, verify_receipt
from strive_client._retry import RetryPolicy
from strive_client._tlog import (
    CheckpointStore,
    FileCheckpointStore,
    InclusionProof,
    LogPin,
    MemoryCheckpointStore,
)
from strive_schema.errors import LogCode, LogError
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.receipts import Receipt

__all__ = [
    "APIError",
    "AsyncStriveClient",
    "AttachmentUpload",
    "AuthenticationFailed",
    "BadRequest",
    "BatchItemResult",
    "CheckpointStore",
    "ConnectionFailed",
    "Discovery",
    "DiscoveryInvalid",
    "Feedback",
    "FileCheckpointStore",
    "InclusionProof",
    "InformationRequest",
    "InformationRequestPage",
    "LogCode",
    "LogError",
    "LogPin",
    "MemoryCheckpointStore",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PublicKey",
    "RateLimited",
    "Receipt",
    "ReferralConflict",
    "ReferralInvalid",
    "ReferralRejected",
    "ReferralStatus",
    "RequestTimeout",
    "RetryPolicy",
    "SandboxViolation",
    "SchemaVersionUnsupported",
    "ServerError",
    "SigningKey",
    "StriveClient",
    "StriveClientError",
    "SubmissionResult",
    "TransportError",
    "UnsupportedMediaType",
    "VerificationError",
    "sign_referral",
    "verify_envelope",
    "verify_receipt",
]
