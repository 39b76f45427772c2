"""Request and response bodies of the API, as published in spec/openapi.json."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import fastapi.encoders
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from strive_schema.envelope import format_timestamp
from strive_schema.key_validity import KeyRule
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


class ReceiptPayload(BaseModel):
    """The receipt as signed (spec/protocol.md, "Receipts"): the payload of
    ``receipt_envelope``, parsed for convenience. Verify the envelope, not this copy."""

    asw_id: str
    envelope_sha256: str = Field(description="SHA-256 of the exact envelope bytes received.")
    received_at: str = Field(description="RFC 3339 UTC, whole seconds.")
    receipt_version: Literal[1]
    receiver_id: str
    referral_digest: str
    referral_id: str
    status: Literal["accepted"]


_PROBLEM_OR_NULL = WithJsonSchema(
    {"anyOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "null"}]}
)


class SubmissionResponse(BaseModel):
    """An acknowledged referral: its receipt, readable, and the signed receipt envelope."""

    receipt: ReceiptPayload
    receipt_envelope: str = Field(description=_RECEIPT_ENVELOPE)
    replayed: bool = Field(description="True when the referral was already held.")
    log_promise: str | None = Field(None, description=_LOG_PROMISE)


class BatchItem(BaseModel):
    """One line of a batch: accepted or a duplicate with its receipt, or rejected with its
    problem."""

    index: int = Field(description="The line's position in the batch, from 0.")
    status: Literal["accepted", "duplicate", "rejected"]
    referral_id: str | None = None
    receipt: ReceiptPayload | None = None
    receipt_envelope: str | None = Field(None, description=_RECEIPT_ENVELOPE)
    replayed: bool | None = None
    problem: Annotated[dict[str, Any] | None, _PROBLEM_OR_NULL] = Field(
        None, description="Why this line was rejected: an RFC 9457 problem document."
    )
    log_promise: str | None = Field(None, description=_LOG_PROMISE)


class BatchResponse(BaseModel):
    """One result per line of the batch, in order (spec/api.md, "Batches")."""

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


# --- Responses of casework, intelligence, dissemination and administration ---------------------
#
# Each mirrors what its service returns, member for member, so the published document says what
# is sent. A route returning a plain dict is validated against its model by FastAPI.


class StateChange(BaseModel):
    """A referral's state and latest outcome after a transition or a recorded outcome."""

    referral_id: str
    state: State
    outcome: str | None


class AssignmentView(BaseModel):
    referral_id: str
    assigned_to: str | None


class FeedbackCreated(BaseModel):
    feedback_id: int
    released: bool = Field(description="True when the ASW sees it.")


class KeyJudgementView(BaseModel):
    """Whether a key's signature counts at a trusted time, and which lifecycle rule decided
    (``strive_schema.key_validity.judge_key``)."""

    valid: bool
    rule: KeyRule
    code: str | None
    judged_at: ApiTimestamp
    key_time: ApiTimestamp | None
    explanation: str


class EvidenceCheck(BaseModel):
    """The stored signed envelope re-verified against the key that signed it. Members other
    than ``verified`` and ``key_id`` are present as the outcome says."""

    verified: bool
    key_id: str
    code: str | None = Field(
        None,
        description="Why it did not verify: a protocol code, or `stored_copy_mismatch` when "
        "the stored derivations disagree with the signed bytes.",
    )
    mismatch: list[str] | None = Field(None, description="Which stored derivations disagree.")
    key_revoked: bool | None = Field(None, description="The signing key was revoked since.")
    received_at: ApiTimestamp | None = Field(
        None, description="The time of receipt, from the verified stored receipt."
    )
    key_validity: KeyJudgementView | None = Field(
        None,
        description="The signing key's lifecycle judged at `received_at` (spec/protocol.md "
        "9.1), never at the envelope's claimed `issued_at`.",
    )
    log_index: int | None = Field(
        None,
        description="The receipt's transparency-log entry, a witness to `received_at` (null "
        "until sequenced).",
    )
    reason: str | None = Field(None, description="The rule that applied, in words.")
    envelope_sha256: str | None = None
    envelope: str | None = Field(None, description="The envelope's exact JSON text.")


class HistoryEntry(BaseModel):
    kind: Literal["transition", "outcome"]
    from_state: str | None = Field(description="None for the first transition, on receipt.")
    to_state: str
    outcome: str | None
    actor: str
    reason: str | None
    at: ApiTimestamp


