"""Accountability figures for the path from referral to outcome (the MPs' question): how many
referrals were received, assessed, disseminated, and with each outcome ever recorded, by month
of receipt and by ASW, and the median days from receipt to dissemination and to the first
outcome. Counts are suppressed as in ``services/stats.py``; test referrals are never counted.

An outcome counts once per referral however often it was recorded, and a later outcome never
hides an earlier one: an arrest followed by a charge counts as both. As in ``stats.py``, every
figure is computed by the database (``GROUP BY`` and ``EXISTS`` for counts, ``ORDER BY ...
LIMIT 1 OFFSET k`` for medians), so memory does not grow with the number of referrals.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.db import tables
from strive_server.services.stats import _hours_between, _month, suppress

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


def _assessed_clusters(session: Session) -> list[int]:
    """Clusters assessed directly or through a cluster merged into them (as many as there are
    cluster assessments, not referrals)."""
    assessed = set(
        session.scalars(
            sa.select(tables.Assessment.cluster_id).where(tables.Assessment.cluster_id.is_not(None))
        )
    )
    frontier = set(assessed)
    while frontier:
        frontier = (
            set(
                session.scalars(
                    sa.select(tables.Cluster.merged_into).where(
                        tables.Cluster.id.in_(frontier), tables.Cluster.merged_into.is_not(None)
                    )
                )
            )
            - assessed
        )
        assessed |= {c for c in frontier if c is not None}
    return sorted(c for c in assessed if c is not None)


def _predicates(session: Session) -> dict[str, sa.ColumnElement[bool]]:
    referral = tables.Referral
    transition = tables.StateTransition

    def ever(codes: tuple[str, ...]) -> sa.ColumnElement[bool]:
        return sa.exists().where(
            transition.referral_pk == referral.id, transition.outcome.in_(codes)
        )

    return {
        "received": sa.true(),
        "assessed": sa.or_(
            sa.exists().where(tables.Assessment.referral_pk == referral.id),
            referral.cluster_id.in_(_assessed_clusters(session)),
        ),
        "disseminated": sa.exists().where(tables.DisseminationReferral.referral_pk == referral.id),
        **{name: ever(codes) for name, codes in OUTCOME_GROUPS.items()},
    }


def _median_days(session: Session, dialect: str, first: Any, threshold: int) -> dict[str, Any]:
    """Median (nearest ranks, averaged when even) of the days from receipt to ``first``, a
    subquery of (referral_pk, at)."""
    referral = tables.Referral
    hours = _hours_between(dialect, referral.received_at, first.c.at)
    base = (
        sa.select(hours)
        .select_from(referral)
        .join(first, first.c.referral_pk == referral.id)
        .where(referral.is_test.is_(False))
    )
    n = int(session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0)
    figures: dict[str, Any] = {"referrals": _count(n, threshold), "median_days": None}
    if n < threshold or n == 0:
        return figures

    def nth(index: int) -> float:
        query = base.order_by(hours, referral.id).limit(1).offset(index)
        return float(session.execute(query).scalar_one())

    middle = nth((n - 1) // 2)
    if n % 2 == 0:
        middle = (middle + nth(n // 2)) / 2
    figures["median_days"] = round(max(middle, 0.0) / 24.0, 1)
    return figures


def pathway_statistics(session: Session, *, threshold: int) -> dict[str, Any]:
    """The pathway figures (spec/api.md, "Statistics")."""
    dialect = session.get_bind().dialect.name
    referral = tables.Referral
    live = referral.is_test.is_(False)
    month = _month(dialect)
    figures: dict[str, Any] = {}
    by_month: dict[str, Any] = {}
    by_asw: dict[str, Any] = {}
    for name, predicate in _predicates(session).items():
        total = session.scalar(
            sa.select(sa.func.count()).select_from(referral).where(live, predicate)
        )
        figures[name] = _count(int(total or 0), threshold)
        for target, column in ((by_month, month), (by_asw, referral.asw_id)):
            rows = session.execute(
                sa.select(column, sa.func.count())
                .select_from(referral)
                .where(live, predicate)
                .group_by(column)
            )
            target[name] = suppress({str(key): int(n) for key, n in rows}, threshold)
    figures["by_month"] = by_month
    figures["by_asw"] = by_asw
    link, sent = tables.DisseminationReferral, tables.Dissemination
    first_sent = (
        sa.select(link.referral_pk.label("referral_pk"), sa.func.min(sent.sent_at).label("at"))
        .join(sent, sent.id == link.dissemination_id)
        .group_by(link.referral_pk)
        .subquery()
    )
    transition = tables.StateTransition
    first_outcome = (
        sa.select(
            transition.referral_pk.label("referral_pk"), sa.func.min(transition.at).label("at")
        )
        .where(transition.outcome.is_not(None))
        .group_by(transition.referral_pk)
        .subquery()
    )
    figures["time_to_dissemination"] = _median_days(session, dialect, first_sent, threshold)
    figures["time_to_first_outcome"] = _median_days(session, dialect, first_outcome, threshold)
    return figures
