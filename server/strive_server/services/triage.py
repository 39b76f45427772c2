"""Explainable risk triage: a score per referral and per cluster, bands P1 to P4.

A referral's priority is its own score (from its content) plus its cluster's score (from what
the cluster shows: accounts, phones and payers per account, payment cards shared across
accounts, ASWs, regions, linked referrals). A suspected child makes a referral P1, always,
and lifts its whole cluster. Every point comes with a reason, returned with the score
(spec/triage.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.models import Referral as ReferralModel
from strive_server.db import tables

__all__ = [
    "CHILD_BONUS",
    "band_for",
    "cluster_score",
    "own_score",
    "rescore_cluster",
]

RISK_POINTS: Final = {"high": 30, "medium": 15, "low": 5}
URGENCY_POINTS: Final = {"immediate": 25, "priority": 12, "routine": 0}
CHILD_BONUS: Final = 1000
"""Added to the priority of a referral that suspects a child: above every other referral."""
BANDS: Final = (("P1", 80), ("P2", 55), ("P3", 30), ("P4", 0))

Breakdown = list[dict[str, Any]]


def _factor(factor: str, points: int, detail: str) -> dict[str, Any]:
    return {"factor": factor, "points": points, "detail": detail}


def suspects_child(referral: ReferralModel) -> bool:
    """A suspected under-18: the indicator, a customer report saying so, or an advertised age
    under 18."""
    return (
        any(i.code == "suspected_under_18" for i in referral.indicators)
        or any("suspected_underage" in r.categories for r in referral.customer_reports)
        or any(a.advertised_age is not None and a.advertised_age < 18 for a in referral.adverts)
    )


def own_score(referral: ReferralModel) -> tuple[int, Breakdown, bool]:
    """Points from the referral's own content, their reasons, and whether a child is suspected."""
    breakdown: Breakdown = []
    risks = sorted((RISK_POINTS[i.risk] for i in referral.indicators), reverse=True)
    breakdown.append(_factor("highest_indicator_risk", risks[0], "the highest indicator risk"))
    extra = min(12, 3 * (len(risks) - 1))
    if extra:
        breakdown.append(_factor("more_indicators", extra, f"{len(risks)} indicators"))
    urgency = URGENCY_POINTS[referral.urgency.level]
    if urgency:
        breakdown.append(_factor("urgency", urgency, f"urgency {referral.urgency.level}"))
    child = suspects_child(referral)
    if child:
        breakdown.append(_factor("suspected_under_18", CHILD_BONUS, "a child is suspected: P1"))
    return sum(f["points"] for f in breakdown), breakdown, child


def cluster_score(counts: dict[str, int], referral_count: int) -> tuple[int, Breakdown]:
    """Points from what the cluster shows (distinct normalised values by kind)."""
    accounts = counts.get("account", 0)
    phones = counts.get("phone", 0)
    payers = counts.get("payer_name", 0)
    asws = counts.get("asw", 0)
    regions = counts.get("region", 0)
    breakdown: Breakdown = []
    if referral_count > 1:
        points = min(15, 3 * (referral_count - 1))
        breakdown.append(_factor("linked_referrals", points, f"{referral_count} linked referrals"))
    if accounts > 1:
        points = min(20, 2 * (accounts - 1))
        breakdown.append(_factor("accounts", points, f"{accounts} accounts"))
    if accounts and phones > accounts:
        points = min(15, 5 * (phones // accounts))
        breakdown.append(
            _factor("phones_per_account", points, f"{phones} phones, {accounts} accounts")
        )
    if payers and accounts > 1 and payers < accounts:
        breakdown.append(_factor("shared_payers", 10, f"{payers} payers for {accounts} accounts"))
    cards, card_accounts = counts.get("paying_card", 0), counts.get("card_account", 0)
    if cards and card_accounts > cards:
        # Each pair beyond one per card is an account paid for by a card that pays for another.
        points = min(20, 10 * (card_accounts - cards))
        detail = (
            f"a card pays for several accounts: {card_accounts} card-account pairs, {cards} cards"
        )
        breakdown.append(_factor("shared_cards", points, detail))
    if asws > 1:
        breakdown.append(_factor("asws", min(20, 10 * (asws - 1)), f"{asws} ASWs"))
    if regions > 1:
        breakdown.append(_factor("regions", min(15, 5 * (regions - 1)), f"{regions} regions"))
    return sum(f["points"] for f in breakdown), breakdown


def band_for(priority: int) -> str:
    """P1 to P4 for a priority score."""
    return next(band for band, floor in BANDS if priority >= floor)


def _band_case(score: Any) -> Any:
    return sa.case(*((score >= floor, band) for band, floor in BANDS[:-1]), else_=BANDS[-1][0])


def score_new_cluster(cluster: tables.Cluster, referral: tables.Referral) -> None:
    """Score a cluster that holds only ``referral`` and rank the referral (no statement)."""
    score, breakdown = cluster_score(dict(cluster.counts or {}), cluster.referral_count)
    if cluster.under_18:
        breakdown.append(_factor("child_in_network", 30, "a child is suspected in this network"))
        score += 30
    cluster.score = score
    cluster.breakdown = breakdown
    referral.priority_score = referral.own_score + score
    referral.priority_band = band_for(referral.priority_score)


def rescore_cluster(
    session: Session, cluster: tables.Cluster, *, rerank: list[int] | None = None
) -> None:
    """Raise the cluster's score if what it now shows is worth more; then re-rank every
    referral in it in one statement (referrals that were medium on their own become high
    together). The score never falls: a network's risk does not drop because more accounts
    dilute a ratio. Each factor is capped, so a cluster is fully re-ranked a bounded number of
    times in its life; otherwise only ``rerank`` (the newcomer and referrals a merge moved in)
    is ranked, and growing a large cluster stays cheap."""
    score, breakdown = cluster_score(dict(cluster.counts or {}), cluster.referral_count)
    if cluster.under_18:
        breakdown.append(_factor("child_in_network", 30, "a child is suspected in this network"))
        score += 30
    raised = score > cluster.score
    if raised:
        cluster.score = score
        cluster.breakdown = breakdown
    session.flush()
    table = cast(sa.Table, tables.Referral.__table__)
    referrals = table.c
    priority = referrals.own_score + cluster.score
    # Core: the ORM would re-evaluate every loaded referral against the criteria.
    statement = sa.update(table).values(priority_score=priority, priority_band=_band_case(priority))
    if raised or rerank is None:
        session.execute(statement.where(referrals.cluster_id == cluster.id))
    elif rerank:
        session.execute(statement.where(referrals.id.in_(rerank)))


def describe(referral: tables.Referral, cluster: tables.Cluster | None) -> dict[str, Any]:
    """The score breakdown as returned with a referral."""
    cluster_part: Iterable[dict[str, Any]] = cluster.breakdown if cluster else []
    return {
        "priority_score": referral.priority_score,
        "priority_band": referral.priority_band,
        "own": referral.own_breakdown,
        "cluster": list(cluster_part),
    }
