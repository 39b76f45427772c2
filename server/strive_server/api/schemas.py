"""Request and response bodies of the API, as published in spec/openapi.json."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import fastapi.encoders
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from strive_schema.envelope import format_timestamp
from strive_schema.models import ProtectiveMarking, UrgencyLevel
from strive_server.services.lifecycle import State

__all__ = [
    "ApiTimestamp",
    "AssignmentCreate",
    "AswCreate",
    "AswKeyCreate",
    "AttachmentReceipt",
    "AttachmentSummary",
    "Discovery",
    "DiscoveryEndpoints",
    "DiscoveryLimits",
    "FeedbackCreate",
    "InformationRequestCreate",
    "InformationRequestView",
    "JsonObject",
    "JwkSet",
    "PriorityFactor",
    "ReferralView",
    "SubmissionResponse",
    "TokenCreate",
    "TransitionCreate",
    "TriageItem",
    "TriagePage",
    "format_api_timestamp",
    "use_api_timestamps",
]


def format_api_timestamp(moment: datetime) -> str:
    """The one timestamp form of API bodies (spec/api.md, "Conventions"), the protocol's
    (spec/protocol.md section 2.3): RFC 3339 in UTC, whole seconds, ``Z``
    (``2026-11-23T17:00:00Z``). Sub-second digits are dropped; a naive datetime is UTC."""
    return format_timestamp(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment)


def use_api_timestamps() -> None:
    """Write every datetime a route returns in a plain dict (encoded by FastAPI's
    ``jsonable_encoder``, not by a response model) in the same form as the response models.

    The receiver is the only FastAPI application in its process, so setting the encoder once
    for the process is what makes one profile hold whichever way a body is built.
    """
    fastapi.encoders.ENCODERS_BY_TYPE[datetime] = format_api_timestamp


ApiTimestamp = Annotated[
    datetime, PlainSerializer(format_api_timestamp, return_type=str, when_used="json")
]
"""A datetime in a response body, serialised by :func:`format_api_timestamp`."""


def _without_nul(value: str) -> str:
    # PostgreSQL stores no U+0000 in text or JSONB, and no person types one.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain U+0000")
    return value


Text = Annotated[str, AfterValidator(_without_nul)]
"""Text in a request body: any string without U+0000."""


def _json_without_nul(value: Any) -> Any:
    if isinstance(value, str):
        _without_nul(value)
    elif isinstance(value, dict):
        for key, member in value.items():
            _json_without_nul(key)
            _json_without_nul(member)
    elif isinstance(value, list):
        for item in value:
            _json_without_nul(item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_without_nul)]
"""A free-form JSON object in a request body (a JWK Set): no U+0000 in any name or string."""


class _Body(BaseModel):
    """A request body: unknown members refused; every string is ``Text``."""

    model_config = ConfigDict(extra="forbid")


class DiscoveryLimits(BaseModel):
    """What the receiver accepts, in bytes, items, requests and seconds."""

    max_envelope_bytes: int = Field(description="Largest envelope (one submission) accepted.")
    max_batch_items: int = Field(description="Most envelopes in one batch.")
    max_batch_bytes: int = Field(description="Largest batch body accepted.")
    submissions_per_minute: int = Field(description="Submissions counted per ASW per minute.")
    refused_submissions_per_minute: int = Field(
        description="Refused submissions per ASW per minute before all its submissions get 429."
    )
    signed_reads_per_minute: int = Field(
        description="Verified signed requests (other than submissions) per ASW, and per "
        "recipient, per minute."
    )
    envelope_max_age_seconds: int = Field(description="How old a submission's issued_at may be.")
    envelope_max_future_seconds: int = Field(
        description="How far in the future a submission's issued_at may be."
    )
    request_max_age_seconds: int = Field(description="How old a signed request's created may be.")
    request_max_future_seconds: int = Field(
        description="How far in the future a signed request's created may be."
    )


class DiscoveryEndpoints(BaseModel):
    """The fixed paths of the API facing ASWs (and recipients, which report outcomes),
    relative to ``origin`` (informative)."""

    submit_referral: Literal["/v1/referrals"]
    submit_batch: Literal["/v1/referrals/batch"]
    referral_status: Literal["/v1/referrals/{referral_id}/status"]
    information_requests: Literal["/v1/information-requests"]
    statistics: Literal["/v1/stats"]
    recipient_outcomes: Literal["/v1/recipient/outcomes"] = Field(
        description="Where a recipient reports outcomes with its own signed requests."
    )


class PayloadTypes(BaseModel):
    """The payload types of the envelopes this receiver accepts and issues."""

    submission: str
    receipt: str


class JwkSet(BaseModel):
    """A JWK Set (RFC 7517 section 5) of Ed25519 public keys (spec/protocol.md section 4.1)."""

    keys: list[dict[str, str]]


class DiscoveryLog(BaseModel):
    """The transparency log (spec/transparency-log.md): how to verify its checkpoints."""

    origin: str = Field(description="The checkpoints' origin line and the log key's name.")
    vkey: str = Field(description="The log's Ed25519 note verifier key (c2sp.org/signed-note).")
    prefix: Literal["/v1/log"] = Field(description="The c2sp.org/tlog-tiles URL prefix.")
    max_merge_delay_seconds: int = Field(
        description="Every entry is in a signed checkpoint within this long of its record."
    )
    witnesses: list[str] = Field(
        description="The verifier keys of the witnesses whose cosignatures are served."
    )


class Discovery(BaseModel):
    """``/.well-known/strive-configuration``: what an ASW needs to talk to this receiver
    (spec/api.md, "Discovery")."""

    receiver_id: str = Field(description="The audience ASWs name in submissions.")
    origin: str = Field(
        description="The scheme, host and port that signed requests are verified against."
    )
    supported_schema_versions: list[str]
    taxonomy_version: str
    payload_types: PayloadTypes
    limits: DiscoveryLimits
    endpoints: DiscoveryEndpoints
    jwks: JwkSet = Field(description="The keys that sign receipts, current first.")
    log: DiscoveryLog | None = None


_RECEIPT_ENVELOPE = (
    "The signed receipt envelope as a string holding its exact JSON text: the UTF-8 bytes of "
    "this string are what the receipt's signature and digest cover; keep them unchanged."
)


_LOG_PROMISE = (
    "The transparency log's signed promise (a signed note by the log's key) to include the "
    "receipt's entry within the maximum merge delay (spec/transparency-log.md)."
)


class SubmissionResponse(BaseModel):
    """An acknowledged referral: its receipt, readable, and the signed receipt envelope."""

    receipt: dict[str, Any]
    receipt_envelope: str = Field(description=_RECEIPT_ENVELOPE)
    replayed: bool = Field(description="True when the referral was already held.")
    log_promise: str | None = Field(None, description=_LOG_PROMISE)


class BatchItem(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    referral_id: str | None = None
    receipt: dict[str, Any] | None = None
    receipt_envelope: str | None = Field(None, description=_RECEIPT_ENVELOPE)
    replayed: bool | None = None
    problem: dict[str, Any] | None = None
    log_promise: str | None = Field(None, description=_LOG_PROMISE)


class BatchResponse(BaseModel):
    results: list[BatchItem]


class FeedbackView(BaseModel):
    created_at: ApiTimestamp
    message: str
    outcome: str | None = None


class AswReferralStatus(BaseModel):
    """What an ASW may see of its own referral."""

    referral_id: str
    state: str
    received_at: ApiTimestamp
    updated_at: ApiTimestamp
    outcome: str | None = Field(None, description="Only when released with feedback.")
    feedback: list[FeedbackView]
    attachments_received: list[str] = Field(
        default_factory=list,
        description="Ids of the declared evidence files the receiver holds "
        "(spec/evidence-files.md); upload the others.",
    )


class InformationRequestView(BaseModel):
    id: str
    referral_id: str
    created_at: ApiTimestamp
    question: str
    state: Literal["open", "answered", "withdrawn"]
    due_by: ApiTimestamp | None = None
    answer_referral_id: str | None = None


class InformationRequestPage(BaseModel):
    items: list[InformationRequestView]
    next_cursor: str | None = None


class TransitionCreate(_Body):
    to_state: Text = Field(description="The state to move to (spec/lifecycle.md).")
    outcome: Text | None = Field(None, description="Required when closing.")
    reason: Text = Field(min_length=1, max_length=2000, description="Why; kept in the audit.")


class OutcomeCreate(_Body):
    outcome: Text
    reason: Text = Field(min_length=1, max_length=2000)
    force_reference: Text | None = Field(default=None, max_length=100)
    case_reference: Text | None = Field(default=None, max_length=100)


class AssignmentCreate(_Body):
    assignee: Text = Field(min_length=1, max_length=200)
    reason: Text = Field(min_length=1, max_length=2000)


class FeedbackCreate(_Body):
    message: Text = Field(min_length=1, max_length=4000)
    outcome: Text | None = None
    release_to_asw: bool = Field(
        False, description="Show it to the ASW. Never put personal data in released feedback."
    )


class InformationRequestCreate(_Body):
    question: Text = Field(min_length=1, max_length=4000)
    due_by: datetime | None = None


class InformationRequestWithdrawal(_Body):
    reason: Text = Field(min_length=1, max_length=2000, description="Why; kept in the audit.")


class AswCreate(_Body):
    asw_id: Text = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    name: Text = Field(min_length=1, max_length=200)
    public_key_jwk: dict[Text, Text]


class AswKeyCreate(_Body):
    public_key_jwk: dict[Text, Text]


class TokenCreate(_Body):
    name: Text = Field(min_length=1, max_length=200)
    role: Literal["analyst", "supervisor", "auditor", "admin"]
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=366,
        description="Days until the token stops working (default: the receiver's "
        "STRIVE_TOKEN_LIFETIME_DAYS, 90 unless configured).",
    )


class TokenCreated(BaseModel):
    id: int
    name: str
    role: str
    expires_at: ApiTimestamp
    token: str = Field(description="Shown once; only its hash is stored.")


class SelectorLinkingAllow(_Body):
    kind: Literal[
        "phone", "email", "payer_name", "payment_card", "account", "image_hash", "ip_address",
        "device",
    ]  # fmt: skip
    value: Text = Field(min_length=1, max_length=400, description="As written; normalised.")
    reason: Text = Field(min_length=1, max_length=2000, description="Why the value is a link.")


class SelectorExclusionCreate(_Body):
    kind: Literal[
        "phone", "email", "payer_name", "payment_card", "ip_address", "device", "postcode"
    ]
    value: Text = Field(min_length=1, max_length=400)
    reason: Text = Field(min_length=1, max_length=2000)


class PriorityFactor(BaseModel):
    """One reason for a referral's priority (spec/triage.md)."""

    factor: str = Field(description="The factor's stable name, e.g. `accounts`, `shared_cards`.")
    points: int
    detail: str = Field(description="One line saying where the points came from.")


