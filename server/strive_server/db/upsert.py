"""``INSERT ... ON CONFLICT`` for the two supported databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

__all__ = ["insert_for"]


def insert_for(session: Session | Connection, table: Any) -> Any:
    """The dialect's ``insert`` construct, which has ``on_conflict_do_*``."""
    if isinstance(session, Connection):
        dialect = session.dialect.name
    else:
        dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database: {dialect}")
