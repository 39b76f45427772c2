"""Retention and review: each referral's review date, and erasure of its content after review.

Police information is reviewed under the Management of Police Information (MoPI) rules and
must not be kept longer than necessary (Data Protection Act 2018, Part 3, sections 39 and 47).
The review period follows the most consequential outcome ever recorded on the referral,
counted from the last outcome (or from receipt when there is none): MoPI's group 2 (sexual,
violent or serious offences) ten years for an arrest, charge or conviction, and its group 3
(all other information) six years otherwise. A receiver changes them with
``STRIVE_RETENTION_REVIEW_DAYS``.

Erasure keeps what proves and counts: the referral row (ASW, id, digests, received time, the
signed receipt), its indicators, state transitions, outcomes, the audit trail and the
statistics. It removes what identifies people: the signed envelope and the document, the
selectors, the cluster values only it held, the text of research findings on it, and its
evidence files (their rows here; the route removes the stored objects no other referral holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services.attachments import forget_files
from strive_server.services.audit import Actor, record_event

__all__ = ["DEFAULT_REVIEW_DAYS", "erase_referral", "review_view"]

_TEN_YEARS, _SIX_YEARS = 3653, 2192
DEFAULT_REVIEW_DAYS: Final[dict[str, int]] = {
    "conviction": _TEN_YEARS,
    "charge": _TEN_YEARS,
    "arrest": _TEN_YEARS,
    "victim_safeguarded": _SIX_YEARS,
    "safeguarding_visit": _SIX_YEARS,
    "linked_to_existing_operation": _SIX_YEARS,
    "intelligence_logged": _SIX_YEARS,
    "no_further_action": _SIX_YEARS,
    "none": _SIX_YEARS,
}
ERASED_MARKER: Final = "[erased after review]"


def _review(
    session: Session, row: tables.Referral, overrides: Mapping[str, int]
) -> tuple[datetime, str]:
    periods = {**DEFAULT_REVIEW_DAYS, **overrides}
    events = session.execute(
        sa.select(tables.StateTransition.outcome, tables.StateTransition.at).where(
            tables.StateTransition.referral_pk == row.id,
            tables.StateTransition.outcome.is_not(None),
        )
    ).all()
    outcomes = {str(outcome) for outcome, _ in events}
    basis = max(outcomes or {"none"}, key=lambda o: periods.get(o, periods["none"]))
    start = max([row.received_at, *(at for _, at in events)])
    return start + timedelta(days=periods.get(basis, periods["none"])), basis


def review_view(
    session: Session, row: tables.Referral, *, overrides: Mapping[str, int]
) -> dict[str, Any]:
    """The referral's review date and its basis, and whether it was erased."""
    due, basis = _review(session, row, overrides)
    erasure = session.get(tables.ReferralErasure, row.id)
    return {
        "referral_id": row.referral_id,
        "review_due": due,
        "basis": basis,
        "erased": erasure is not None,
        "erased_at": erasure.erased_at if erasure else None,
        "erased_by": erasure.erased_by if erasure else None,
        "envelope_sha256": row.envelope_sha256,
        "referral_digest": row.referral_digest,
    }


def _forget_values(session: Session, row: tables.Referral) -> None:
    selectors = session.execute(
        sa.select(tables.Selector.kind, tables.Selector.value).where(
            tables.Selector.referral_pk == row.id
        )
    ).all()
    for kind, value in set(selectors):
        stat = session.get(tables.SelectorStat, (kind, value), with_for_update=True)
        if stat is not None:
            stat.referral_count = max(stat.referral_count - 1, 0)
            if stat.referral_count == 0:
                session.delete(stat)
        if row.cluster_id is None:
            continue
        others = session.scalar(
            sa.select(sa.func.count())
            .select_from(tables.Selector)
            .join(tables.Referral, tables.Referral.id == tables.Selector.referral_pk)
            .where(
                tables.Selector.kind == kind, tables.Selector.value == value,
                tables.Referral.cluster_id == row.cluster_id, tables.Referral.id != row.id,
            )
        )  # fmt: skip
        if not others:
            session.execute(
                sa.delete(tables.ClusterValue).where(
                    tables.ClusterValue.cluster_id == row.cluster_id,
                    tables.ClusterValue.value == value,
                    tables.ClusterValue.kind == kind,
                )
            )
    forget_files(session, row.id)  # evidence files: rows, PDQ index, picture matches
    session.execute(sa.delete(tables.Selector).where(tables.Selector.referral_pk == row.id))


def erase_referral(
    session: Session,
    row: tables.Referral,
    *,
    reason: str,
    actor: Actor,
    overrides: Mapping[str, int],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Erase a closed referral's content once its review date has passed (supervisors).

    Raises:
        Problem: 409 ``review_not_due`` when it is not closed or its review date is still
            ahead; 409 ``conflict`` when it was already erased.
    """
    clock = now or datetime.now(UTC)
    if session.get(tables.ReferralErasure, row.id) is not None:
        raise Problem(409, ProblemCode.CONFLICT, "the referral's content was already erased")
    due, basis = _review(session, row, overrides)
    if row.state != "closed":
        raise Problem(409, ProblemCode.REVIEW_NOT_DUE, "close the referral before erasing it")
    if due > clock:
        raise Problem(
            409,
            ProblemCode.REVIEW_NOT_DUE,
            f"the review date ({due.date().isoformat()}, {basis}) has not passed",
        )
    session.add(
        tables.ReferralErasure(
            referral_pk=row.id, erased_at=clock, erased_by=actor.name, reason=reason,
            review_basis=basis, envelope_sha256=row.envelope_sha256,
            referral_digest=row.referral_digest,
        )
    )  # fmt: skip
    session.flush()
    _forget_values(session, row)
    for finding in session.scalars(
        sa.select(tables.ResearchFinding).where(tables.ResearchFinding.referral_pk == row.id)
    ):
        finding.finding = ERASED_MARKER
        finding.selector_value = None
    if row.cluster_id is not None:
        cluster = session.get(tables.Cluster, row.cluster_id, with_for_update=True)
        if cluster is not None:
            cluster.referral_count = max(cluster.referral_count - 1, 0)
    row.envelope = b""
    row.document = {}
    row.cluster_id = None
    row.updated_at = clock
    record_event(
        session,
        actor=actor,
        action="referral.erased",
        referral_pk=row.id,
        reason=reason,
        detail={"review_basis": basis, "envelope_sha256": row.envelope_sha256},
    )
    return review_view(session, row, overrides=overrides)