class _Priority(BaseModel):
    """A referral's cluster and explainable priority, the same in the queue and the view."""

    cluster_id: int | None = Field(
        description="The referral's cluster (spec/linking.md); null for a sandbox referral."
    )
    cluster_referrals: int = Field(description="How many referrals its cluster holds (1: none).")
    priority_score: int = Field(description="Own score plus cluster score (spec/triage.md).")
    priority_band: Literal["P1", "P2", "P3", "P4"]
    own: list[PriorityFactor] = Field(description="Points from the referral's own content.")
    cluster: list[PriorityFactor] = Field(description="Points from what its cluster shows.")


class TriageItem(_Priority):
    referral_id: str
    asw_id: str
    received_at: ApiTimestamp
    state: State
    urgency: UrgencyLevel


class TriagePage(BaseModel):
    items: list[TriageItem]
    next_cursor: str | None = None


class ReferralView(_Priority):
    """The full referral for an analyst: the stored document, its lifecycle, its cluster and
    the breakdown of its priority."""

    referral_id: str
    asw_id: str
    received_at: ApiTimestamp
    state: State
    outcome: str | None = Field(description="The latest outcome recorded (spec/lifecycle.md).")
    assigned_to: str | None
    urgency: UrgencyLevel
    is_test: bool
    protective_marking: ProtectiveMarking
    supplements_referral_id: str | None = Field(
        description="The referral this one adds to or answers."
    )
    supplemented_by: list[str] = Field(description="Referrals that add to or answer this one.")
    envelope_sha256: str
    referral_digest: str
    document: dict[str, Any] = Field(description="The referral as the ASW signed it.")
    linking: Literal["pending", "linked", "not_linked"] = Field(
        description="`pending` until the linking worker has put the referral into a cluster "
        '(within seconds under normal load: spec/linking.md, "When a referral is linked"); '
        "`linked` after; `not_linked` for a sandbox referral, which never links. While pending, "
        "`cluster_id` is null and the priority is the referral's own score."
    )
    attachments: list[AttachmentSummary] = Field(
        default_factory=list,
        description="The files the referral declared, and which have arrived "
        "(spec/evidence-files.md).",
    )


class AttachmentReceipt(BaseModel):
    """The answer to an upload: the file as received, verified against the declaration."""

    referral_id: str
    attachment_id: str
    sha256: str
    size_bytes: int
    media_type: str
    received_at: ApiTimestamp
    replayed: bool = Field(description="True when the file had already been received.")


class AttachmentSummary(BaseModel):
    """A declared file and whether it has arrived (spec/evidence-files.md)."""

    attachment_id: str
    sha256: str
    size_bytes: int
    media_type: str
    received: bool
    received_at: ApiTimestamp | None
    pdq: str | None = Field(description="The PDQ hash the receiver computed (images).")
    pdq_quality: int | None
    quarantined: bool = Field(
        default=False,
        description="A referral that suspects a child carries this picture: never served.",
    )


ReferralView.model_rebuild()
