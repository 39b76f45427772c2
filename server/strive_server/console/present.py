"""Shaping what the services return for a page: wording, the cluster graph, small read-only
look-ups a page needs beside a service's answer. No decisions are taken here: who may see
what, what is audited and what changes are all the services' (and the routes') business."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, defaultdict
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.db import tables
from strive_server.services.packages import REGION_NAMES, Package

__all__ = [
    "GRAPH_LIMIT",
    "GraphCache",
    "bars",
    "cluster_graph",
    "counts_headline",
    "feedback_given",
    "one_line_reasons",
    "queue_regions",
    "regions_in_order",
    "suspects_child",
]

GRAPH_LIMIT: Final = 1000
"""Clusters with more referrals than this are summarised (counts, paged members), not drawn."""
GRAPH_KINDS: Final = {"Referral", "Account", "Phone", "Email", "Payer"}


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def region_phrase(codes: list[str]) -> str:
    names = [REGION_NAMES.get(code, code) for code in codes]
    if not names:
        return ""
    if len(names) == 1:
        return f" across {names[0]}"
    return " across " + ", ".join(names[:-1]) + " and " + names[-1]


def counts_headline(counts: dict[str, int], regions: list[str]) -> str:
    """The counts the way the Operation Strive write-up states them: "10 accounts, 8 e-mail
    addresses, 13 phone numbers, 4 payer names across London, the South East and the North
    East"."""
    return (
        f"{_plural(counts.get('accounts', 0), 'account', 'accounts')}, "
        f"{_plural(counts.get('emails', 0), 'e-mail address', 'e-mail addresses')}, "
        f"{_plural(counts.get('phones', 0), 'phone number', 'phone numbers')}, "
        f"{_plural(counts.get('payers', 0), 'payer name', 'payer names')}"
        f"{region_phrase(regions)}"
    )


def region_name(code: str) -> str:
    return REGION_NAMES.get(code, code).removeprefix("the ")


def suspects_child(item: dict[str, Any]) -> bool:
    """The triage breakdown's under-18 flag: the referral's own, or its network's."""
    return any(f.get("factor") == "suspected_under_18" for f in item.get("own", [])) or any(
        f.get("factor") == "child_in_network" for f in item.get("cluster", [])
    )


def one_line_reasons(item: dict[str, Any], limit: int = 3) -> str:
    """The strongest reasons for a referral's priority, in one line."""
    factors = sorted(
        [*item.get("own", []), *item.get("cluster", [])], key=lambda f: -int(f["points"])
    )
    return "; ".join(str(f["detail"]) for f in factors[:limit])


