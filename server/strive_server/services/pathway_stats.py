"""Accountability figures for the path from referral to outcome (the MPs' question): how many
referrals were received, assessed, disseminated, and with each outcome ever recorded, by month
of receipt and by ASW, and the median days from receipt to dissemination and to the first
outcome. Counts are suppressed as in ``services/stats.py``; test referrals are never counted.

An outcome counts once per referral however often it was recorded, and a later outcome never
hides an earlier one: an arrest followed by a charge counts as both.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.db import tables
from strive_server.services.stats import suppress

__all__ = ["OUTCOME_GROUPS", "pathway_statistics"]

OUTCOME_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "arrest": ("arrest",),
    "charge": ("charge",),
    "conviction": ("conviction",),
    "safeguarding": ("safeguarding_visit", "victim_safeguarded"),
    "no_further_action": ("no_further_action",),
}


def _count(n: int, threshold: int) -> int | str:
    return n if n == 0 or n >= threshold else f"<{threshold}"


def _median_days(durations: list[float], threshold: int) -> dict[str, Any]:
    return {
        "referrals": _count(len(durations), threshold),
        "median_days": (
            round(statistics.median(durations), 1) if len(durations) >= threshold else None
        ),
    }


def _days(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0) / 86400.0


def pathway_statistics(session: Session, *, threshold: int) -> dict[str, Any]:
    """The pathway figures (spec/api.md, "Statistics")."""
    referral = tables.Referral
    live = session.execute(
        sa.select(referral.id, referral.asw_id, referral.received_at, referral.cluster_id).where(
            referral.is_test.is_(False)
        )
    ).all()
    info = {pk: (asw, received, cluster) for pk, asw, received, cluster in live}
    assessed_clusters = set(
        session.scalars(
            sa.select(tables.Assessment.cluster_id).where(tables.Assessment.cluster_id.is_not(None))
        )
    )
    merged_into = dict(
        session.execute(
            sa.select(tables.Cluster.id, tables.Cluster.merged_into).where(
                tables.Cluster.merged_into.is_not(None)
            )
        ).all()
    )
    for assessed_cluster in list(assessed_clusters):  # carried over merges, however many
        current, seen = assessed_cluster, 0
        while current in merged_into and seen < 1000:
            current, seen = merged_into[current], seen + 1
            assessed_clusters.add(current)
    assessed_referrals = set(
        session.scalars(
            sa.select(tables.Assessment.referral_pk).where(
                tables.Assessment.referral_pk.is_not(None)
            )
        )
    )
    assessed = {
        pk
        for pk, (_, _, cluster) in info.items()
        if pk in assessed_referrals or cluster in assessed_clusters
    }
    link, sent = tables.DisseminationReferral, tables.Dissemination
    first_sent = dict(
        session.execute(
            sa.select(link.referral_pk, sa.func.min(sent.sent_at))
            .join(sent, sent.id == link.dissemination_id)
            .group_by(link.referral_pk)
        ).all()
    )
    transition = tables.StateTransition
    outcome_rows = session.execute(
        sa.select(transition.referral_pk, transition.outcome, sa.func.min(transition.at))
        .where(transition.outcome.is_not(None))
        .group_by(transition.referral_pk, transition.outcome)
    ).all()
    outcomes: dict[int, set[str]] = defaultdict(set)
    first_outcome: dict[int, datetime] = {}
    for pk, outcome, at in outcome_rows:
        if pk not in info or outcome is None:
            continue
        outcomes[pk].add(outcome)
        first_outcome[pk] = min(at, first_outcome.get(pk, at))

    def month(pk: int) -> str:
        return info[pk][1].strftime("%Y-%m")

    def asw(pk: int) -> str:
        return info[pk][0]

    groups: dict[str, Iterable[int]] = {
        "received": info.keys(),
        "assessed": assessed,
        "disseminated": [pk for pk in first_sent if pk in info],
        **{
            name: [pk for pk, seen in outcomes.items() if seen & set(codes)]
            for name, codes in OUTCOME_GROUPS.items()
        },
    }
    figures: dict[str, Any] = {}
    by_month: dict[str, Any] = {}
    by_asw: dict[str, Any] = {}
    for name, pks in groups.items():
        members = list(pks)
        figures[name] = _count(len(members), threshold)
        months: dict[str, int] = defaultdict(int)
        asws: dict[str, int] = defaultdict(int)
        for pk in members:
            months[month(pk)] += 1
            asws[asw(pk)] += 1
        by_month[name] = suppress(months, threshold)
        by_asw[name] = suppress(asws, threshold)
    figures["by_month"] = by_month
    figures["by_asw"] = by_asw
    figures["time_to_dissemination"] = _median_days(
        [_days(info[pk][1], at) for pk, at in first_sent.items() if pk in info], threshold
    )
    figures["time_to_first_outcome"] = _median_days(
        [_days(info[pk][1], at) for pk, at in first_outcome.items()], threshold
    )
    return figures
