"""Migrations build exactly the schema the models describe, and can be undone and redone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from strive_server.db.engine import MIGRATIONS, make_engine, migrate
from strive_server.db.tables import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        migrate(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)
        assert "referrals" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_tokens_from_before_expiry_get_an_end_not_a_lock_out(database_url: str) -> None:
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            connection.execute(
                sa.text(
                    "INSERT INTO tokens (name, role, token_hash, created_at) "
                    "VALUES ('old', 'analyst', :hash, :at)"
                ),
                {"hash": "0" * 64, "at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        migrate(engine)
        with engine.connect() as connection:
            (expires_at,) = connection.execute(sa.text("SELECT expires_at FROM tokens")).one()
        if isinstance(expires_at, str):  # SQLite returns the stored text
            expires_at = datetime.fromisoformat(expires_at)
        expires_at = expires_at.replace(tzinfo=expires_at.tzinfo or UTC)
        expected = datetime.now(UTC) + timedelta(days=90)
        assert abs(expires_at - expected) < timedelta(minutes=5)
    finally:
        engine.dispose()
