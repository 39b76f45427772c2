"""Alembic environment: migrations run on a connection handed over by ``db.engine.migrate``."""

from __future__ import annotations

from alembic import context

from strive_server.db.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through migrate()
    raise RuntimeError("run migrations through strive_server.db.engine.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
