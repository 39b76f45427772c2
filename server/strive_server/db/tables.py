"""The receiver's database rows. Mapped from and to schema models only in ``services/``.

The exact envelope bytes an ASW signed are stored as received (``Referral.envelope``); every
other column is derived from them and can be rebuilt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from strive_schema.key_validity import KeyValidity

__all__ = [
    "ApprovalRequest",
    "Assessment",
    "Asw",
    "AswKey",
    "AuditEvent",
    "Base",
    "CacheVersion",
    "Cluster",
    "ClusterMerge",
    "ClusterValue",
    "ConsoleSession",
    "ConsoleSignIn",
    "Dissemination",
    "DisseminationReferral",
    "Feedback",
    "ImageMatch",
    "InformationRequest",
    "LinkingQueue",
    "LogCheckpoint",
    "LogCosignature",
    "LogEntry",
    "LogState",
    "LogTileHash",
    "OutcomeEvent",
    "PdqChunk",
    "QuotaWindow",
    "RateWindow",
    "Recipient",
    "RecipientKey",
    "Referral",
    "ReferralAttachment",
    "ReferralErasure",
    "ReferralIndicator",
    "RequestNonce",
    "ResearchFinding",
    "Selector",
    "SelectorExclusion",
    "SelectorStat",
    "StateTransition",
    "Token",
    "validity_of",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps none), in
    whole seconds: the one timestamp form of API bodies (spec/api.md, "Conventions"), so that
    a time read here is written the same way whichever serialiser writes it."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.replace(microsecond=0)


class _HasLifecycle(Protocol):
    revoked_at: datetime | None
    not_before: datetime | None
    not_after: datetime | None
    retired_at: datetime | None
    compromised_at: datetime | None


def validity_of(row: _HasLifecycle) -> KeyValidity:
    """A key row's lifecycle. A revocation recorded without a compromise time (before
    migration 0012) counts from the revocation."""
    return KeyValidity(
        not_before=row.not_before,
        not_after=row.not_after,
        retired_at=row.retired_at,
        compromised_at=row.compromised_at or row.revoked_at,
    )


JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}  # noqa: RUF012


class Asw(Base):
    """A registered adult service website."""

    __tablename__ = "asws"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    keys: Mapped[list[AswKey]] = relationship(back_populates="asw")


class AswKey(Base):
    """A public key registered to an ASW. Keys are revoked, never deleted: evidence signed
    with them must stay verifiable."""

    __tablename__ = "asw_keys"

    key_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    asw_id: Mapped[str] = mapped_column(sa.ForeignKey("asws.id"), index=True)
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    """When the revocation was recorded; what it invalidates runs from ``compromised_at``."""
    not_before: Mapped[datetime | None]
    not_after: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    compromised_at: Mapped[datetime | None]
    asw: Mapped[Asw] = relationship(back_populates="keys")

    @property
    def validity(self) -> KeyValidity:
        """The key's lifecycle (spec/protocol.md, "Key lifecycle")."""
        return validity_of(self)


