"""The transparency log: entries, tile hashes, checkpoints, cosignatures and the log's state

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

import strive_server.db.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TIME = strive_server.db.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_entries")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_log_entries_leaf_index")),
    )
    op.create_index(op.f("ix_log_entries_ref"), "log_entries", ["ref"], unique=False)
    op.create_index(op.f("ix_log_entries_leaf_hash"), "log_entries", ["leaf_hash"], unique=False)
    op.create_table(
        "log_tile_hashes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_log_tile_hashes")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_checkpoints")),
    )
    op.create_table(
        "log_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("signed_at", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_size"],
            ["log_checkpoints.size"],
            name=op.f("fk_log_cosignatures_checkpoint_size_log_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_cosignatures")),
        sa.UniqueConstraint(
            "checkpoint_size",
            "witness",
            "key_id",
            name=op.f("uq_log_cosignatures_checkpoint_size"),
        ),
    )
    op.create_index(
        op.f("ix_log_cosignatures_checkpoint_size"), "log_cosignatures", ["checkpoint_size"]
    )
    state = op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_state")),
    )
    op.bulk_insert(state, [{"id": 1, "size": 0, "root": hashlib.sha256(b"").digest()}])


def downgrade() -> None:
    op.drop_table("log_state")
    op.drop_index(op.f("ix_log_cosignatures_checkpoint_size"), table_name="log_cosignatures")
    op.drop_table("log_cosignatures")
    op.drop_table("log_checkpoints")
    op.drop_table("log_tile_hashes")
    op.drop_index(op.f("ix_log_entries_leaf_hash"), table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_ref"), table_name="log_entries")
    op.drop_table("log_entries")
