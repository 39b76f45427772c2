"""What the receiver returns, as typed models.

The SDK reads responses tolerantly: members it does not know are ignored, so a receiver can
add members without breaking deployed clients (the referral schema itself is strict).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from strive_schema.key_validity import KeyJudgement
from strive_schema.receipts import Receipt

__all__ = [
    "AttachmentUpload",
    "BatchItemResult",
    "Discovery",
    "DiscoveryLimits",
    "Feedback",
    "InformationRequest",
    "InformationRequestPage",
    "JwkSet",
    "ReferralStatus",
    "SubmissionResult",
]


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DiscoveryLimits(_Response):
    """What the receiver accepts (spec/api.md, "Discovery"); a limit it does not publish is
    ``None``."""

    max_envelope_bytes: int | None = None
    max_batch_items: int | None = None
    max_batch_bytes: int | None = None
    submissions_per_minute: int | None = None
    envelope_max_age_seconds: int | None = None
    envelope_max_future_seconds: int | None = None
    request_max_age_seconds: int | None = None
    request_max_future_seconds: int | None = None


class JwkSet(_Response):
    """A JWK Set (RFC 7517 section 5): the receiver's receipt-signing public keys."""

    keys: list[dict[str, Any]]


class DiscoveryLog(_Response):
    """The receiver's transparency log: its origin, checkpoint key and witnesses."""

    origin: str
    vkey: str
    prefix: str = "/v1/log"
    max_merge_delay_seconds: int | None = None
    witnesses: list[str] = Field(default_factory=list)


class Discovery(_Response):
    """The receiver's discovery document, ``/.well-known/strive-configuration``."""

    receiver_id: str = Field(min_length=1)
    """The audience ASWs must name in their submissions."""
    origin: str | None = None
    """The scheme, host and port the receiver verifies signed requests against."""
    supported_schema_versions: list[str] = Field(min_length=1)
    """The referral schema versions the receiver accepts; the client sends no other."""
    taxonomy_version: str | None = None
    limits: DiscoveryLimits = Field(default_factory=DiscoveryLimits)
    endpoints: dict[str, str] = Field(default_factory=dict)
    """Informative: the paths are fixed by the specification, and the client uses those."""
    jwks: JwkSet
    """The receiver's public signing keys (receipts), as a JWK Set."""
    log: DiscoveryLog | None = None
    """The transparency log, when the receiver runs one."""


class SubmissionResult(_Response):
    """A referral the receiver acknowledged, with its verified receipt."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="ignore", frozen=True)

    receipt: Receipt
    """The verified receipt: what the receiver signed."""
    receipt_envelope: bytes
    """The signed receipt envelope, exactly as received (the UTF-8 bytes of the response's
    ``receipt_envelope`` string): keep these bytes as proof of delivery."""
    replayed: bool
    """``True`` when the receiver already had this referral and returned the original
    receipt (a retry or a re-send); nothing was stored twice."""
    log_promise: str | None = None
    """The transparency log's signed promise to include the receipt by a stated time
    (``verify_inclusion`` checks it); keep it with the receipt."""
    receipt_key: KeyJudgement | None = None
    """Which key lifecycle rule let the receipt key vouch for the receipt (``rule``,
    ``explanation``: "valid: signed before the key's retirement at ..."), judged at the
    receipt's ``received_at`` and, for a fresh receipt, at the time it arrived."""


class BatchItemResult(_Response):
    """The outcome of one item of a batch submission."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="ignore", frozen=True)

    index: int
    referral_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    result: SubmissionResult | None = None
    """Set for accepted and duplicate items."""
    problem: dict[str, Any] | None = None
    """The RFC 9457 problem document of a rejected item."""


class Feedback(_Response):
    """Outcome feedback an analyst released to the ASW."""

    created_at: datetime
    message: str
    outcome: str | None = None


class ReferralStatus(_Response):
    """Where a referral is in the receiver's lifecycle, as the ASW may see it."""

    referral_id: str
    state: str
    received_at: datetime
    updated_at: datetime
    outcome: str | None = None
    feedback: list[Feedback] = Field(default_factory=list)
    attachments_received: list[str] = Field(default_factory=list)
    """Ids of the declared evidence files the receiver holds; upload the others."""


class InformationRequest(_Response):
    """A law-enforcement request for further information about a referral."""

    id: str
    referral_id: str
    created_at: datetime
    question: str
    state: str
    due_by: datetime | None = None
    answer_referral_id: str | None = None
    """The referral that answered it, once answered."""


class InformationRequestPage(_Response):
    """One page of requests for information, with the cursor of the next page."""

    items: list[InformationRequest]
    next_cursor: str | None = None


class AttachmentUpload(_Response):
    """An evidence file the receiver holds, verified against the referral's declaration."""

    referral_id: str
    attachment_id: str
    sha256: str
    size_bytes: int
    media_type: str
    received_at: datetime
    replayed: bool
    """``True`` when the receiver already had this file (a retry or a re-send)."""