class Referral(Base):
    """One acknowledged referral: the exact signed envelope and what was derived from it."""

    __tablename__ = "referrals"
    __table_args__ = (
        sa.UniqueConstraint("asw_id", "referral_id"),
        sa.Index("ix_referrals_triage", "priority_score", "id"),
        sa.Index("ix_referrals_triage_band", "priority_band", "priority_score", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asw_id: Mapped[str] = mapped_column(sa.ForeignKey("asws.id"))
    referral_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    referral_digest: Mapped[str] = mapped_column(sa.String(64))
    envelope: Mapped[bytes] = mapped_column(sa.LargeBinary)
    envelope_sha256: Mapped[str] = mapped_column(sa.String(64))
    key_id: Mapped[str] = mapped_column(sa.ForeignKey("asw_keys.key_id"))
    issued_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(index=True)
    receipt_envelope: Mapped[bytes] = mapped_column(sa.LargeBinary)
    document: Mapped[dict[str, Any]]
    schema_version: Mapped[str] = mapped_column(sa.String(16))
    is_test: Mapped[bool]
    urgency: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(32))
    protective_marking: Mapped[str] = mapped_column(sa.String(32))
    referral_created_at: Mapped[datetime]
    supplements_id: Mapped[int | None] = mapped_column(sa.ForeignKey("referrals.id"))
    state: Mapped[str] = mapped_column(sa.String(32), index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(48))
    assigned_to: Mapped[str | None] = mapped_column(sa.String(200))
    first_triaged_at: Mapped[datetime | None]
    outcome_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    cluster_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    own_score: Mapped[int] = mapped_column(default=0)
    """Priority points from the referral's own content (services/triage.py)."""
    own_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    under_18: Mapped[bool] = mapped_column(default=False)
    priority_score: Mapped[int] = mapped_column(default=0)
    """own_score + the cluster's score (+1000 when a child is suspected): the triage order."""
    priority_band: Mapped[str] = mapped_column(sa.String(2), default="P4")

    indicators: Mapped[list[ReferralIndicator]] = relationship(
        back_populates="referral", cascade="all, delete-orphan"
    )
    selectors: Mapped[list[Selector]] = relationship(
        back_populates="referral", cascade="all, delete-orphan"
    )


class ReferralIndicator(Base):
    __tablename__ = "referral_indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(100), index=True)
    risk: Mapped[str] = mapped_column(sa.String(8))
    referral: Mapped[Referral] = relationship(back_populates="indicators")


class Selector(Base):
    """A normalised value that may tie this referral to others (phone, e-mail, payer...)."""

    __tablename__ = "selectors"
    __table_args__ = (
        sa.Index("ix_selectors_kind_value", "kind", "value"),
        # A referral's selectors, and "does referral X carry value V": an exact probe, so no
        # plan (even one built on stale statistics) turns a filter into a quadratic scan.
        sa.Index("ix_selectors_referral_kind_value", "referral_pk", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[str] = mapped_column(sa.String(400))
    raw: Mapped[str] = mapped_column(sa.String(400))
    normalised: Mapped[bool]
    entity_ref: Mapped[str | None] = mapped_column(sa.String(64))
    referral: Mapped[Referral] = relationship(back_populates="selectors")


class StateTransition(Base):
    __tablename__ = "state_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    outcome: Mapped[str | None] = mapped_column(sa.String(48))
    actor: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime]


class Feedback(Base):
    """Feedback on a referral; the ASW sees it once released."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    message: Mapped[str] = mapped_column(sa.Text)
    outcome: Mapped[str | None] = mapped_column(sa.String(48))
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    released: Mapped[bool]


class InformationRequest(Base):
    """A request from an analyst to the ASW for further information about a referral."""

    __tablename__ = "information_requests"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    asw_id: Mapped[str] = mapped_column(sa.ForeignKey("asws.id"), index=True)
    question: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16))
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    due_by: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answer_referral_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("referrals.id"))


class Token(Base):
    """A law-enforcement user's bearer token. Only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditEvent(Base):
    """The append-only audit trail: who did what, when and why. Never holds referral
    content. Database triggers refuse updates and deletes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str | None] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(64))
    referral_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict[str, Any]]


class RequestNonce(Base):
    """Nonces of signed requests seen recently: the database decides replays."""

    __tablename__ = "request_nonces"

    key_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class RateWindow(Base):
    """Submissions per ASW per minute, counted in the database so all workers agree."""

    __tablename__ = "rate_windows"

    asw_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    window: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    count: Mapped[int]


class Cluster(Base):
    """Referrals tied together by shared selectors, across ASWs. Clusters only grow and merge;
    a merged cluster keeps its row with ``merged_into`` set, so its history can be explained."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    merged_into: Mapped[int | None] = mapped_column(sa.ForeignKey("clusters.id"))
    referral_count: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    """Distinct values by kind (asw, account, phone, email, payer_name, region), kept up to
    date as values are added; recounted only when clusters merge."""
    score: Mapped[int] = mapped_column(default=0)
    """The cluster's contribution to its referrals' priority (see services/triage.py)."""
    breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    under_18: Mapped[bool] = mapped_column(default=False)


class ClusterValue(Base):
    """The distinct values of a cluster by kind (accounts, phones, e-mails, payers, ASWs,
    regions), so its counts are maintained by inserts, never by re-reading its referrals."""

    __tablename__ = "cluster_values"

    cluster_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(400), primary_key=True)


class SelectorStat(Base):
    """How many referrals carry a selector value: the over-correlation cut-off, and on
    PostgreSQL the row lock that serialises concurrent ingests sharing a value."""

    __tablename__ = "selector_stats"

    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    referral_count: Mapped[int]
    over_correlating: Mapped[bool] = mapped_column(default=False)
    linking_allowed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    """A supervisor judged the value a genuine link: it is never over-correlating again."""


class SelectorExclusion(Base):
    """A value that never links referrals (an ASW's own support number, a test address)."""

    __tablename__ = "selector_exclusions"

    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime]