class LinkedReferral(BaseModel):
    referral_id: str
    asw_id: str
    cluster_id: int | None


class SelectorLink(BaseModel):
    """One selector of the referral and the other referrals that share it."""

    kind: str
    value: str = Field(description="The normalised value.")
    raw: str = Field(description="As the ASW wrote it.")
    entity_ref: str | None
    normalised: bool
    referrals_with_value: int
    over_correlating: bool = Field(description="Too common to link referrals (spec/linking.md).")
    linked: list[LinkedReferral]


class ReferralLinks(BaseModel):
    referral_id: str
    cluster_id: int | None
    selectors: list[SelectorLink]


class ClusterCounts(BaseModel):
    referrals: int
    asws: int
    accounts: int
    phones: int
    emails: int
    payers: int
    regions: int


class ClusterTimeline(BaseModel):
    first_received_at: ApiTimestamp | None
    last_received_at: ApiTimestamp | None


class ClusterMergeView(BaseModel):
    at: ApiTimestamp
    absorbed_cluster_id: int
    referral_id: str | None = Field(description="The referral whose arrival merged them.")
    by: str | None = Field(description="The kind of selector that linked them.")


class ImageMatch(BaseModel):
    """Two referrals' pictures whose PDQ hashes are near (spec/evidence-files.md)."""

    at: ApiTimestamp
    algorithm: str
    distance: int
    referral_id: str
    asw_id: str
    value: str
    entity_ref: str | None
    matched_referral_id: str
    matched_asw_id: str
    matched_value: str
    matched_entity_ref: str | None


class ClusterSummary(BaseModel):
    cluster_id: int
    created_at: ApiTimestamp
    updated_at: ApiTimestamp
    counts: ClusterCounts
    asws: list[str]
    regions: list[str]
    score: int
    breakdown: list[PriorityFactor] = Field(description="Where the cluster's score came from.")
    under_18: bool = Field(description="A referral in it suspects a child.")
    timeline: ClusterTimeline
    merges: list[ClusterMergeView]
    image_matches: list[ImageMatch]


class ClusterMember(BaseModel):
    referral_id: str
    asw_id: str
    received_at: ApiTimestamp
    state: State
    priority_band: Literal["P1", "P2", "P3", "P4"]
    priority_score: int


class ClusterReferralPage(BaseModel):
    items: list[ClusterMember]
    next_cursor: str | None


class ClusterSelector(BaseModel):
    kind: str
    value: str
    referrals: int
    over_correlating: bool


class ClusterSelectorPage(BaseModel):
    items: list[ClusterSelector]
    next_cursor: str | None


class SelectorOccurrence(BaseModel):
    referral_id: str
    asw_id: str
    cluster_id: int | None
    received_at: ApiTimestamp
    entity_ref: str | None
    raw: str


class SelectorSearchResult(BaseModel):
    kind: str
    value: str = Field(description="The value searched for, normalised.")
    referrals: int
    over_correlating: bool
    items: list[SelectorOccurrence]
    next_cursor: str | None


class LinkingAllowed(BaseModel):
    kind: str
    value: str
    cluster_id: int | None = Field(description="The cluster the value's referrals are now in.")
    clusters_merged: int
    referrals_moved: int


class GradingView(BaseModel):
    """3x5x2 grading (spec/dissemination.md)."""

    source_evaluation: str
    intelligence_assessment: str
    handling_code: str
    handling_conditions: str | None


class AssessmentView(BaseModel):
    """A THRIVE assessment of a cluster or a referral."""

    id: int
    cluster_id: int | None
    referral_id: str | None
    threat: str
    harm: str
    risk: str
    investigation: str
    vulnerability: str
    engagement: str
    rationale: str
    priority: Literal["P1", "P2", "P3", "P4"]
    assessed_by: str
    assessed_at: ApiTimestamp


class SelectorValue(BaseModel):
    kind: str
    value: str


class FindingView(BaseModel):
    """A graded research finding on a cluster, a referral or a selector value."""

    id: int
    cluster_id: int | None
    referral_id: str | None
    selector: SelectorValue | None
    finding: str
    source_reference: str
    grading: GradingView
    recorded_by: str
    recorded_at: ApiTimestamp


class ClusterResearch(BaseModel):
    cluster_id: int
    assessments: list[AssessmentView]
    findings: list[FindingView]