def queue_regions(session: Session, items: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """The regions advertised in each queued referral, by (ASW, referral id): one query for
    the page."""
    keys = {(item["asw_id"], item["referral_id"]) for item in items}
    if not keys:
        return {}
    r, s = tables.Referral, tables.Selector
    rows = session.execute(
        sa.select(r.asw_id, r.referral_id, s.value)
        .join(s, s.referral_pk == r.id)
        .where(s.kind == "region", r.referral_id.in_({rid for _, rid in keys}))
        .order_by(s.value)
    ).all()
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for asw_id, referral_id, code in rows:
        if (asw_id, referral_id) in keys and region_name(code) not in found[(asw_id, referral_id)]:
            found[(asw_id, referral_id)].append(region_name(code))
    return {key: ", ".join(names) for key, names in found.items()}


def feedback_given(session: Session, referral_pk: int) -> list[tables.Feedback]:
    """The feedback added to a referral, oldest first, released or not (the police's own
    words; the ASW sees only the released ones)."""
    return list(
        session.scalars(
            sa.select(tables.Feedback)
            .where(tables.Feedback.referral_pk == referral_pk)
            .order_by(tables.Feedback.created_at, tables.Feedback.id)
        )
    )


def regions_in_order(session: Session, cluster_id: int) -> list[str]:
    """The cluster's advertised regions (ITL1 codes) in the order its referrals arrived, as
    the write-up names them ("London, the South East and the North East"): one grouped
    query, not a read of every referral."""
    r, s = tables.Referral, tables.Selector
    rows = session.execute(
        sa.select(s.value, sa.func.min(r.id))
        .join(r, r.id == s.referral_pk)
        .where(r.cluster_id == cluster_id, s.kind == "region")
        .group_by(s.value)
        .order_by(sa.func.min(r.id), s.value)
    ).all()
    return [str(code) for code, _ in rows]


def cluster_graph(package: Package) -> dict[str, Any]:
    """The cluster as a graph for the console's drawing: referrals, accounts, phones, e-mails,
    payer names and ASWs as nodes; edges where a referral reports an account, an account
    registered or (through its adverts) gives a phone or e-mail, a payer pays for it, or two
    accounts are linked; each node coloured by its ASW ("shared" when several ASWs' referrals
    lead to it) and sized by its degree."""
    entities = package.entities
    advert_account: dict[str, str] = {
        link["to"]: link["from"] for link in package.links if link["type"] == "posted"
    }

    def endpoint(entity_id: str) -> str | None:
        kind = entities[entity_id]["type"]
        if kind == "Advert":
            return advert_account.get(entity_id)
        return entity_id if kind in GRAPH_KINDS else None

    edges: dict[tuple[str, str], str] = {}
    for link in package.links:
        source, target = endpoint(link["from"]), endpoint(link["to"])
        if source is None or target is None or source == target:
            continue
        key = (min(source, target), max(source, target))
        edges.setdefault(key, link["type"])
    asws: dict[str, set[str]] = defaultdict(set)
    for entity_id, entity in entities.items():
        asw = entity["attributes"].get("asw_id")
        if asw and entity["type"] in ("Referral", "Account"):
            asws[entity_id].add(asw)
    for entity_id, entity in entities.items():
        if entity["type"] == "Referral":
            asw = entity["attributes"]["asw_id"]
            edges[(entity_id, f"asw:{asw}")] = "submitted by"
    # A phone, e-mail or payer takes the ASWs of the accounts it touches.
    for source, target in list(edges):
        for a, b in ((source, target), (target, source)):
            if a in asws and b in entities and entities[b]["type"] not in ("Referral", "Account"):
                asws[b] |= asws[a]
    degree: Counter[str] = Counter()
    for source, target in edges:
        degree[source] += 1
        degree[target] += 1
    nodes = [
        {
            "id": entity_id,
            "type": entity["type"],
            "label": str(entity["label"]),
            "asw": (next(iter(asws[entity_id])) if len(asws[entity_id]) == 1 else "shared")
            if asws[entity_id]
            else "shared",
            "degree": degree[entity_id],
        }
        for entity_id, entity in entities.items()
        if entity["type"] in GRAPH_KINDS
    ]
    for asw in sorted({a for names in asws.values() for a in names}):
        nodes.append(
            {"id": f"asw:{asw}", "type": "ASW", "label": asw, "asw": asw,
             "degree": degree[f"asw:{asw}"]}
        )  # fmt: skip
    return {
        "cluster_id": package.cluster_id,
        "protective_marking": package.marking,
        "nodes": nodes,
        "edges": [{"from": s, "to": t, "type": kind} for (s, t), kind in sorted(edges.items())],
    }


def bars(breakdown: dict[str, Any], width: int = 300) -> list[dict[str, Any]]:
    """A breakdown as bars for a chart: suppressed cells ("<5", "suppressed") get no bar, so
    a chart never reveals what the table withholds."""
    numbers = [v for v in breakdown.values() if isinstance(v, int)]
    top = max(numbers, default=0)
    return [
        {
            "label": key.replace("_", " "),
            "shown": value,
            "width": round(width * value / top) if isinstance(value, int) and top else 0,
        }
        for key, value in breakdown.items()
    ]


GraphKey = tuple[int, datetime, int]


class GraphCache:
    """The last few clusters' graphs, per process. A cluster's graph changes only when its
    membership does, which moves its ``updated_at`` and ``referral_count`` (the key), and
    stored referral documents never change; so a repeat view skips rebuilding the package.
    Every view is still audited per referral."""

    def __init__(self, size: int = 16) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._graphs: OrderedDict[GraphKey, tuple[dict[str, Any], list[int]]] = OrderedDict()

    def get(self, key: GraphKey) -> tuple[dict[str, Any], list[int]] | None:
        with self._lock:
            found = self._graphs.get(key)
            if found is not None:
                self._graphs.move_to_end(key)
            return found

    def put(self, key: GraphKey, graph: dict[str, Any], referral_pks: list[int]) -> None:
        with self._lock:
            self._graphs[key] = (graph, referral_pks)
            self._graphs.move_to_end(key)
            while len(self._graphs) > self._size:
                self._graphs.popitem(last=False)