class ClusterMerge(Base):
    """Why two clusters became one: the referral whose arrival tied them, and by which of its
    selectors."""

    __tablename__ = "cluster_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    survivor_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    absorbed_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"))
    selector_kind: Mapped[str] = mapped_column(sa.String(32))
    selector_id: Mapped[int | None] = mapped_column(sa.ForeignKey("selectors.id"))


class ApprovalRequest(Base):
    """An administrative action that needs a second person (dual control): a token that can
    read referral content or approve, or an ASW's or a recipient's key. It runs only when an
    admin other than the requester approves it before ``expires_at``; the token's secret is
    never stored whole."""

    __tablename__ = "approval_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    parameters: Mapped[dict[str, Any]]
    """What to do: the token's holder, role and lifetime, the ASW and its public JWK, or the
    recipient and its keys' JWK Set."""
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(200))
    requested_by_token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tokens.id"))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    decided_by_token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tokens.id"))
    decided_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any]]
    """Identifiers of what approval created (token id, key id); never a secret."""
    token_half: Mapped[str | None] = mapped_column(sa.String(64))
    """token.create, once approved: half A of the new token (``strvA_...``), kept until the
    requester collects it, then erased. Useless alone: the token is never stored."""


class QuotaWindow(Base):
    """Per-ASW counts per minute for the quotas other than accepted submissions: refused
    submissions and signed reads (``quota``), counted in the database so all workers agree."""

    __tablename__ = "quota_windows"

    asw_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    quota: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    window: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    count: Mapped[int]


# -- assessment, research, dissemination and outcomes (spec/api.md) ------------------------------


class Assessment(Base):
    """A recorded THRIVE risk assessment of a referral or a whole cluster. Never changed: a
    new assessment is a new row, and the latest one counts."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    referral_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    threat: Mapped[str] = mapped_column(sa.Text)
    harm: Mapped[str] = mapped_column(sa.Text)
    risk: Mapped[str] = mapped_column(sa.Text)
    investigation: Mapped[str] = mapped_column(sa.Text)
    vulnerability: Mapped[str] = mapped_column(sa.Text)
    engagement: Mapped[str] = mapped_column(sa.Text)
    rationale: Mapped[str] = mapped_column(sa.Text)
    priority: Mapped[str] = mapped_column(sa.String(2))
    assessed_by: Mapped[str] = mapped_column(sa.String(200))
    assessed_at: Mapped[datetime]


class ResearchFinding(Base):
    """What an analyst found about a selector, a referral or a cluster elsewhere, graded.
    Never sent to an ASW."""

    __tablename__ = "research_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    referral_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    selector_kind: Mapped[str | None] = mapped_column(sa.String(32))
    selector_value: Mapped[str | None] = mapped_column(sa.String(400))
    finding: Mapped[str] = mapped_column(sa.Text)
    source_reference: Mapped[str] = mapped_column(sa.String(200))
    source_evaluation: Mapped[str] = mapped_column(sa.String(1))
    intelligence_assessment: Mapped[str] = mapped_column(sa.String(1))
    handling_code: Mapped[str] = mapped_column(sa.String(1))
    handling_conditions: Mapped[str | None] = mapped_column(sa.Text)
    recorded_by: Mapped[str] = mapped_column(sa.String(200))
    recorded_at: Mapped[datetime]


class Recipient(Base):
    """A force, unit or partner agency packages are disseminated to."""

    __tablename__ = "recipients"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    regions: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    """ITL1 region codes the recipient covers."""
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class RecipientKey(Base):
    """A recipient's public key: ``sig`` (Ed25519, signs its requests) or ``enc`` (HPKE).
    Revoked, never deleted."""

    __tablename__ = "recipient_keys"

    key_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(sa.ForeignKey("recipients.id"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(8))
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    not_after: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    compromised_at: Mapped[datetime | None]

    @property
    def validity(self) -> KeyValidity:
        """The key's lifecycle (spec/protocol.md, "Key lifecycle")."""
        return validity_of(self)


