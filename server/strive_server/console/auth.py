"""Console sessions: a bearer token (or a single sign-on) turned into a server-side session.

The cookie holds a random session id; the database holds only its SHA-256, the person's name
and role, a CSRF token bound to the session, and when the session ends (spec/console.md).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.core.config import Settings
from strive_server.core.security import ROLES, hash_token
from strive_server.db import tables
from strive_server.services.audit import Actor, record_event

__all__ = [
    "COOKIE",
    "Person",
    "end_session",
    "find_session",
    "start_session",
    "token_holder",
]

COOKIE: Final = "strive_console"
"""The session cookie's name (path ``/console/``)."""
IDLE_REFRESH: Final = timedelta(minutes=1)
"""A session's idle deadline is moved on at most once a minute (not a write per page)."""


@dataclass(frozen=True, slots=True)
class Person:
    """The signed-in person: the audit actor is their name and role, as the API records a
    token's. ``token_id`` is the bearer token signed in with (``None`` for single sign-on)."""

    session_pk: int
    name: str
    role: str
    csrf_token: str
    token_id: int | None = None

    @property
    def actor(self) -> Actor:
        return Actor("user", self.name, self.role)


def token_holder(session: Session, token: str, *, now: datetime) -> tables.Token | None:
    """The current (unrevoked, unexpired) token row for a presented bearer token."""
    digest = hash_token(token.strip())
    row = session.scalars(
        sa.select(tables.Token).where(tables.Token.token_hash == digest)
    ).one_or_none()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or row.role not in ROLES
        or not hmac.compare_digest(row.token_hash, digest)
    ):
        return None
    return row


def start_session(
    session: Session,
    settings: Settings,
    *,
    name: str,
    role: str,
    token_id: int | None,
    subject: str | None,
    method: str,
    now: datetime,
) -> str:
    """Create a session and return its id (for the cookie; only its hash is stored). The
    sign-in is audited."""
    session_id = secrets.token_urlsafe(32)
    row = tables.ConsoleSession(
        session_hash=hash_token(session_id),
        csrf_token=secrets.token_urlsafe(32),
        token_id=token_id,
        subject=subject,
        name=name,
        role=role,
        created_at=now,
        expires_at=now + timedelta(hours=settings.console_session_hours),
        idle_expires_at=now + timedelta(minutes=settings.console_idle_minutes),
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=Actor("user", name, role),
        action="console.signed_in",
        detail={"session": row.id, "method": method},
    )
    return session_id


def find_session(
    session: Session, settings: Settings, session_id: str, *, now: datetime
) -> Person | None:
    """The person whose session this is, or ``None`` when it is unknown, ended, expired, idle
    too long, or its bearer token has since been revoked or expired."""
    if not session_id or len(session_id) > 100:
        return None
    row = session.scalars(
        sa.select(tables.ConsoleSession).where(
            tables.ConsoleSession.session_hash == hash_token(session_id)
        )
    ).one_or_none()
    if row is None or row.ended_at is not None:
        return None
    if row.expires_at <= now or row.idle_expires_at <= now:
        return None
    if row.token_id is not None:
        token = session.get(tables.Token, row.token_id)
        if token is None or token.revoked_at is not None or token.expires_at <= now:
            return None
    idle_deadline = min(row.expires_at, now + timedelta(minutes=settings.console_idle_minutes))
    if idle_deadline - row.idle_expires_at >= IDLE_REFRESH:
        row.idle_expires_at = idle_deadline
    return Person(row.id, row.name, row.role, row.csrf_token, row.token_id)


def end_session(session: Session, person: Person, *, now: datetime) -> None:
    """Sign out: the session ends server-side, whatever the browser keeps."""
    row = session.get(tables.ConsoleSession, person.session_pk)
    if row is not None and row.ended_at is None:
        row.ended_at = now
        record_event(
            session, actor=person.actor, action="console.signed_out",
            detail={"session": row.id},
        )  # fmt: skip


def now_utc() -> datetime:
    return datetime.now(UTC)
