"""Token expiry: every bearer token stops working at its expires_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Tokens created before this revision had no end. They are given one 90 days from the
upgrade, so that nobody is locked out by the upgrade itself and no token lasts for ever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import strive_server.db.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_GRACE = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(
            sa.Column(
                "expires_at", strive_server.db.tables.UTCDateTime(timezone=True), nullable=True
            )
        )
    tokens = sa.table(
        "tokens", sa.column("expires_at", strive_server.db.tables.UTCDateTime(timezone=True))
    )
    op.execute(tokens.update().values(expires_at=datetime.now(UTC) + _GRACE))
    with op.batch_alter_table("tokens") as batch:
        batch.alter_column(
            "expires_at",
            existing_type=strive_server.db.tables.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("expires_at")