class Dissemination(Base):
    """Who sent what to whom, when and why. The receiver keeps the digests, never the
    package."""

    __tablename__ = "disseminations"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    recipient_id: Mapped[str] = mapped_column(sa.ForeignKey("recipients.id"), index=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id"))
    recipient_key_id: Mapped[str] = mapped_column(sa.String(64))
    suite: Mapped[str] = mapped_column(sa.String(64))
    package_sha256: Mapped[str] = mapped_column(sa.String(64))
    sealed_sha256: Mapped[str] = mapped_column(sa.String(64))
    formats: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    grading: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(sa.Text)
    sent_by: Mapped[str] = mapped_column(sa.String(200))
    sent_at: Mapped[datetime] = mapped_column(index=True)


class DisseminationReferral(Base):
    """The referrals a dissemination carried."""

    __tablename__ = "dissemination_referrals"

    dissemination_id: Mapped[str] = mapped_column(
        sa.ForeignKey("disseminations.id"), primary_key=True
    )
    referral_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("referrals.id"), primary_key=True, index=True
    )


class OutcomeEvent(Base):
    """Every outcome ever recorded on a referral, with its references: an arrest and a later
    charge are two rows. Never updated; the latest is derived."""

    __tablename__ = "outcome_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    dissemination_id: Mapped[str | None] = mapped_column(sa.ForeignKey("disseminations.id"))
    outcome: Mapped[str] = mapped_column(sa.String(48), index=True)
    force_reference: Mapped[str | None] = mapped_column(sa.String(100))
    case_reference: Mapped[str | None] = mapped_column(sa.String(100))
    recorded_by_kind: Mapped[str] = mapped_column(sa.String(16))
    recorded_by: Mapped[str] = mapped_column(sa.String(200))
    recorded_at: Mapped[datetime]


class ReferralErasure(Base):
    """A referral whose content a supervisor erased after review: who, when, why, and the
    digests that still prove what was received. Append-only; the evidence triggers let a
    referral's envelope and document be emptied only once such a row exists."""

    __tablename__ = "referral_erasures"

    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), primary_key=True)
    erased_at: Mapped[datetime]
    erased_by: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.Text)
    review_basis: Mapped[str] = mapped_column(sa.String(48))
    envelope_sha256: Mapped[str] = mapped_column(sa.String(64))
    referral_digest: Mapped[str] = mapped_column(sa.String(64))


class ConsoleSession(Base):
    """A person signed in to the console (spec/console.md). Only the SHA-256 of the session
    id (the cookie's value) is stored; the session ends at ``expires_at``, after
    ``idle_expires_at`` without use, at sign-out (``ended_at``), or when its token is revoked."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tokens.id"), index=True)
    """The bearer token signed in with; ``None`` for single sign-on."""
    subject: Mapped[str | None] = mapped_column(sa.String(255))
    """The identity provider's subject for single sign-on."""
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    idle_expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ConsoleSignIn(Base):
    """A single sign-on in progress: the OpenID Connect state, nonce and PKCE verifier, kept
    server-side until the identity provider redirects back (once, within minutes)."""

    __tablename__ = "console_sign_ins"

    state: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(64))
    code_verifier: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(index=True)


class LinkingQueue(Base):
    """The linking outbox: a referral stored but not yet linked into a cluster.

    Written in the referral's own transaction and deleted in the transaction that links it
    (services/linkworker.py), so a referral is linked exactly once, after any crash. Sandbox
    referrals never link and are never queued."""

    __tablename__ = "linking_queue"

    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), primary_key=True)
    """Arrival order: the worker links in this order."""
    enqueued_at: Mapped[datetime]


