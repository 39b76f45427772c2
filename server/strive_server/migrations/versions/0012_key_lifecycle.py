"""Key lifecycle: validity periods, retirement and compromise times for ASW and recipient keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Columns are added with plain ALTER TABLE (no table rebuild on SQLite), so the triggers on
``asw_keys`` that raise the key cache's version (0009) stay in place and cover the new
columns: they fire on any update of a row. A revocation recorded before this migration
counts from its revocation time, so it keeps invalidating exactly what it did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strive_server.db.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = ("asw_keys", "recipient_keys")
_COLUMNS = ("not_before", "not_after", "retired_at", "compromised_at")


def upgrade() -> None:
    for table in _TABLES:
        for column in _COLUMNS:
            op.add_column(table, sa.Column(column, UTCDateTime(), nullable=True))
        op.execute(
            f"UPDATE {table} SET compromised_at = revoked_at "  # noqa: S608 - fixed names
            "WHERE revoked_at IS NOT NULL AND compromised_at IS NULL"
        )


def downgrade() -> None:
    for table in _TABLES:
        for column in reversed(_COLUMNS):
            op.drop_column(table, column)