class RecipientKeyView(BaseModel):
    key_id: str
    purpose: Literal["sig", "enc"]
    revoked: bool


class RecipientView(BaseModel):
    recipient_id: str
    name: str
    regions: list[str]
    revoked: bool
    keys: list[RecipientKeyView]


class RecipientRevoked(BaseModel):
    recipient_id: str
    status: Literal["revoked"]


class RecipientSuggestion(BaseModel):
    recipient_id: str
    name: str
    regions_covered: list[str]


class RecipientSuggestions(BaseModel):
    cluster_id: int
    regions: list[str]
    suggestions: list[RecipientSuggestion] = Field(description="Most regions covered first.")


class DisseminatedReferral(BaseModel):
    asw_id: str
    referral_id: str


class DisseminationView(BaseModel):
    """A dissemination record: what was sealed to whom, by whom, when and why."""

    dissemination_id: str
    cluster_id: int
    recipient_id: str
    recipient_key_id: str
    suite: str
    assessment_id: int | None
    package_sha256: str
    sealed_sha256: str
    formats: list[str]
    grading: GradingView
    reason: str
    sent_by: str
    sent_at: ApiTimestamp
    referrals: list[DisseminatedReferral]


class OutcomeEvent(BaseModel):
    outcome: str
    home_office_outcome: str | None
    force_reference: str | None
    case_reference: str | None
    dissemination_id: str | None
    recorded_by_kind: str
    recorded_by: str
    recorded_at: ApiTimestamp


class OutcomeHistory(BaseModel):
    referral_id: str
    latest: str | None
    outcomes: list[OutcomeEvent]


class RecordedOutcome(BaseModel):
    asw_id: str
    referral_id: str
    outcome: str


class OutcomesRecorded(BaseModel):
    dissemination_id: str
    recorded: list[RecordedOutcome]


class ReviewView(BaseModel):
    """A referral's review date under the retention rules, and whether it was erased."""

    referral_id: str
    review_due: ApiTimestamp
    basis: str
    erased: bool
    erased_at: ApiTimestamp | None
    erased_by: str | None
    envelope_sha256: str
    referral_digest: str


class AuditEvent(BaseModel):
    id: int
    at: ApiTimestamp
    actor_kind: str
    actor: str
    role: str | None
    action: str
    referral_pk: int | None
    reason: str | None
    detail: dict[str, Any] | None = Field(description="Identifiers only, never content.")


class AuditPage(BaseModel):
    items: list[AuditEvent]
    next_after: int | None = Field(description="Pass as `after` for the next page.")


SuppressedCount = int | str
"""A published count: the number, or `<N` / `suppressed` (spec/api.md, "Statistics")."""


class Suppression(BaseModel):
    threshold: int = Field(description="Counts below it (but above 0) are not shown.")
    rule: str = Field(description="The rule applied, in words.")


class Timeliness(BaseModel):
    """Hours from receipt to a step, over the referrals that reached it."""

    referrals: SuppressedCount
    median_hours: int | float | None = Field(description="Null below the threshold.")
    p90_hours: int | float | None = Field(description="Null for too few referrals.")


class Statistics(BaseModel):
    """The published statistics, with small counts suppressed (spec/api.md, "Statistics")."""

    suppression: Suppression
    referrals: SuppressedCount
    by_month: dict[str, SuppressedCount]
    by_asw: dict[str, SuppressedCount]
    by_indicator: dict[str, SuppressedCount]
    by_urgency: dict[str, SuppressedCount]
    by_state: dict[str, SuppressedCount]
    by_outcome: dict[str, SuppressedCount]
    time_to_first_triage: Timeliness
    time_to_outcome: Timeliness
    pathway: dict[str, Any] = Field(description="Figures along the referral pathway.")


class AswKeyView(BaseModel):
    key_id: str
    revoked: bool


class AswView(BaseModel):
    asw_id: str
    name: str
    keys: list[AswKeyView]


class AswKeyRevoked(BaseModel):
    asw_id: str
    key_id: str
    status: Literal["revoked"]


class TokenRevoked(BaseModel):
    id: int
    status: Literal["revoked"]


class SelectorExcluded(BaseModel):
    kind: str
    value: str = Field(description="The value excluded, normalised.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "degraded"]
    linking_backlog: int = Field(description="Referrals waiting to be linked.")
    linking_oldest_pending_seconds: float