class CacheVersion(Base):
    """A counter per cached table, raised by database triggers on every change to it, so each
    process can keep the table in memory and see another process's change (a revoked key)
    with one primary-key read in the transaction that relies on it."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger)


# --- The transparency log (spec/transparency-log.md) --------------------------------------------


class LogEntry(Base):
    """One log entry, committed in the transaction of the row it commits to and pending
    (``leaf_index`` null) until the sequencer appends it to the tree. ``ref`` names that row
    (``table:primary key``); ``salt`` (never published) blinds low-entropy rows."""

    __tablename__ = "log_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    ref: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    salt: Mapped[bytes] = mapped_column(sa.LargeBinary)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary, index=True)
    leaf_index: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    created_at: Mapped[datetime]


class LogTileHash(Base):
    """The hash of each full tile: the node hash at tree level ``8 * level``, index ``idx``
    (tile level ``level`` >= 1). Level-0 hashes are the entries' leaf hashes."""

    __tablename__ = "log_tile_hashes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary)


class LogCheckpoint(Base):
    """Every checkpoint the log signed: one per tree size."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(sa.LargeBinary)
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime]


class LogCosignature(Base):
    """A configured witness's cosignature on a checkpoint (its signature line as sent)."""

    __tablename__ = "log_cosignatures"
    __table_args__ = (sa.UniqueConstraint("checkpoint_size", "witness", "key_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_size: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("log_checkpoints.size"), index=True
    )
    witness: Mapped[str] = mapped_column(sa.String(200))
    key_id: Mapped[int] = mapped_column(sa.BigInteger)
    signed_at: Mapped[int] = mapped_column(sa.BigInteger)
    line: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime]


class LogState(Base):
    """The log's one row: its size and root. The sequencer locks it, so one sequencer runs at
    a time however many processes try."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    root: Mapped[bytes] = mapped_column(sa.LargeBinary)


class ReferralAttachment(Base):
    """An evidence file received for a referral that declared it (spec/evidence-files.md).
    The bytes are in the evidence store under ``sha256``, encrypted; this row is the record
    that they arrived, verified against the signed declaration."""

    __tablename__ = "referral_attachments"
    __table_args__ = (sa.UniqueConstraint("referral_pk", "attachment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"))
    attachment_id: Mapped[str] = mapped_column(sa.String(64))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    media_type: Mapped[str] = mapped_column(sa.String(255))
    detected_type: Mapped[str | None] = mapped_column(sa.String(255))
    received_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(sa.String(128))
    """The ASW key whose signed request carried the file."""
    width: Mapped[int | None]
    height: Mapped[int | None]
    pdq: Mapped[str | None] = mapped_column(sa.String(64))
    pdq_quality: Mapped[int | None]
    quarantined: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    """A referral that suspects a child later carried this file's picture (hash): it is no
    longer served to anyone (spec/evidence-files.md, "Children")."""


class PdqChunk(Base):
    """The multi-index of PDQ hashes (services/image_linking.py): each PDQ selector's 256 bits
    as 16 chunks of 16 bits, ``chunk_key = chunk number * 65536 + chunk value``. Two hashes at
    most 31 bits apart agree within one bit on at least one chunk (pigeonhole), so a look-up
    probes 16 x 17 keys and checks the few candidates exactly."""

    __tablename__ = "pdq_chunks"
    __table_args__ = (sa.Index("ix_pdq_chunks_key", "chunk_key", "selector_id"),)

    selector_id: Mapped[int] = mapped_column(sa.ForeignKey("selectors.id"), primary_key=True)
    chunk_no: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    chunk_key: Mapped[int]
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"))
    pdq: Mapped[str] = mapped_column(sa.String(64))
    quality: Mapped[int | None]


class ImageMatch(Base):
    """Two referrals carrying the same picture (services/image_linking.py): which of their
    ``image_hash`` selectors, how many bits apart (0 for an exact hash). Recorded whether or
    not the match merged clusters, so the cluster shows why its pictures tie it together."""

    __tablename__ = "image_matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    selector_id: Mapped[int] = mapped_column(sa.ForeignKey("selectors.id"))
    matched_referral_pk: Mapped[int] = mapped_column(sa.ForeignKey("referrals.id"), index=True)
    matched_selector_id: Mapped[int] = mapped_column(sa.ForeignKey("selectors.id"))
    distance: Mapped[int]
