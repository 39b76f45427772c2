"""Cross-referral linking: clusters of referrals that share selectors, across ASWs.

Called in the ingestion transaction of each new referral (spec/linking.md). Its cost is one
index look-up per selector of the new referral, plus the size of any clusters it merges:

1. for each linkable selector, in a fixed order, count it in ``selector_stats`` (an upsert,
   which on PostgreSQL also locks the row, so two concurrent referrals sharing a value are
   linked one after the other and never miss each other);
2. excluded values and over-correlating values (carried by more than the threshold of
   referrals) link nothing; the others find the clusters of earlier referrals carrying them;
3. no cluster: a new one; one: join it; several: merge into the largest (union by size),
   recording each merge with the referral and selector that caused it;
4. add the referral's values to the cluster's distinct values and update its counts and score,
   then the priority of every referral in it (``services/triage.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_schema.codes import ProblemCode
from strive_server.db import tables
from strive_server.db.upsert import insert_for
from strive_server.problems import Problem
from strive_server.services import triage
from strive_server.services.audit import Actor, record_event
from strive_server.services.selectors import card_account_values

__all__ = [
    "LINKING_KINDS",
    "LinkResult",
    "StoredSelector",
    "allow_linking",
    "link_found_later",
    "link_referral",
    "load_exclusions",
]

LINKING_KINDS: Final = frozenset(
    {
        "phone",
        "email",
        "payer_name",
        "payment_card",
        "account",
        "image_hash",
        "ip_address",
        "device",
    }
)
"""Selector kinds that tie referrals together. ``region`` and ``postcode`` are kept for
counting, filtering and search only: two adverts in London, or in the E1 postcode district,
are not a link."""

# The kinds whose distinct values a cluster counts (spec/linking.md, "Cluster summary").
COUNTED_KINDS: Final = frozenset({"account", "phone", "email", "payer_name", "region"})
"""The kinds whose distinct values a cluster counts (with ``asw``, and ``paying_card`` and
``card_account`` from the referral's payments: ``selectors.card_account_values``)."""


@dataclass(frozen=True, slots=True)
class StoredSelector:
    """A selector row of the new referral, as the linker needs it."""

    id: int
    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class LinkResult:
    cluster_id: int
    merged: tuple[int, ...]
    linked_by: tuple[str, ...]


_SELECTORS = cast(sa.Table, tables.Selector.__table__)
_REFERRALS = cast(sa.Table, tables.Referral.__table__)
_STATS = cast(sa.Table, tables.SelectorStat.__table__)
_EXCLUSIONS = cast(sa.Table, tables.SelectorExclusion.__table__)
_CLUSTER_VALUES = cast(sa.Table, tables.ClusterValue.__table__)


def _pairs_condition(table: sa.Table, kinds: tuple[str, ...]) -> sa.ColumnElement[bool]:
    """``kind = k AND value IN (:values_i)`` per kind, ORed (see ``db.queries.kind_value_in``
    for why not a row-value IN), with one expanding parameter per kind: one cached statement
    per set of kinds."""
    return sa.or_(
        *(
            sa.and_(
                table.c.kind == kind, table.c.value.in_(sa.bindparam(f"values_{i}", expanding=True))
            )
            for i, kind in enumerate(kinds)
        )
    )


def _pairs_parameters(kinds: tuple[str, ...], pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    by_kind: dict[str, list[str]] = {kind: [] for kind in kinds}
    for kind, value in pairs:
        by_kind[kind].append(value)
    return {f"values_{i}": by_kind[kind] for i, kind in enumerate(kinds)}


@lru_cache(maxsize=512)
def _stats_statement(kinds: tuple[str, ...]) -> sa.Select[Any]:
    return sa.select(
        _STATS.c.kind, _STATS.c.value, _STATS.c.referral_count, _STATS.c.over_correlating
    ).where(_pairs_condition(_STATS, kinds))


@lru_cache(maxsize=512)
def _exclusions_statement(kinds: tuple[str, ...]) -> sa.Select[Any]:
    return sa.select(_EXCLUSIONS.c.kind, _EXCLUSIONS.c.value).where(
        _pairs_condition(_EXCLUSIONS, kinds)
    )


@lru_cache(maxsize=512)
def _carriers_statement(kinds: tuple[str, ...]) -> sa.Select[Any]:
    return (
        sa.select(_SELECTORS.c.kind, _SELECTORS.c.value, _REFERRALS.c.cluster_id)
        .join(_REFERRALS, _REFERRALS.c.id == _SELECTORS.c.referral_pk)
        .where(
            _pairs_condition(_SELECTORS, kinds),
            _REFERRALS.c.id != sa.bindparam("referral_pk"),
            _REFERRALS.c.cluster_id.is_not(None),
        )
        .distinct()
    )


_STAT_UPSERTS: dict[str, Any] = {}


def _stat_upsert(session: Session) -> Any:
    """The counting upsert for the session's dialect, built once."""
    dialect = session.get_bind().dialect.name
    if dialect not in _STAT_UPSERTS:
        stat = _STATS.c
        _STAT_UPSERTS[dialect] = insert_for(session, _STATS).on_conflict_do_update(
            index_elements=["kind", "value"],
            set_={
                "referral_count": stat.referral_count + 1,
                "over_correlating": sa.and_(
                    (stat.referral_count + 1) > sa.bindparam("threshold"),
                    sa.not_(stat.linking_allowed),
                ),
            },
        )
    return _STAT_UPSERTS[dialect]


def _kinds(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(sorted({kind for kind, _ in pairs}))


def _count_selectors(
    session: Session, pairs: Sequence[tuple[str, str]], threshold: int
) -> dict[tuple[str, str], tuple[int, bool]]:
    """Count one more referral for each (kind, value); return the counts.

    One executemany of a cached upsert (no RETURNING: on SQLite a RETURNING batch in parameter
    order is one statement per row), then one read of the counts. The rows are in (kind,
    value) order: on PostgreSQL the upserts lock them in that order, so concurrent linkers
    sharing values queue behind each other and never deadlock."""
    parameters = [
        {"kind": kind, "value": value, "referral_count": 1, "over_correlating": False,
         "threshold": threshold}
        for kind, value in pairs
    ]  # fmt: skip
    session.execute(_stat_upsert(session), parameters)
    kinds = _kinds(pairs)
    return {
        (kind, value): (int(count), bool(over))
        for kind, value, count, over in session.execute(
            _stats_statement(kinds), _pairs_parameters(kinds, pairs)
        )
    }


def _excluded(session: Session, selectors: Sequence[StoredSelector]) -> set[tuple[str, str]]:
    if not selectors:
        return set()
    pairs = [(s.kind, s.value) for s in selectors]
    kinds = _kinds(pairs)
    rows = session.execute(_exclusions_statement(kinds), _pairs_parameters(kinds, pairs)).all()
    return {(kind, value) for kind, value in rows}


def load_exclusions(session: Session) -> frozenset[tuple[str, str]]:
    """Every excluded (kind, value): the linking worker reads them once per batch and passes
    them to :func:`link_referral` (an administrator's exclusion is a rare write)."""
    return frozenset(
        (kind, value)
        for kind, value in session.execute(sa.select(_EXCLUSIONS.c.kind, _EXCLUSIONS.c.value))
    )


def link_referral(
    session: Session,
    *,
    referral: tables.Referral,
    selectors: Sequence[StoredSelector],
    now: datetime,
    threshold: int,
    exclusions: AbstractSet[tuple[str, str]] | None = None,
) -> LinkResult:
    """Put ``referral`` (already stored, with its selectors) into a cluster and re-rank.

    The linking worker calls it once per referral of a batch, in arrival order, in the
    batch's transaction, passing the batch's ``exclusions`` (else they are read here)."""
    linkable = sorted(
        (s for s in selectors if s.kind in LINKING_KINDS), key=lambda s: (s.kind, s.value)
    )
    found: dict[int, StoredSelector] = {}  # cluster id -> the selector that found it
    if linkable:
        stats = _count_selectors(session, [(s.kind, s.value) for s in linkable], threshold)
        excluded = (
            _excluded(session, linkable)
            if exclusions is None
            else {(s.kind, s.value) for s in linkable if (s.kind, s.value) in exclusions}
        )
        seen_before = {
            (s.kind, s.value): s
            for s in linkable
            if stats[(s.kind, s.value)][0] > 1
            and not stats[(s.kind, s.value)][1]
            and (s.kind, s.value) not in excluded
        }
        if seen_before:
            # Each value is carried by at most `threshold` referrals, so this reads at most
            # threshold x selectors index entries, whatever the size of the database.
            kinds = _kinds(seen_before)
            rows = session.execute(
                _carriers_statement(kinds),
                {**_pairs_parameters(kinds, seen_before), "referral_pk": referral.id},
            ).all()
            for kind, value, cluster_id in sorted(rows, key=lambda r: (r[0], r[1], r[2] or 0)):
                if cluster_id is not None:
                    found.setdefault(cluster_id, seen_before[(kind, value)])
    absorbed: list[tables.Cluster] = []
    if not found:
        cluster = tables.Cluster(
            created_at=now, updated_at=now, referral_count=0, counts={}, score=0
        )
        session.add(cluster)
        session.flush()
        survivor = cluster
    else:
        survivor, absorbed = _lock_for_merge(session, found)
    moved: list[int] = []
    for cluster in absorbed:
        moved += _merge(session, survivor=survivor, absorbed=cluster, referral=referral,
                        selector=found[cluster.id], now=now)  # fmt: skip
    referral.cluster_id = survivor.id
    survivor.under_18 = survivor.under_18 or referral.under_18
    survivor.referral_count += 1
    survivor.updated_at = now
    added = _add_values(session, survivor.id, referral, selectors)
    counts = dict(survivor.counts or {})
    for kind, n in added.items():
        counts[kind] = counts.get(kind, 0) + n
    survivor.counts = counts
    if found:
        triage.rescore_cluster(session, survivor, rerank=[referral.id, *moved])
    else:  # a new cluster of one: rank the referral without another statement
        triage.score_new_cluster(survivor, referral)
    return LinkResult(
        survivor.id,
        tuple(c.id for c in absorbed),
        tuple(sorted({s.kind for s in found.values()})),
    )


def _lock_for_merge(
    session: Session, cluster_ids: Iterable[int]
) -> tuple[tables.Cluster, list[tables.Cluster]]:
    """Lock the clusters in id order (no deadlock between two merging transactions) and
    return the largest, which survives, and the others: moving the smaller ones keeps merging
    cheap (union by size, ties to the oldest)."""
    candidates = session.scalars(
        sa.select(tables.Cluster)
        .where(tables.Cluster.id.in_(list(cluster_ids)))
        .order_by(tables.Cluster.id)
        .with_for_update()
    ).all()
    survivor = max(candidates, key=lambda c: (c.referral_count, -c.id))
    return survivor, [c for c in candidates if c.id != survivor.id]


def _lock_carrier_clusters(
    session: Session, kind: str, value: str
) -> tuple[dict[int, int], tables.Cluster | None, list[tables.Cluster]]:
    """Find and lock the clusters of the live referrals carrying a value: for each, the first
    selector row carrying it; then the survivor and the others, as for a merge. A merge by a
    concurrent ingest between finding and locking is seen (an absorbed cluster) and the
    search repeated, holding the locks it took."""
    for _ in range(3):
        carriers = session.execute(
            sa.select(tables.Referral.cluster_id, sa.func.min(tables.Selector.id))
            .join(tables.Selector, tables.Selector.referral_pk == tables.Referral.id)
            .where(
                tables.Selector.kind == kind,
                tables.Selector.value == value,
                tables.Referral.cluster_id.is_not(None),
            )
            .group_by(tables.Referral.cluster_id)
        ).all()
        first_selector = {cluster: int(selector) for cluster, selector in carriers if cluster}
        if not first_selector:
            return {}, None, []
        survivor, absorbed = _lock_for_merge(session, first_selector)
        if all(c.merged_into is None for c in (survivor, *absorbed)):
            return first_selector, survivor, absorbed
    raise Problem(409, ProblemCode.CONFLICT, "the clusters are changing; try again")


def _merge(
    session: Session,
    *,
    survivor: tables.Cluster,
    absorbed: tables.Cluster,
    referral: tables.Referral,
    selector: StoredSelector,
    now: datetime,
) -> list[int]:
    """Move ``absorbed`` into ``survivor``; return the ids of the referrals moved. Costs the
    size of the absorbed cluster only: its values that were new to the survivor are counted
    as they are inserted."""
    moved = session.scalars(
        sa.update(tables.Referral)
        .where(tables.Referral.cluster_id == absorbed.id)
        .values(cluster_id=survivor.id)
        .returning(tables.Referral.id)
    ).all()
    values = tables.ClusterValue
    absorbed_values = sa.select(sa.literal(survivor.id), values.kind, values.value).where(
        values.cluster_id == absorbed.id
    )
    new_kinds = session.scalars(
        insert_for(session, values)
        .from_select(["cluster_id", "kind", "value"], absorbed_values)
        .on_conflict_do_nothing(index_elements=["cluster_id", "kind", "value"])
        .returning(values.kind)
    ).all()
    counts = dict(survivor.counts or {})
    for kind in new_kinds:
        counts[kind] = counts.get(kind, 0) + 1
    survivor.counts = counts
    session.execute(sa.delete(values).where(values.cluster_id == absorbed.id))
    survivor.referral_count += absorbed.referral_count
    survivor.under_18 = survivor.under_18 or absorbed.under_18
    absorbed.merged_into = survivor.id
    absorbed.referral_count = 0
    absorbed.updated_at = now
    session.add(
        tables.ClusterMerge(
            at=now,
            survivor_id=survivor.id,
            absorbed_id=absorbed.id,
            referral_pk=referral.id,
            selector_kind=selector.kind,
            selector_id=selector.id,
        )
    )
    return list(moved)


_VALUE_INSERTS: dict[str, Any] = {}


def _value_insert(session: Session) -> Any:
    """Insert a cluster's new values, returning the kinds of those that were new (Core, built
    once per dialect: no ORM bulk machinery)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _VALUE_INSERTS:
        _VALUE_INSERTS[dialect] = (
            insert_for(session, _CLUSTER_VALUES)
            .on_conflict_do_nothing(index_elements=["cluster_id", "kind", "value"])
            .returning(_CLUSTER_VALUES.c.kind)
        )
    return _VALUE_INSERTS[dialect]


def _add_values(
    session: Session,
    cluster_id: int,
    referral: tables.Referral,
    selectors: Sequence[StoredSelector],
) -> dict[str, int]:
    """Add the referral's counted values to the cluster; return how many were new, by kind."""
    rows = {("asw", referral.asw_id)}
    rows |= {(s.kind, s.value) for s in selectors if s.kind in COUNTED_KINDS}
    rows |= card_account_values(referral.document, asw_id=referral.asw_id)
    inserted = session.execute(
        _value_insert(session),
        [{"cluster_id": cluster_id, "kind": k, "value": v} for k, v in sorted(rows)],
    ).scalars()
    added: dict[str, int] = {}
    for kind in inserted:
        added[kind] = added.get(kind, 0) + 1
    return added


def allow_linking(
    session: Session,
    *,
    kind: str,
    value: str,
    value_hmac: str,
    reason: str,
    actor: Actor,
    now: datetime,
) -> dict[str, object]:
    """A supervisor's decision that an over-correlating value is a genuine link after all
    (spec/linking.md, "Clusters", step 3): it links again, whatever its count, and the clusters
    of the referrals already carrying it are merged now, each merge recorded like any other.

    Over-correlation protects analysts from a value that joins everything, but an ASW could
    also push a real network's number over the threshold on purpose; this is the way back.
    ``value`` is normalised; the audit event holds ``value_hmac``, never the value.
    """
    if kind not in LINKING_KINDS:
        raise Problem(422, ProblemCode.REQUEST_INVALID, f"{kind} values never link referrals")
    if session.get(tables.SelectorExclusion, (kind, value)) is not None:
        raise Problem(
            422, ProblemCode.REQUEST_INVALID,
            "an administrator excluded this value from linking; remove the exclusion first",
        )  # fmt: skip
    # Locking the value's count first queues this behind (and ahead of) ingests carrying it.
    stat = session.get(tables.SelectorStat, (kind, value), with_for_update=True)
    if stat is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no referral carries this value")
    stat.linking_allowed = True
    stat.over_correlating = False
    first_selector, survivor, absorbed = _lock_carrier_clusters(session, kind, value)
    moved: list[int] = []
    for cluster in absorbed:
        assert survivor is not None
        selector = session.get_one(tables.Selector, first_selector[cluster.id])
        referral = session.get_one(tables.Referral, selector.referral_pk)
        moved += _merge(
            session, survivor=survivor, absorbed=cluster, referral=referral,
            selector=StoredSelector(selector.id, kind, value), now=now,
        )  # fmt: skip
    if survivor is not None and moved:
        survivor.updated_at = now
        triage.rescore_cluster(session, survivor, rerank=moved)
    merged = len(absorbed)
    record_event(
        session, actor=actor, action="selector.linking_allowed", reason=reason,
        detail={"kind": kind, "value_hmac": value_hmac, "clusters_merged": merged},
    )  # fmt: skip
    return {
        "kind": kind,
        "value": value,
        "cluster_id": survivor.id if survivor is not None else None,
        "clusters_merged": merged,
        "referrals_moved": len(moved),
    }


# --- Evidence files (spec/evidence-files.md): links found after a referral was stored --------
# Added for image linking (services/image_linking.py); uses the merge path above unchanged.


def link_found_later(
    session: Session,
    *,
    referral: tables.Referral,
    selector: StoredSelector,
    referral_pks: Iterable[int],
    now: datetime,
) -> LinkResult | None:
    """Merge the clusters of ``referral_pks`` with ``referral``'s own, each merge recorded as
    caused by ``selector`` of ``referral``: a link found after the referral was linked (a PDQ
    hash computed from a file uploaded later, or a near-duplicate image). Locks, merges and
    re-ranks exactly as ingestion does; ``None`` when they already share a cluster.

    A concurrent merge between reading the referrals' clusters and locking them is seen (an
    absorbed cluster) and the read repeated, holding the locks taken."""
    pks = {referral.id, *referral_pks}
    for _ in range(3):
        rows = session.execute(
            sa.select(tables.Referral.cluster_id)
            .where(tables.Referral.id.in_(pks), tables.Referral.cluster_id.is_not(None))
            .distinct()
        ).scalars()
        cluster_ids = {int(c) for c in rows if c is not None}
        if len(cluster_ids) < 2:
            return None
        survivor, absorbed = _lock_for_merge(session, cluster_ids)
        if all(c.merged_into is None for c in (survivor, *absorbed)):
            break
        session.expire_all()
    else:
        raise Problem(409, ProblemCode.CONFLICT, "the clusters are changing; try again")
    moved: list[int] = []
    for cluster in absorbed:
        moved += _merge(session, survivor=survivor, absorbed=cluster, referral=referral,
                        selector=selector, now=now)  # fmt: skip
    survivor.updated_at = now
    triage.rescore_cluster(session, survivor, rerank=moved)
    session.refresh(referral)
    return LinkResult(survivor.id, tuple(c.id for c in absorbed), (selector.kind,))
