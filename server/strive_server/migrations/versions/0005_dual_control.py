"""Dual control and bounded quotas: approval requests, refused-submission and signed-read
counters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Adding an ASW key (or registering an ASW with its first key) and creating a token that can
read referral content or approve now wait for a second admin (``approval_requests``).
``quota_windows`` counts refused submissions and signed reads per ASW per minute.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strive_server.db.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_WHEN = strive_server.db.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("parameters", strive_server.db.tables.JSONDocument, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_by_token_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_by_token_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("result", strive_server.db.tables.JSONDocument, nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_token_id"],
            ["tokens.id"],
            name=op.f("fk_approval_requests_requested_by_token_id_tokens"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_token_id"],
            ["tokens.id"],
            name=op.f("fk_approval_requests_decided_by_token_id_tokens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
    )
    op.create_index(
        op.f("ix_approval_requests_state"), "approval_requests", ["state"], unique=False
    )
    op.create_table(
        "quota_windows",
        sa.Column("asw_id", sa.String(length=64), nullable=False),
        sa.Column("quota", sa.String(length=16), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("asw_id", "quota", "window", name=op.f("pk_quota_windows")),
    )


def downgrade() -> None:
    op.drop_table("quota_windows")
    op.drop_index(op.f("ix_approval_requests_state"), table_name="approval_requests")
    op.drop_table("approval_requests")
