"""Exploring links: the triage queue, a referral's links, clusters, selector search.

Every function that returns personal data records an audit event in the caller's transaction.
Lists are paged with opaque cursors (keyset pagination: stable under concurrent inserts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_schema.normalise import fold_name
from strive_schema.semantics import Finding
from strive_server.db import tables
from strive_server.db.queries import kind_value_in
from strive_server.problems import Problem
from strive_server.services.audit import Actor, record_event
from strive_server.services.selectors import bounded, normalise_typed
from strive_server.services.triage import describe

__all__ = [
    "cluster_members",
    "cluster_selectors",
    "cluster_summary",
    "current_cluster",
    "referral_links",
    "search_selector",
    "triage_queue",
]

MAX_PAGE: Final = 200


def _encode(*parts: object) -> str:
    return base64.urlsafe_b64encode(":".join(str(p) for p in parts).encode()).decode()


_CURSOR_INTEGERS: Final = range(-(2**31), 2**31)
"""Cursors hold ids and scores: PostgreSQL ``integer`` values. Anything else was never given."""


def _bad_cursor() -> Problem:
    message = "the cursor is not one this server gave"
    return Problem(
        422, ProblemCode.REQUEST_INVALID, message,
        errors=[Finding("/query/cursor", "invalid_value", f"query parameter cursor: {message}",
                        kind="schema")],
    )  # fmt: skip


def _decode(cursor: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", count - 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    if len(parts) != count or any("\x00" in part for part in parts):
        raise _bad_cursor()
    return parts


def _int_parts(cursor: str, count: int) -> list[int]:
    try:
        numbers = [int(p) for p in _decode(cursor, count)]
    except ValueError:
        raise _bad_cursor() from None
    if any(number not in _CURSOR_INTEGERS for number in numbers):
        raise _bad_cursor()
    return numbers


_REGION_CODES: Final = {
    "north east": "TLC", "north west": "TLD", "yorkshire and the humber": "TLE",
    "east midlands": "TLF", "west midlands": "TLG", "east of england": "TLH", "london": "TLI",
    "south east": "TLJ", "south west": "TLK", "wales": "TLL", "scotland": "TLM",
    "northern ireland": "TLN",
}  # fmt: skip


def region_key(region: str) -> str:
    """The selector value of a region given as an ITL1 code or a name ("North East")."""
    if len(region) == 3 and region.upper().startswith("TL"):
        return region.upper()
    folded = fold_name(region) or region
    return _REGION_CODES.get(folded.removeprefix("the "), folded)


def record_reads(
    session: Session,
    *,
    actor: Actor,
    action: str,
    referral_pks: Iterable[int],
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit event per referral whose personal data a read returned, so that
    ``GET /v1/audit?referral_id=`` answers "who saw this referral's data?" completely."""
    for referral_pk in sorted(set(referral_pks)):
        record_event(
            session, actor=actor, action=action, referral_pk=referral_pk, reason=reason,
            detail=detail,
        )  # fmt: skip


