"""Per-ASW submission quotas and signed-request nonces, decided by the database."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.errors import ProtocolCode
from strive_server.db import tables
from strive_server.db.upsert import insert_for
from strive_server.problems import Problem

__all__ = ["consume_submission_quota", "remember_nonce"]

WINDOW_SECONDS = 60


def consume_submission_quota(session: Session, *, asw_id: str, now: datetime, limit: int) -> None:
    """Count one submission for ``asw_id`` in the current minute (in the caller's transaction).

    Raises:
        Problem: 429 ``rate_limited`` with ``Retry-After`` when the quota is spent.
    """
    window = int(now.timestamp()) // WINDOW_SECONDS
    rate = tables.RateWindow
    statement = (
        insert_for(session, rate)
        .values(asw_id=asw_id, window=window, count=1)
        .on_conflict_do_update(index_elements=["asw_id", "window"], set_={"count": rate.count + 1})
        .returning(rate.count)
    )
    count = session.execute(statement).scalar_one()
    session.execute(sa.delete(rate).where(rate.asw_id == asw_id, rate.window < window - 1))
    if count > limit:
        retry_after = (window + 1) * WINDOW_SECONDS - int(now.timestamp())
        raise Problem(
            429,
            ProblemCode.RATE_LIMITED,
            f"at most {limit} submissions a minute; try again later",
            headers={"Retry-After": str(max(1, retry_after))},
        )


def remember_nonce(session: Session, *, key_id: str, nonce: str, now: datetime) -> None:
    """Record a signed request's nonce; refuse one seen before for the same key.

    Raises:
        Problem: 401 ``nonce_replayed``.
    """
    seen = tables.RequestNonce
    statement = (
        insert_for(session, seen)
        .values(key_id=key_id, nonce=nonce, seen_at=now)
        .on_conflict_do_nothing(index_elements=["key_id", "nonce"])
        .returning(seen.nonce)
    )
    if session.execute(statement).scalar_one_or_none() is None:
        raise Problem(401, ProtocolCode.NONCE_REPLAYED, "this signed request was already used")
    # Nonces older than any acceptable signature can never be replayed: forget them.
    session.execute(sa.delete(seen).where(seen.seen_at < now - timedelta(minutes=10)))
