"""Accountability statistics: what happened to the referrals, with small counts suppressed.

Counts from 1 to ``threshold - 1`` are shown as ``"<5"`` (for the default threshold 5). So that
a suppressed cell cannot be recovered by subtracting the others from a total, when exactly one
cell of a breakdown is suppressed, the next smallest cell is suppressed too (secondary
suppression). Timeliness figures are given only over at least ``threshold`` referrals. Test
referrals (``is_test``) are never counted.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.db import tables

__all__ = ["compute_statistics", "suppress"]

Count = int | str


def suppress(counts: Counter[str], threshold: int) -> dict[str, Count]:
    """Apply primary and secondary suppression to one breakdown."""
    shown: dict[str, Count] = dict(sorted(counts.items()))
    small = [key for key, n in counts.items() if 0 < n < threshold]
    for key in small:
        shown[key] = f"<{threshold}"
    if len(small) == 1:
        others = sorted((n, key) for key, n in counts.items() if n >= threshold)
        if others:
            shown[others[0][1]] = "suppressed"
    return shown


def _hours(pairs: Iterable[tuple[datetime, datetime | None]]) -> list[float]:
    return [(end - start).total_seconds() / 3600 for start, end in pairs if end is not None]


def _timeliness(hours: list[float], threshold: int) -> dict[str, Any]:
    if len(hours) < threshold:
        return {
            "referrals": f"<{threshold}" if hours else 0,
            "median_hours": None,
            "p90_hours": None,
        }
    ordered = sorted(hours)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "referrals": len(hours),
        "median_hours": round(statistics.median(ordered), 1),
        "p90_hours": round(p90, 1),
    }


def compute_statistics(session: Session, *, threshold: int) -> dict[str, Any]:
    """The published statistics (spec/api.md, "Statistics")."""
    rows = session.execute(
        sa.select(
            tables.Referral.id,
            tables.Referral.asw_id,
            tables.Referral.received_at,
            tables.Referral.urgency,
            tables.Referral.state,
            tables.Referral.outcome,
            tables.Referral.first_triaged_at,
            tables.Referral.outcome_at,
        ).where(tables.Referral.is_test.is_(False))
    ).all()
    live = {row.id for row in rows}
    indicator_rows = session.execute(
        sa.select(tables.ReferralIndicator.referral_pk, tables.ReferralIndicator.code)
    ).all()
    by_indicator: Counter[str] = Counter()
    for referral_pk, code in {(r.referral_pk, r.code) for r in indicator_rows}:
        if referral_pk in live:
            by_indicator[code] += 1
    total = len(rows)
    return {
        "suppression": {
            "threshold": threshold,
            "rule": f"counts from 1 to {threshold - 1} are shown as '<{threshold}'; where one "
            "cell of a breakdown is suppressed, the next smallest is shown as 'suppressed'",
        },
        "referrals": total if total == 0 or total >= threshold else f"<{threshold}",
        "by_month": suppress(Counter(r.received_at.strftime("%Y-%m") for r in rows), threshold),
        "by_asw": suppress(Counter(r.asw_id for r in rows), threshold),
        "by_indicator": suppress(by_indicator, threshold),
        "by_urgency": suppress(Counter(r.urgency for r in rows), threshold),
        "by_state": suppress(Counter(r.state for r in rows), threshold),
        "by_outcome": suppress(Counter(r.outcome for r in rows if r.outcome), threshold),
        "time_to_first_triage": _timeliness(
            _hours((r.received_at, r.first_triaged_at) for r in rows), threshold
        ),
        "time_to_outcome": _timeliness(
            _hours((r.received_at, r.outcome_at) for r in rows), threshold
        ),
    }
