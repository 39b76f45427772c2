"""THRIVE risk assessments and entity research findings (analysts).

Both are append-only records: a new assessment or finding is a new row; nothing is edited.
Findings are graded (3x5x2), shown with the cluster, carried into packages and never shown to
an ASW. Every record and every read is audited in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.sealed import Grading
from strive_schema.semantics import Finding
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services.audit import Actor, record_event

__all__ = [
    "PRIORITIES",
    "THRIVE_FIELDS",
    "assessment_view",
    "cluster_research",
    "grading_from",
    "latest_cluster_assessment",
    "record_assessment",
    "record_finding",
]

THRIVE_FIELDS: Final = (
    "threat", "harm", "risk", "investigation", "vulnerability", "engagement",
)  # fmt: skip
"""The six considerations of THRIVE (NPCC), in order."""
PRIORITIES: Final = ("P1", "P2", "P3", "P4")


def grading_from(
    source_evaluation: str,
    intelligence_assessment: str,
    handling_code: str,
    handling_conditions: str | None,
    *,
    pointer: str = "/grading",
) -> Grading:
    """A 3x5x2 grading, or a 422 ``request_invalid`` naming the field.

    Raises:
        Problem: 422 ``request_invalid``.
    """
    try:
        return Grading(
            source_evaluation, intelligence_assessment, handling_code,
            handling_conditions or None,
        )  # fmt: skip
    except ValueError as exc:
        raise Problem(
            422,
            ProblemCode.REQUEST_INVALID,
            f"grading: {exc}",
            errors=[Finding(pointer, "invalid_value", str(exc), kind="schema")],
        ) from None


def record_assessment(
    session: Session,
    *,
    cluster: tables.Cluster | None,
    referral: tables.Referral | None,
    considerations: dict[str, str],
    rationale: str,
    priority: str,
    actor: Actor,
) -> tables.Assessment:
    """Record a THRIVE assessment of a cluster or of one referral."""
    row = tables.Assessment(
        cluster_id=cluster.id if cluster else None,
        referral_pk=referral.id if referral else None,
        rationale=rationale,
        priority=priority,
        assessed_by=actor.name,
        assessed_at=datetime.now(UTC),
        **{name: considerations[name] for name in THRIVE_FIELDS},
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="assessment.recorded",
        referral_pk=referral.id if referral else None,
        detail={
            "assessment_id": row.id,
            "cluster_id": row.cluster_id,
            "priority": priority,
        },
    )
    return row


def assessment_view(row: tables.Assessment, session: Session) -> dict[str, Any]:
    referral = session.get(tables.Referral, row.referral_pk) if row.referral_pk else None
    return {
        "id": row.id,
        "cluster_id": row.cluster_id,
        "referral_id": referral.referral_id if referral else None,
        **{name: getattr(row, name) for name in THRIVE_FIELDS},
        "rationale": row.rationale,
        "priority": row.priority,
        "assessed_by": row.assessed_by,
        "assessed_at": row.assessed_at,
    }


def absorbed_clusters(session: Session, cluster: tables.Cluster) -> list[int]:
    """The cluster's id and those of every cluster merged into it, directly or through
    another merge: assessments and findings recorded on those carry over."""
    found = [cluster.id]
    frontier = [cluster.id]
    while frontier:
        frontier = list(
            session.scalars(
                sa.select(tables.Cluster.id).where(tables.Cluster.merged_into.in_(frontier))
            )
        )
        found += [c for c in frontier if c not in found]
    return found


def latest_cluster_assessment(
    session: Session, cluster: tables.Cluster, referral_pks: list[int]
) -> tables.Assessment | None:
    """The assessment a dissemination of the cluster rests on: the latest of the cluster
    (or of a cluster merged into it), else, when every referral in it was assessed on its
    own, the latest of those."""
    of_cluster = session.scalars(
        sa.select(tables.Assessment)
        .where(tables.Assessment.cluster_id.in_(absorbed_clusters(session, cluster)))
        .order_by(tables.Assessment.id.desc())
        .limit(1)
    ).first()
    if of_cluster is not None:
        return of_cluster
    if not referral_pks:
        return None
    per_referral = session.scalars(
        sa.select(tables.Assessment)
        .where(tables.Assessment.referral_pk.in_(referral_pks))
        .order_by(tables.Assessment.id.desc())
    ).all()
    if {row.referral_pk for row in per_referral} != set(referral_pks):
        return None
    return per_referral[0]


def _subject(
    session: Session, *, cluster_id: int | None, referral: tables.Referral | None
) -> int | None:
    if cluster_id is not None and session.get(tables.Cluster, cluster_id) is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such cluster")
    if referral is not None:
        return referral.cluster_id
    return cluster_id


def record_finding(
    session: Session,
    *,
    cluster_id: int | None,
    referral: tables.Referral | None,
    selector: tuple[str, str] | None,
    finding: str,
    source_reference: str,
    grading: Grading,
    actor: Actor,
) -> tables.ResearchFinding:
    """Record a research finding on a cluster, a referral or a selector value.

    A finding on a referral is also shown with its cluster; a finding on a selector with
    every cluster holding that value.

    Raises:
        Problem: 404 ``not_found`` for an unknown cluster.
    """
    row = tables.ResearchFinding(
        cluster_id=_subject(session, cluster_id=cluster_id, referral=referral),
        referral_pk=referral.id if referral else None,
        selector_kind=selector[0] if selector else None,
        selector_value=selector[1] if selector else None,
        finding=finding,
        source_reference=source_reference,
        source_evaluation=grading.source_evaluation,
        intelligence_assessment=grading.intelligence_assessment,
        handling_code=grading.handling_code,
        handling_conditions=grading.handling_conditions,
        recorded_by=actor.name,
        recorded_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    # The audit trail never holds the finding or the selector value: ids and the grading.
    record_event(
        session,
        actor=actor,
        action="research.recorded",
        referral_pk=row.referral_pk,
        detail={
            "finding_id": row.id,
            "cluster_id": row.cluster_id,
            "selector_kind": row.selector_kind,
            "grading": grading.code,
        },
    )
    return row


def finding_view(row: tables.ResearchFinding, session: Session) -> dict[str, Any]:
    referral = session.get(tables.Referral, row.referral_pk) if row.referral_pk else None
    return {
        "id": row.id,
        "cluster_id": row.cluster_id,
        "referral_id": referral.referral_id if referral else None,
        "selector": (
            {"kind": row.selector_kind, "value": row.selector_value} if row.selector_kind else None
        ),
        "finding": row.finding,
        "source_reference": row.source_reference,
        "grading": Grading(
            row.source_evaluation,
            row.intelligence_assessment,
            row.handling_code,
            row.handling_conditions,
        ).to_json(),
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at,
    }


def cluster_findings(session: Session, cluster: tables.Cluster) -> list[tables.ResearchFinding]:
    """Findings on the cluster (or clusters merged into it), its referrals, and the selector
    values it holds; oldest first."""
    clusters = absorbed_clusters(session, cluster)
    members = sa.select(tables.Referral.id).where(tables.Referral.cluster_id == cluster.id)
    values = sa.select(tables.Selector.kind, tables.Selector.value).where(
        tables.Selector.referral_pk.in_(members)
    )
    finding = tables.ResearchFinding
    return list(
        session.scalars(
            sa.select(finding)
            .where(
                sa.or_(
                    finding.cluster_id.in_(clusters),
                    finding.referral_pk.in_(members),
                    sa.tuple_(finding.selector_kind, finding.selector_value).in_(values),
                )
            )
            .order_by(finding.id)
        )
    )


def cluster_research(
    session: Session, cluster: tables.Cluster, *, actor: Actor, reason: str | None
) -> dict[str, Any]:
    """The assessments and research findings shown with a cluster (audited)."""
    member_pks = list(
        session.scalars(
            sa.select(tables.Referral.id).where(tables.Referral.cluster_id == cluster.id)
        )
    )
    assessments = session.scalars(
        sa.select(tables.Assessment)
        .where(
            sa.or_(
                tables.Assessment.cluster_id.in_(absorbed_clusters(session, cluster)),
                tables.Assessment.referral_pk.in_(member_pks),
            )
        )
        .order_by(tables.Assessment.id)
    ).all()
    findings = cluster_findings(session, cluster)
    record_event(
        session,
        actor=actor,
        action="cluster.research_read",
        reason=reason,
        detail={"cluster_id": cluster.id, "findings": len(findings)},
    )
    return {
        "cluster_id": cluster.id,
        "assessments": [assessment_view(a, session) for a in assessments],
        "findings": [finding_view(f, session) for f in findings],
    }
