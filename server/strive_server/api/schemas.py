"""Request and response bodies of the API, as published in spec/openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

__all__ = [
    "AssignmentCreate",
    "AswCreate",
    "AswKeyCreate",
    "Discovery",
    "FeedbackCreate",
    "InformationRequestCreate",
    "InformationRequestView",
    "SubmissionResponse",
    "TokenCreate",
    "TransitionCreate",
]


def _without_nul(value: str) -> str:
    # PostgreSQL stores no U+0000 in text or JSONB, and no person types one.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain U+0000")
    return value


Text = Annotated[str, AfterValidator(_without_nul)]
"""Text in a request body: any string without U+0000."""


class _Body(BaseModel):
    """A request body: unknown members refused; every string is ``Text``."""

    model_config = ConfigDict(extra="forbid")


class Discovery(BaseModel):
    """``/.well-known/strive-configuration``: what an ASW needs to talk to this receiver."""

    receiver_id: str = Field(description="The audience ASWs name in submissions.")
    supported_schema_versions: list[str]
    taxonomy_version: str
    payload_types: dict[str, str]
    limits: dict[str, int]
    endpoints: dict[str, str]
    jwks: dict[str, list[dict[str, str]]] = Field(description="Keys that sign receipts.")


class SubmissionResponse(BaseModel):
    """An acknowledged referral: its receipt, readable, and the signed receipt envelope."""

    receipt: dict[str, Any]
    receipt_envelope: dict[str, Any]
    replayed: bool = Field(description="True when the referral was already held.")


class BatchItem(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    referral_id: str | None = None
    receipt: dict[str, Any] | None = None
    receipt_envelope: dict[str, Any] | None = None
    replayed: bool | None = None
    problem: dict[str, Any] | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class FeedbackView(BaseModel):
    created_at: datetime
    message: str
    outcome: str | None = None


class AswReferralStatus(BaseModel):
    """What an ASW may see of its own referral."""

    referral_id: str
    state: str
    received_at: datetime
    updated_at: datetime
    outcome: str | None = Field(None, description="Only when released with feedback.")
    feedback: list[FeedbackView]


class InformationRequestView(BaseModel):
    id: str
    referral_id: str
    created_at: datetime
    question: str
    state: Literal["open", "answered", "withdrawn"]
    due_by: datetime | None = None
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
    expires_at: datetime
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
