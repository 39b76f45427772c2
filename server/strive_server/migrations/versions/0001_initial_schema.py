"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import strive_server.db.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asws",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asws")),
    )
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("referral_count", sa.Integer(), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column(
            "breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("under_18", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["clusters.id"], name=op.f("fk_clusters_merged_into_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
    )
    op.create_table(
        "rate_windows",
        sa.Column("asw_id", sa.String(length=64), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("asw_id", "window", name=op.f("pk_rate_windows")),
    )
    op.create_table(
        "request_nonces",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("seen_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_request_nonces")),
    )
    with op.batch_alter_table("request_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_nonces_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "selector_exclusions",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_selector_exclusions")),
    )
    op.create_table(
        "selector_stats",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("referral_count", sa.Integer(), nullable=False),
        sa.Column("over_correlating", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_selector_stats")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    op.create_table(
        "asw_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("asw_id", sa.String(length=64), nullable=False),
        sa.Column(
            "public_jwk",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["asw_id"], ["asws.id"], name=op.f("fk_asw_keys_asw_id_asws")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_asw_keys")),
    )
    with op.batch_alter_table("asw_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asw_keys_asw_id"), ["asw_id"], unique=False)

    op.create_table(
        "cluster_values",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_cluster_values_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("cluster_id", "kind", "value", name=op.f("pk_cluster_values")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asw_id", sa.String(length=64), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("referral_digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("envelope_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("receipt_envelope", sa.LargeBinary(), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("schema_version", sa.String(length=16), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("protective_marking", sa.String(length=32), nullable=False),
        sa.Column(
            "referral_created_at",
            strive_server.db.tables.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("supplements_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=48), nullable=True),
        sa.Column("assigned_to", sa.String(length=200), nullable=True),
        sa.Column(
            "first_triaged_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("outcome_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("own_score", sa.Integer(), nullable=False),
        sa.Column(
            "own_breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("under_18", sa.Boolean(), nullable=False),
        sa.Column("priority_score", sa.Integer(), nullable=False),
        sa.Column("priority_band", sa.String(length=2), nullable=False),
        sa.ForeignKeyConstraint(["asw_id"], ["asws.id"], name=op.f("fk_referrals_asw_id_asws")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_referrals_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["asw_keys.key_id"], name=op.f("fk_referrals_key_id_asw_keys")
        ),
        sa.ForeignKeyConstraint(
            ["supplements_id"], ["referrals.id"], name=op.f("fk_referrals_supplements_id_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("asw_id", "referral_id", name=op.f("uq_referrals_asw_id")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referrals_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_referral_id"), ["referral_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_state"), ["state"], unique=False)
        batch_op.create_index("ix_referrals_triage", ["priority_score", "id"], unique=False)
        batch_op.create_index(
            "ix_referrals_triage_band", ["priority_band", "priority_score", "id"], unique=False
        )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_audit_events_referral_pk_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=48), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_feedback_referral_pk_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_referral_pk"), ["referral_pk"], unique=False)

    op.create_table(
        "information_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("asw_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_by", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer_referral_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["answer_referral_pk"],
            ["referrals.id"],
            name=op.f("fk_information_requests_answer_referral_pk_referrals"),
        ),
        sa.ForeignKeyConstraint(
            ["asw_id"], ["asws.id"], name=op.f("fk_information_requests_asw_id_asws")
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"],
            ["referrals.id"],
            name=op.f("fk_information_requests_referral_pk_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_information_requests")),
    )
    with op.batch_alter_table("information_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_information_requests_asw_id"), ["asw_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_information_requests_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "referral_indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("risk", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_pk"],
            ["referrals.id"],
            name=op.f("fk_referral_indicators_referral_pk_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_indicators")),
    )
    with op.batch_alter_table("referral_indicators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_indicators_code"), ["code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_referral_indicators_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "selectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("raw", sa.String(length=400), nullable=False),
        sa.Column("normalised", sa.Boolean(), nullable=False),
        sa.Column("entity_ref", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_selectors_referral_pk_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_selectors")),
    )
    with op.batch_alter_table("selectors", schema=None) as batch_op:
        batch_op.create_index("ix_selectors_kind_value", ["kind", "value"], unique=False)
        batch_op.create_index(
            "ix_selectors_referral_kind_value", ["referral_pk", "kind", "value"], unique=False
        )

    op.create_table(
        "state_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=48), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_pk"],
            ["referrals.id"],
            name=op.f("fk_state_transitions_referral_pk_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_transitions")),
    )
    with op.batch_alter_table("state_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_state_transitions_referral_pk"), ["referral_pk"], unique=False
        )

    op.create_table(
        "cluster_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=False),
        sa.Column("absorbed_id", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("selector_kind", sa.String(length=32), nullable=False),
        sa.Column("selector_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["absorbed_id"], ["clusters.id"], name=op.f("fk_cluster_merges_absorbed_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_cluster_merges_referral_pk_referrals")
        ),
        sa.ForeignKeyConstraint(
            ["selector_id"], ["selectors.id"], name=op.f("fk_cluster_merges_selector_id_selectors")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["clusters.id"], name=op.f("fk_cluster_merges_survivor_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_merges")),
    )
    with op.batch_alter_table("cluster_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_merges_absorbed_id"), ["absorbed_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cluster_merges_survivor_id"), ["survivor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cluster_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_cluster_merges_absorbed_id"))

    op.drop_table("cluster_merges")
    with op.batch_alter_table("state_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_state_transitions_referral_pk"))

    op.drop_table("state_transitions")
    with op.batch_alter_table("selectors", schema=None) as batch_op:
        batch_op.drop_index("ix_selectors_referral_kind_value")
        batch_op.drop_index("ix_selectors_kind_value")

    op.drop_table("selectors")
    with op.batch_alter_table("referral_indicators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_indicators_referral_pk"))
        batch_op.drop_index(batch_op.f("ix_referral_indicators_code"))

    op.drop_table("referral_indicators")
    with op.batch_alter_table("information_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_information_requests_referral_pk"))
        batch_op.drop_index(batch_op.f("ix_information_requests_asw_id"))

    op.drop_table("information_requests")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_referral_pk"))

    op.drop_table("feedback")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_referral_pk"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))

    op.drop_table("audit_events")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_triage_band")
        batch_op.drop_index("ix_referrals_triage")
        batch_op.drop_index(batch_op.f("ix_referrals_state"))
        batch_op.drop_index(batch_op.f("ix_referrals_referral_id"))
        batch_op.drop_index(batch_op.f("ix_referrals_received_at"))
        batch_op.drop_index(batch_op.f("ix_referrals_cluster_id"))

    op.drop_table("referrals")
    op.drop_table("cluster_values")
    with op.batch_alter_table("asw_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asw_keys_asw_id"))

    op.drop_table("asw_keys")
    op.drop_table("tokens")
    op.drop_table("selector_stats")
    op.drop_table("selector_exclusions")
    with op.batch_alter_table("request_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_nonces_seen_at"))

    op.drop_table("request_nonces")
    op.drop_table("rate_windows")
    op.drop_table("clusters")
    op.drop_table("asws")
