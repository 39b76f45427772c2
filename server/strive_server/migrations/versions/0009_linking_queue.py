"""The linking outbox (linking runs off the request path); cache versions for ASW keys

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
    # ASW and key rows are cached in each process; any change to them (a key added or revoked,
    # by any process or by hand) raises this counter in the same transaction, and ingestion
    # reads it in its store transaction (services/keycache.py).
    op.create_table(
        "cache_versions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_versions")),
    )
    op.execute("INSERT INTO cache_versions (name, version) VALUES ('asw_keys', 1)")
    bump = "UPDATE cache_versions SET version = version + 1 WHERE name = 'asw_keys'"
    if op.get_bind().dialect.name == "sqlite":
        for table in _CACHED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_cache_{event.lower()} AFTER {event} ON {table} "
                    f"BEGIN {bump}; END"
                )
    else:
        op.execute(
            "CREATE FUNCTION strive_bump_asw_keys_version() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {bump}; RETURN NULL; END $$"
        )
        for table in _CACHED:
            op.execute(
                f"CREATE TRIGGER {table}_cache_version AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                "EXECUTE FUNCTION strive_bump_asw_keys_version()"
            )


_CACHED = ("asws", "asw_keys")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _CACHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_cache_{event}")
    else:
        for table in _CACHED:
            op.execute(f"DROP TRIGGER {table}_cache_version ON {table}")
        op.execute("DROP FUNCTION strive_bump_asw_keys_version()")
    op.drop_table("cache_versions")
    op.drop_table("linking_queue")
