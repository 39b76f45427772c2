"""The audit trail: every read of referral content by a person, every change, who and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from strive_server.db.tables import AuditEvent
from strive_server.services.tlog import log_row, orm_values

__all__ = ["Actor", "record_event", "record_event_core"]

ActorKind = Literal["user", "asw", "admin", "system", "recipient"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a law-enforcement user (by token name and role), an ASW, or the CLI."""

    kind: ActorKind
    name: str
    role: str | None = None


def record_event(
    session: Session,
    *,
    actor: Actor,
    action: str,
    referral_pk: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event, and its transparency-log entry in the same transaction (spec/
    transparency-log.md). ``detail`` holds identifiers and codes only, never referral
    content."""
    row = AuditEvent(
        at=at or datetime.now(UTC),
        actor_kind=actor.kind,
        actor=actor.name,
        role=actor.role,
        action=action,
        referral_pk=referral_pk,
        reason=reason,
        detail=detail or {},
    )
    session.add(row)
    session.flush()
    log_row(session.connection(), "audit_events", row.id, values=orm_values(row))


_INSERT_EVENT = sa.insert(AuditEvent)


def record_event_core(
    connection: Connection,
    *,
    actor: Actor,
    action: str,
    at: datetime,
    referral_pk: int | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """:func:`record_event` on a Core connection, in the caller's transaction (the lean
    ingest path: one cached statement, no unit of work), with its transparency-log entry."""
    values = {
        "at": at, "actor_kind": actor.kind, "actor": actor.name, "role": actor.role,
        "action": action, "referral_pk": referral_pk, "reason": reason,
        "detail": detail or {},
    }  # fmt: skip
    inserted = connection.execute(_INSERT_EVENT, values).inserted_primary_key
    assert inserted is not None
    log_row(connection, "audit_events", inserted[0], values={**values, "id": inserted[0]})
