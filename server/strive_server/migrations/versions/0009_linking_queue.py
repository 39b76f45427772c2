"""The linking outbox: referrals stored but not yet linked (linking runs off the request path)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import strive_server.db.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TIME = strive_server.db.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Referrals stored before this migration were linked in their own transaction: the
    # queue starts empty.
    op.create_table(
        "linking_queue",
        sa.Column("referral_pk", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_pk"], ["referrals.id"], name=op.f("fk_linking_queue_referral_pk_referrals")
        ),
        sa.PrimaryKeyConstraint("referral_pk", name=op.f("pk_linking_queue")),
    )


def downgrade() -> None:
    op.drop_table("linking_queue")