def triage_queue(
    session: Session,
    *,
    actor: Actor,
    state: str | None,
    band: str | None,
    region: str | None,
    asw_id: str | None,
    include_test: bool,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Referrals by priority (highest first), filtered, one page at a time."""
    r = tables.Referral
    query = sa.select(r)
    query = query.where(r.state == state) if state is not None else query.where(r.state != "closed")
    if band is not None:
        query = query.where(r.priority_band == band)
    if asw_id is not None:
        query = query.where(r.asw_id == asw_id)
    if not include_test:
        query = query.where(r.is_test.is_(False))
    if region is not None:
        area = region_key(region)
        # A semi-join over the region's selectors (one index range), not a probe per referral.
        in_region = sa.select(tables.Selector.referral_pk).where(
            tables.Selector.kind == "region", tables.Selector.value == area
        )
        query = query.where(r.id.in_(in_region))
    if cursor:
        score, last_id = _int_parts(cursor, 2)
        query = query.where(
            sa.or_(r.priority_score < score, sa.and_(r.priority_score == score, r.id < last_id))
        )
    rows = session.scalars(
        query.order_by(r.priority_score.desc(), r.id.desc()).limit(limit + 1)
    ).all()
    page = rows[:limit]
    record_event(
        session,
        actor=actor,
        action="triage.read",
        detail={"count": len(page), "band": band, "state": state},
    )
    clusters = {
        c.id: c
        for c in session.scalars(
            sa.select(tables.Cluster).where(tables.Cluster.id.in_({row.cluster_id for row in page}))
        )
    }
    return {
        "items": [
            {
                "referral_id": row.referral_id,
                "asw_id": row.asw_id,
                "received_at": row.received_at,
                "state": row.state,
                "urgency": row.urgency,
                "cluster_id": row.cluster_id,
                "cluster_referrals": clusters[row.cluster_id].referral_count
                if row.cluster_id in clusters
                else 1,
                **describe(row, clusters.get(row.cluster_id) if row.cluster_id else None),
            }
            for row in page
        ],
        "next_cursor": _encode(page[-1].priority_score, page[-1].id) if len(rows) > limit else None,
    }


def current_cluster(session: Session, cluster_id: int) -> tables.Cluster:
    """The cluster, following merges to the one that absorbed it."""
    cluster = session.get(tables.Cluster, cluster_id)
    seen = 0
    while cluster is not None and cluster.merged_into is not None and seen < 1000:
        cluster = session.get(tables.Cluster, cluster.merged_into)
        seen += 1
    if cluster is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such cluster")
    return cluster


def cluster_summary(
    session: Session, cluster: tables.Cluster, *, actor: Actor, reason: str | None = None
) -> dict[str, Any]:
    """Counts, ASWs, regions, score, timeline and merge history of a cluster. The read is
    audited for each referral its merge history names (for the cluster when none)."""
    values = session.execute(
        sa.select(tables.ClusterValue.kind, tables.ClusterValue.value).where(
            tables.ClusterValue.cluster_id == cluster.id,
            tables.ClusterValue.kind.in_(["asw", "region"]),
        )
    ).all()
    first, last = session.execute(
        sa.select(
            sa.func.min(tables.Referral.received_at), sa.func.max(tables.Referral.received_at)
        ).where(tables.Referral.cluster_id == cluster.id)
    ).one()
    merges = session.scalars(
        sa.select(tables.ClusterMerge)
        .where(tables.ClusterMerge.survivor_id == cluster.id)
        .order_by(tables.ClusterMerge.id)
    ).all()
    named = {m.referral_pk: session.get(tables.Referral, m.referral_pk) for m in merges}
    pictures = image_matches(session, cluster)  # evidence files (spec/evidence-files.md)
    _record_cluster_read(
        session, actor=actor, action="cluster.read", cluster=cluster, reason=reason,
        referral_pks=sorted({pk for pk, row in named.items() if row is not None}
                            | {pk for m in pictures for pk in m.pop("_pks")}),
    )  # fmt: skip
    counts = dict(cluster.counts or {})
    return {
        "cluster_id": cluster.id,
        "created_at": cluster.created_at,
        "updated_at": cluster.updated_at,
        "counts": {
            "referrals": cluster.referral_count,
            "asws": counts.get("asw", 0),
            "accounts": counts.get("account", 0),
            "phones": counts.get("phone", 0),
            "emails": counts.get("email", 0),
            "payers": counts.get("payer_name", 0),
            "regions": counts.get("region", 0),
        },
        "asws": sorted(v for k, v in values if k == "asw"),
        "regions": sorted(v for k, v in values if k == "region"),
        "score": cluster.score,
        "breakdown": cluster.breakdown,
        "under_18": cluster.under_18,
        "timeline": {"first_received_at": first, "last_received_at": last},
        "merges": [
            {
                "at": m.at,
                "absorbed_cluster_id": m.absorbed_id,
                "referral_id": named[m.referral_pk].referral_id  # type: ignore[union-attr]
                if named[m.referral_pk] is not None
                else None,
                "by": m.selector_kind,
            }
            for m in merges
        ],
        "image_matches": pictures,
    }


def image_matches(session: Session, cluster: tables.Cluster) -> list[dict[str, Any]]:
    """The pictures the cluster's referrals share (services/image_linking.py): each match,
    with both referrals and how many bits apart their hashes are."""
    ours = sa.select(tables.Referral.id).where(tables.Referral.cluster_id == cluster.id)
    rows = session.scalars(
        sa.select(tables.ImageMatch)
        .where(tables.ImageMatch.referral_pk.in_(ours))
        .order_by(tables.ImageMatch.id)
        .limit(200)
    ).all()
    matches: list[dict[str, Any]] = []
    for row in rows:
        referral = session.get_one(tables.Referral, row.referral_pk)
        other = session.get_one(tables.Referral, row.matched_referral_pk)
        selector = session.get_one(tables.Selector, row.selector_id)
        matched = session.get_one(tables.Selector, row.matched_selector_id)
        matches.append({
            "at": row.at, "algorithm": selector.value.split(":", 1)[0],
            "distance": row.distance,
            "referral_id": referral.referral_id, "asw_id": referral.asw_id,
            "value": selector.value, "entity_ref": selector.entity_ref,
            "matched_referral_id": other.referral_id, "matched_asw_id": other.asw_id,
            "matched_value": matched.value, "matched_entity_ref": matched.entity_ref,
            "_pks": (referral.id, other.id),
        })  # fmt: skip
    return matches


def _record_cluster_read(
    session: Session,
    *,
    actor: Actor,
    action: str,
    cluster: tables.Cluster,
    reason: str | None,
    referral_pks: Iterable[int],
    detail: dict[str, Any] | None = None,
) -> None:
    """One event per referral whose data a cluster read returned; one for the cluster when it
    returned none (the read itself is still on the record)."""
    pks = list(referral_pks)
    full = {"cluster_id": cluster.id, **(detail or {})}
    if pks:
        record_reads(
            session, actor=actor, action=action, referral_pks=pks, reason=reason, detail=full
        )
    else:
        record_event(session, actor=actor, action=action, reason=reason, detail=full)


def cluster_members(
    session: Session,
    cluster: tables.Cluster,
    *,
    actor: Actor,
    cursor: str | None,
    limit: int,
    reason: str | None = None,
) -> dict[str, Any]:
    """The cluster's referrals, oldest first; audited once per referral returned (once for
    the cluster when the page is empty)."""
    r = tables.Referral
    query = sa.select(r).where(r.cluster_id == cluster.id)
    if cursor:
        (last_id,) = _int_parts(cursor, 1)
        query = query.where(r.id > last_id)
    rows = session.scalars(query.order_by(r.id).limit(limit + 1)).all()
    page = rows[:limit]
    _record_cluster_read(
        session, actor=actor, action="cluster.members_read", cluster=cluster, reason=reason,
        referral_pks=[row.id for row in page],
    )  # fmt: skip
    return {
        "items": [
            {
                "referral_id": row.referral_id,
                "asw_id": row.asw_id,
                "received_at": row.received_at,
                "state": row.state,
                "priority_band": row.priority_band,
                "priority_score": row.priority_score,
            }
            for row in page
        ],
        "next_cursor": _encode(page[-1].id) if len(rows) > limit else None,
    }


def cluster_selectors(
    session: Session,
    cluster: tables.Cluster,
    *,
    actor: Actor,
    kind: str | None,
    cursor: str | None,
    limit: int,
    reason: str | None = None,
) -> dict[str, Any]:
    """The distinct selector values of a cluster, with how many of its referrals carry each.

    Audited once per referral that carries a value on the page (once for the cluster when the
    page is empty), so the trail of each member shows who saw its values."""
    s, r, stat = tables.Selector, tables.Referral, tables.SelectorStat
    query = (
        sa.select(s.kind, s.value, sa.func.count(sa.distinct(s.referral_pk)))
        .join(r, r.id == s.referral_pk)
        .where(r.cluster_id == cluster.id)
        .group_by(s.kind, s.value)
    )
    if kind is not None:
        query = query.where(s.kind == kind)
    if cursor:
        last_kind, last_value = _decode(cursor, 2)
        query = query.having(sa.tuple_(s.kind, s.value) > sa.tuple_(last_kind, last_value))
    rows = session.execute(query.order_by(s.kind, s.value).limit(limit + 1)).all()
    page = rows[:limit]
    over = {
        (k, v)
        for k, v in session.execute(
            sa.select(stat.kind, stat.value).where(
                stat.over_correlating.is_(True),
                kind_value_in(stat.kind, stat.value, ((k, v) for k, v, _ in page)),
            )
        )
    }
    carriers = (
        session.scalars(
            sa.select(s.referral_pk)
            .join(r, r.id == s.referral_pk)
            .where(
                r.cluster_id == cluster.id,
                kind_value_in(s.kind, s.value, ((k, v) for k, v, _ in page)),
            )
            .distinct()
        ).all()
        if page
        else []
    )
    _record_cluster_read(
        session, actor=actor, action="cluster.selectors_read", cluster=cluster, reason=reason,
        referral_pks=carriers, detail={"kind": kind},
    )  # fmt: skip
    return {
        "items": [
            {"kind": k, "value": v, "referrals": n, "over_correlating": (k, v) in over}
            for k, v, n in page
        ],
        "next_cursor": _encode(page[-1][0], page[-1][1]) if len(rows) > limit else None,
    }


def value_fingerprint(audit_key: bytes, kind: str, normalised: str) -> str:
    """The keyed HMAC that stands in for a selector value in the audit trail."""
    return hmac.new(audit_key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def normalised_selector(kind: str, value: str) -> str:
    """Normalise a value typed by a person the way ingested selectors are normalised (bounded
    to the stored length, so a value that folding expands is compared, not refused)."""
    if kind == "region":
        return bounded(region_key(value))
    return normalise_typed(kind, value)


def search_selector(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    value: str,
    reason: str | None,
    cursor: str | None,
    limit: int,
    audit_key: bytes,
) -> dict[str, Any]:
    """Where else does this value appear? The value is normalised like ingested selectors.

    The audit event records a keyed HMAC of the searched value, not the value: an auditor
    can tell that two searches were for the same number (and, holding the key, which one)
    without the audit trail becoming a list of phone numbers."""
    normalised = normalised_selector(kind, value)
    s, r = tables.Selector, tables.Referral
    query = (
        sa.select(r, s.entity_ref, s.raw)
        .join(s, s.referral_pk == r.id)
        .where(s.kind == kind, s.value == normalised)
    )
    if cursor:
        (last_id,) = _int_parts(cursor, 1)
        query = query.where(r.id > last_id)
    rows = session.execute(query.order_by(r.id).limit(limit + 1)).all()
    page = rows[:limit]
    stat = session.get(tables.SelectorStat, (kind, normalised))
    detail = {"kind": kind, "value_hmac": value_fingerprint(audit_key, kind, normalised)}
    record_event(session, actor=actor, action="selector.searched", reason=reason, detail=detail)
    record_reads(
        session, actor=actor, action="selector.search_result", reason=reason, detail=detail,
        referral_pks=(row.id for row, _, _ in page),
    )  # fmt: skip
    return {
        "kind": kind,
        "value": normalised,
        "referrals": stat.referral_count if stat else 0,
        "over_correlating": bool(stat and stat.over_correlating),
        "items": [
            {
                "referral_id": row.referral_id,
                "asw_id": row.asw_id,
                "cluster_id": row.cluster_id,
                "received_at": row.received_at,
                "entity_ref": entity_ref,
                "raw": raw,
            }
            for row, entity_ref, raw in page
        ],
        "next_cursor": _encode(page[-1][0].id) if len(rows) > limit else None,
    }


def referral_links(
    session: Session, row: tables.Referral, *, actor: Actor, limit: int, reason: str | None = None
) -> dict[str, Any]:
    """Which selectors tie this referral to which other referrals."""
    s, r, stat = tables.Selector, tables.Referral, tables.SelectorStat
    mine = session.scalars(
        sa.select(s).where(s.referral_pk == row.id).order_by(s.kind, s.value)
    ).all()
    links = []
    linked_pks: set[int] = set()
    for selector in mine:
        if selector.kind == "region":
            continue
        others = session.execute(
            sa.select(r.referral_id, r.asw_id, r.cluster_id, r.id)
            .join(s, s.referral_pk == r.id)
            .where(s.kind == selector.kind, s.value == selector.value, r.id != row.id)
            .order_by(r.id)
            .limit(limit)
        ).all()
        info = session.get(stat, (selector.kind, selector.value))
        linked_pks.update(pk for *_, pk in others)
        links.append(
            {
                "kind": selector.kind,
                "value": selector.value,
                "raw": selector.raw,
                "entity_ref": selector.entity_ref,
                "normalised": selector.normalised,
                "referrals_with_value": info.referral_count if info else 1,
                "over_correlating": bool(info and info.over_correlating),
                "linked": [
                    {"referral_id": rid, "asw_id": asw, "cluster_id": cid}
                    for rid, asw, cid, _ in others
                ],
            }
        )
    record_event(
        session, actor=actor, action="referral.links_read", referral_pk=row.id, reason=reason
    )
    record_reads(
        session, actor=actor, action="referral.linked_read", referral_pks=linked_pks,
        reason=reason, detail={"via_referral_id": row.referral_id},
    )  # fmt: skip
    return {"referral_id": row.referral_id, "cluster_id": row.cluster_id, "selectors": links}
