"""Evidence files: received attachments and the PDQ multi-index

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strive_server.db.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral_attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("referral_pk", sa.Integer(), sa.ForeignKey("referrals.id"), nullable=False),
        sa.Column("attachment_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("detected_type", sa.String(255), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("quarantined", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("referral_pk", "attachment_id"),
    )
    op.create_index("ix_referral_attachments_sha256", "referral_attachments", ["sha256"])
    op.create_table(
        "pdq_chunks",
        sa.Column("selector_id", sa.Integer(), sa.ForeignKey("selectors.id"), primary_key=True),
        sa.Column("chunk_no", sa.SmallInteger(), primary_key=True),
        sa.Column("chunk_key", sa.Integer(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), sa.ForeignKey("referrals.id"), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
    )
    op.create_index("ix_pdq_chunks_key", "pdq_chunks", ["chunk_key", "selector_id"])
    op.create_table(
        "image_matches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("referral_pk", sa.Integer(), sa.ForeignKey("referrals.id"), nullable=False),
        sa.Column("selector_id", sa.Integer(), sa.ForeignKey("selectors.id"), nullable=False),
        sa.Column(
            "matched_referral_pk", sa.Integer(), sa.ForeignKey("referrals.id"), nullable=False
        ),
        sa.Column(
            "matched_selector_id", sa.Integer(), sa.ForeignKey("selectors.id"), nullable=False
        ),
        sa.Column("distance", sa.Integer(), nullable=False),
    )
    op.create_index("ix_image_matches_referral_pk", "image_matches", ["referral_pk"])
    op.create_index(
        "ix_image_matches_matched_referral_pk", "image_matches", ["matched_referral_pk"]
    )


def downgrade() -> None:
    op.drop_index("ix_image_matches_matched_referral_pk", table_name="image_matches")
    op.drop_index("ix_image_matches_referral_pk", table_name="image_matches")
    op.drop_table("image_matches")
    op.drop_index("ix_pdq_chunks_key", table_name="pdq_chunks")
    op.drop_table("pdq_chunks")
    op.drop_index("ix_referral_attachments_sha256", table_name="referral_attachments")
    op.drop_table("referral_attachments")
