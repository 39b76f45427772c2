"""Accountability statistics: what happened to the referrals, with small counts suppressed.

Every figure is computed by the database (``GROUP BY`` for counts; ``ORDER BY ... LIMIT 1
OFFSET k`` for order statistics), so the work in Python and the memory used do not grow with
the number of referrals. Test referrals (``is_test``) are never counted.

Suppression (spec/api.md, "Statistics"), with ``t`` the threshold (default 5):

* **primary**: a count from 1 to ``t - 1`` is shown as ``"<t"``;
* **secondary**: where a breakdown has a suppressed cell, the next smallest cells are withheld
  too (shown as ``"suppressed"``) until a reader who knows the breakdown's total, the shown
  cells and this rule cannot narrow any ``"<t"`` cell below the range 1 to ``t - 1``.
  Knowing the rule, a reader knows a ``"suppressed"`` cell holds at least ``t`` and at most
  the smallest shown cell; :func:`_narrowed` checks the suppressed cells against exactly these
  bounds.
* **timeliness**: a median over fewer than ``t`` referrals is not given, nor a 90th
  percentile over fewer than ``max(t, 10)`` (below 10 values the nearest-rank 90th percentile
  is the maximum: one referral's own figure).

What this does not prevent (spec/api.md): differencing two releases over time (a count that
moves from 7 to 8 between two reads says one referral changed); breakdowns so small that the
key set and the total pin the cells (five months holding one referral each); the rule itself
(that a further cell had to be withheld says the first ones did not suffice, which can narrow
a ``"<t"`` cell by one); and inference across breakdowns of the same referrals. Hence the
figures are not public by default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.db import tables

__all__ = ["SUPPRESSED", "compute_statistics", "suppress"]

Count = int | str

SUPPRESSED: Final = "suppressed"
"""How a cell withheld by secondary suppression is shown."""

P90_MINIMUM: Final = 10
"""Fewer values than this make the nearest-rank 90th percentile the maximum."""


def _narrowed(primary: list[int], secondary: list[int], shown: list[int], threshold: int) -> bool:
    """Whether a reader could narrow a primary cell below ``1..threshold-1``.

    The reader knows the sum of the suppressed cells (the total minus the shown cells), that
    each primary cell lies in ``[1, t-1]`` and each secondary cell in ``[t, U]``, where ``U``
    is the smallest shown cell (secondary cells are taken smallest first) or, with none shown,
    unbounded. For one linear equation with box bounds, the range each cell can take is
    exactly ``[max(lo, D - sum of the others' upper bounds), min(hi, D - sum of the others'
    lower bounds)]``; all primary cells share their bounds, so one check covers them all.
    """
    m, k = len(primary), len(secondary)
    if m == 0:
        return False
    suppressed_sum = sum(primary) + sum(secondary)
    upper = min(shown) if shown else suppressed_sum
    lowest = suppressed_sum - (m - 1) * (threshold - 1) - k * upper
    highest = suppressed_sum - (m - 1) - k * threshold
    return lowest > 1 or highest < threshold - 1


def suppress(counts: Mapping[str, int], threshold: int) -> dict[str, Count]:
    """Apply primary and secondary suppression to one breakdown (cells with 0 are dropped).

    >>> suppress({"a": 2, "b": 7, "c": 30}, 5)
    {'a': '<5', 'b': 'suppressed', 'c': 30}
    """
    cells = {key: n for key, n in counts.items() if n > 0}
    primary = sorted(key for key, n in cells.items() if n < threshold)
    remaining = sorted((n, key) for key, n in cells.items() if n >= threshold)
    secondary: list[str] = []
    while remaining and _narrowed(
        [cells[key] for key in primary],
        [cells[key] for key in secondary],
        [n for n, _ in remaining],
        threshold,
    ):
        secondary.append(remaining.pop(0)[1])
    shown: dict[str, Count] = {}
    for key in sorted(cells):
        if key in primary:
            shown[key] = f"<{threshold}"
        elif key in secondary:
            shown[key] = SUPPRESSED
        else:
            shown[key] = cells[key]
    return shown


def _live() -> sa.ColumnElement[bool]:
    return tables.Referral.is_test.is_(False)


def _month(dialect: str) -> sa.ColumnElement[str]:
    received = tables.Referral.received_at
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", received), "YYYY-MM")
    # SQLite stores UTC as "YYYY-MM-DD HH:MM:SS.ffffff".
    return sa.func.strftime("%Y-%m", received)


def _hours_between(dialect: str, start: Any, end: Any) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start) / 3600.0
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 24.0


def _grouped(session: Session, column: Any, *where: sa.ColumnElement[bool]) -> dict[str, int]:
    query = (
        sa.select(column, sa.func.count())
        .select_from(tables.Referral)
        .where(_live(), *where)
        .group_by(column)
    )
    return {str(key): int(n) for key, n in session.execute(query)}


def _by_indicator(session: Session) -> dict[str, int]:
    indicator = tables.ReferralIndicator
    query = (
        sa.select(indicator.code, sa.func.count(sa.distinct(indicator.referral_pk)))
        .join(tables.Referral, tables.Referral.id == indicator.referral_pk)
        .where(_live())
        .group_by(indicator.code)
    )
    return {str(code): int(n) for code, n in session.execute(query)}


def _nth(session: Session, hours: sa.ColumnElement[Any], end: Any, index: int) -> float:
    """The ``index``-th smallest (0-based) duration, computed by the database."""
    query = (
        sa.select(hours)
        .where(_live(), end.is_not(None))
        .order_by(hours, tables.Referral.id)
        .limit(1)
        .offset(index)
    )
    return float(session.execute(query).scalar_one())


def _timeliness(session: Session, dialect: str, end: Any, threshold: int) -> dict[str, Any]:
    """Median and 90th percentile (nearest rank) of the hours from receipt to ``end``."""
    n = int(
        session.scalar(
            sa.select(sa.func.count()).select_from(tables.Referral).where(_live(), end.is_not(None))
        )
        or 0
    )
    figures: dict[str, Any] = {
        "referrals": n if n == 0 or n >= threshold else f"<{threshold}",
        "median_hours": None,
        "p90_hours": None,
    }
    if n < threshold:
        return figures
    hours = _hours_between(dialect, tables.Referral.received_at, end)
    middle = _nth(session, hours, end, (n - 1) // 2)
    if n % 2 == 0:
        middle = (middle + _nth(session, hours, end, n // 2)) / 2
    figures["median_hours"] = round(middle, 1)
    if n >= max(threshold, P90_MINIMUM):
        figures["p90_hours"] = round(_nth(session, hours, end, math.ceil(0.9 * n) - 1), 1)
    return figures


def compute_statistics(session: Session, *, threshold: int) -> dict[str, Any]:
    """The published statistics (spec/api.md, "Statistics")."""
    dialect = session.get_bind().dialect.name
    referral = tables.Referral
    total = int(
        session.scalar(sa.select(sa.func.count()).select_from(referral).where(_live())) or 0
    )
    from strive_server.services.pathway_stats import pathway_statistics  # noqa: PLC0415

    return {
        "suppression": {
            "threshold": threshold,
            "rule": f"counts from 1 to {threshold - 1} are shown as '<{threshold}'; where a "
            f"breakdown has such a cell, the next smallest cells are shown as '{SUPPRESSED}' "
            f"until no '<{threshold}' cell can be worked out from the total",
        },
        "referrals": total if total == 0 or total >= threshold else f"<{threshold}",
        "by_month": suppress(_grouped(session, _month(dialect)), threshold),
        "by_asw": suppress(_grouped(session, referral.asw_id), threshold),
        "by_indicator": suppress(_by_indicator(session), threshold),
        "by_urgency": suppress(_grouped(session, referral.urgency), threshold),
        "by_state": suppress(_grouped(session, referral.state), threshold),
        "by_outcome": suppress(
            _grouped(session, referral.outcome, referral.outcome.is_not(None)), threshold
        ),
        "time_to_first_triage": _timeliness(session, dialect, referral.first_triaged_at, threshold),
        "time_to_outcome": _timeliness(session, dialect, referral.outcome_at, threshold),
        "pathway": pathway_statistics(session, threshold=threshold),
    }
