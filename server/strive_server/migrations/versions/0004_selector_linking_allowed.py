"""A supervisor can let an over-correlating value link again

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("selector_stats") as batch:
        batch.add_column(
            sa.Column("linking_allowed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("selector_stats") as batch:
        batch.drop_column("linking_allowed")
