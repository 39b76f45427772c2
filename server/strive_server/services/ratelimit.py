"""Per-ASW quotas and signed-request nonces, decided by the database so all workers agree.

Three quotas a minute, each per ASW (spec/api.md, "Quotas"):

* accepted submissions (``rate_limit_per_minute``): every authenticated submission takes one
  before validation; a submission then refused gives it back and takes one of
* refused submissions (``refused_submission_limit_per_minute``): once spent, the ASW's
  submissions get 429 until the minute ends, so failing submissions are bounded too but never
  crowd out good ones;
* signed reads (``signed_read_limit_per_minute``): each verified signed request, whether its
  resource exists or not, since each stores a nonce and may write an audit event.

Recipients' signed requests count per recipient against the signed-read limit, under their own
quota name (``recipient``), so a recipient and an ASW that share an id never share a count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.errors import ProtocolCode
from strive_schema.httpsig import REQUEST_MAX_AGE, REQUEST_MAX_FUTURE
from strive_server.db import tables
from strive_server.db.upsert import insert_for
from strive_server.problems import Problem

__all__ = [
    "NONCE_RETENTION",
    "consume_recipient_request_quota",
    "consume_signed_read_quota",
    "consume_submission_quota",
    "refund_refused_submission",
    "remember_nonce",
]

WINDOW_SECONDS = 60
NONCE_RETENTION: Final = REQUEST_MAX_AGE + REQUEST_MAX_FUTURE + timedelta(seconds=60)
"""How long a nonce is kept: a request signed ``REQUEST_MAX_FUTURE`` ahead still verifies
``REQUEST_MAX_AGE`` after that, never later (plus a minute for workers' clocks to differ);
then its nonce cannot be replayed and is purged."""

Quota = Literal["refused", "signed_read", "recipient"]


def _window(now: datetime) -> int:
    return int(now.timestamp()) // WINDOW_SECONDS


def _rate_limited(now: datetime, detail: str) -> Problem:
    retry_after = (_window(now) + 1) * WINDOW_SECONDS - int(now.timestamp())
    return Problem(
        429, ProblemCode.RATE_LIMITED, detail, headers={"Retry-After": str(max(1, retry_after))}
    )


def _count(
    session: Session | Connection, *, asw_id: str, quota: Quota, now: datetime, add: int
) -> int:
    """Add ``add`` to this minute's count of ``quota``; return the new count."""
    window = _window(now)
    counter = tables.QuotaWindow
    statement = (
        insert_for(session, counter)
        .values(asw_id=asw_id, quota=quota, window=window, count=add)
        .on_conflict_do_update(
            index_elements=["asw_id", "quota", "window"], set_={"count": counter.count + add}
        )
        .returning(counter.count)
    )
    count = int(session.execute(statement).scalar_one())
    session.execute(
        sa.delete(counter).where(
            counter.asw_id == asw_id, counter.quota == quota, counter.window < window - 1
        )
    )
    return count


def consume_submission_quota(
    session: Session | Connection,
    *,
    asw_id: str,
    now: datetime,
    limit: int,
    refused_limit: int | None = None,
) -> None:
    """Count one submission for ``asw_id`` in the current minute (in the caller's transaction:
    ingestion counts it in the transaction that stores the referral).

    Raises:
        Problem: 429 ``rate_limited`` with ``Retry-After`` when the quota is spent, or when
            ``refused_limit`` submissions were refused this minute.
    """
    window = _window(now)
    rate = tables.RateWindow
    statement = (
        insert_for(session, rate)
        .values(asw_id=asw_id, window=window, count=1)
        .on_conflict_do_update(index_elements=["asw_id", "window"], set_={"count": rate.count + 1})
        .returning(rate.count)
    )
    count = session.execute(statement).scalar_one()
    if count == 1:  # the window's first submission clears the ASW's old windows
        session.execute(sa.delete(rate).where(rate.asw_id == asw_id, rate.window < window - 1))
    if count > limit:
        raise _rate_limited(now, f"at most {limit} submissions a minute; try again later")
    if refused_limit is not None:
        counter = tables.QuotaWindow
        refused = session.scalar(
            sa.select(counter.count).where(
                counter.asw_id == asw_id, counter.quota == "refused", counter.window == window
            )
        )
        if (refused or 0) >= refused_limit:
            raise _rate_limited(
                now,
                f"at most {refused_limit} refused submissions a minute; correct the referrals "
                "and try again later",
            )


def refund_refused_submission(session: Session | Connection, *, asw_id: str, now: datetime) -> None:
    """A submission counted by :func:`consume_submission_quota` at ``now`` was refused: give
    its acceptance quota back and count it against the refused quota instead."""
    rate = tables.RateWindow
    session.execute(
        sa.update(rate)
        .where(rate.asw_id == asw_id, rate.window == _window(now), rate.count > 0)
        .values(count=rate.count - 1)
    )
    _count(session, asw_id=asw_id, quota="refused", now=now, add=1)


def consume_signed_read_quota(session: Session, *, asw_id: str, now: datetime, limit: int) -> None:
    """Count one verified signed read for ``asw_id`` in the current minute.

    Raises:
        Problem: 429 ``rate_limited`` with ``Retry-After`` when the quota is spent.
    """
    if _count(session, asw_id=asw_id, quota="signed_read", now=now, add=1) > limit:
        raise _rate_limited(now, f"at most {limit} signed reads a minute; try again later")


def consume_recipient_request_quota(
    session: Session, *, recipient_id: str, now: datetime, limit: int
) -> None:
    """Count one verified signed request of a recipient in the current minute.

    Raises:
        Problem: 429 ``rate_limited`` with ``Retry-After`` when the quota is spent.
    """
    if _count(session, asw_id=recipient_id, quota="recipient", now=now, add=1) > limit:
        raise _rate_limited(now, f"at most {limit} signed requests a minute; try again later")


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
    session.execute(sa.delete(seen).where(seen.seen_at < now - NONCE_RETENTION))
