"""Linking, triage and intelligence packages, on the Operation Strive examples.

The four op-strive examples (two ASWs) must form one cluster holding all ten accounts with
every shared e-mail, phone and payer, at the top of the triage queue (after a suspected
child), while unrelated examples stay apart; the exports open in the formats claimed.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from ..conftest import load_example
from .conftest import Receiver, fresh_referral, lower_threshold

OP_STRIVE = [
    "op-strive-1-london.json",
    "op-strive-2-south-east.json",
    "op-strive-3-north-east.json",
    "op-strive-4-crossplatform.json",
]
UNRELATED = ["male-paying-for-adverts.json", "suspected-under-18.json", "messy-selectors.json"]


def submit_examples(receiver: Receiver, names: list[str]) -> dict[str, dict[str, Any]]:
    documents = {name: load_example(name) for name in names}
    for asw in sorted({d["reporter"]["organisation_id"] for d in documents.values()}):
        if asw not in receiver.keys:
            receiver.register_asw(asw)
    for document in documents.values():
        with receiver.client(document["reporter"]["organisation_id"]) as client:
            client.submit_referral(document)
    return documents


def links_of(receiver: Receiver, referral_id: str) -> dict[str, Any]:
    with receiver.http("analyst") as http:
        response = http.get(f"/v1/referrals/{referral_id}/links")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def network(receiver: Receiver) -> dict[str, Any]:
    documents = submit_examples(receiver, OP_STRIVE + UNRELATED)
    clusters = {
        name: links_of(receiver, d["referral_id"])["cluster_id"] for name, d in documents.items()
    }
    return {"documents": documents, "clusters": clusters}


def test_the_operation_strive_referrals_form_one_cluster_and_unrelated_ones_stay_apart(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    clusters = network["clusters"]
    strive = {clusters[name] for name in OP_STRIVE}
    assert len(strive) == 1
    (cluster_id,) = strive
    assert all(clusters[name] != cluster_id for name in UNRELATED)
    assert len({clusters[name] for name in UNRELATED}) == len(UNRELATED)
    with receiver.http("analyst") as http:
        summary = http.get(f"/v1/clusters/{cluster_id}").json()
    assert summary["counts"] == {
        "referrals": 4, "asws": 2, "accounts": 10, "phones": 13, "emails": 8, "payers": 4,
        "regions": 3,
    }  # fmt: skip
    assert summary["asws"] == ["demo-classifieds", "example-adverts"]
    assert sorted(summary["regions"]) == ["TLC", "TLI", "TLJ"]


def test_the_network_is_at_the_top_of_the_triage_queue(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    documents, clusters = network["documents"], network["clusters"]
    with receiver.http("analyst") as http:
        queue = http.get("/v1/triage").json()["items"]
    order = [item["referral_id"] for item in queue]
    child = documents["suspected-under-18.json"]["referral_id"]
    assert order[0] == child and queue[0]["priority_band"] == "P1"  # a suspected child first
    strive_ids = {documents[name]["referral_id"] for name in OP_STRIVE}
    assert set(order[1:5]) == strive_ids
    top = queue[1]
    assert top["cluster_id"] == clusters[OP_STRIVE[0]] and top["priority_band"] == "P1"
    factors = {f["factor"] for f in top["cluster"]}
    assert {"accounts", "asws", "regions", "linked_referrals"} <= factors
    # The same referrals alone would rank lower: the cluster lifted them.
    assert all(
        item["priority_score"] > sum(f["points"] for f in item["own"]) for item in queue[1:5]
    )


def test_a_referral_shows_which_selectors_tie_it_to_which_others(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    documents = network["documents"]
    links = links_of(receiver, documents["op-strive-4-crossplatform.json"]["referral_id"])
    phone = next(
        s for s in links["selectors"] if s["kind"] == "phone" and s["value"] == "+447700900101"
    )
    assert phone["raw"] == "07700-900-101"  # written differently, linked to its twin
    assert [link["referral_id"] for link in phone["linked"]] == [
        documents["op-strive-1-london.json"]["referral_id"]
    ]


def test_selector_search_normalises_the_query(receiver: Receiver, network: dict[str, Any]) -> None:
    with receiver.http("analyst") as http:
        found = http.get(
            "/v1/selectors", params={"kind": "phone", "value": "0044 7700 900111"}
        ).json()
    assert found["value"] == "+447700900111" and found["referrals"] == 2
    assert {i["asw_id"] for i in found["items"]} == {"example-adverts", "demo-classifieds"}


def export(receiver: Receiver, cluster_id: int, fmt: str) -> Any:
    with receiver.http("analyst") as http:
        response = http.get(f"/v1/clusters/{cluster_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert response.headers["strive-protective-marking"] == "OFFICIAL-SENSITIVE"
    return response


def test_the_json_package_has_the_pinned_summary_counts(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    cluster_id = network["clusters"][OP_STRIVE[0]]
    package = export(receiver, cluster_id, "json").json()
    pinned = ("referrals", "asws", "accounts", "emails", "phones", "payers")
    assert {k: package["summary"][k] for k in pinned} == {
        "referrals": 4, "asws": 2, "accounts": 10, "emails": 8, "phones": 13, "payers": 4
    }  # fmt: skip
    assert package["protective_marking"] == "OFFICIAL-SENSITIVE"
    assert sorted(package["source_referral_ids"]) == sorted(
        network["documents"][name]["referral_id"] for name in OP_STRIVE
    )
    assert {"third_party_payment", "not_as_pictured"} <= {i["code"] for i in package["indicators"]}


def test_the_i2_csv_tables_parse_back(receiver: Receiver, network: dict[str, Any]) -> None:
    cluster_id = network["clusters"][OP_STRIVE[0]]
    archive = zipfile.ZipFile(io.BytesIO(export(receiver, cluster_id, "csv").content))
    assert archive.read("README.txt").startswith(b"OFFICIAL-SENSITIVE")
    entities = list(csv.DictReader(io.StringIO(archive.read("entities.csv").decode())))
    links = list(csv.DictReader(io.StringIO(archive.read("links.csv").decode())))
    by_type: dict[str, int] = {}
    for entity in entities:
        by_type[entity["Entity Type"]] = by_type.get(entity["Entity Type"], 0) + 1
    assert (by_type["Account"], by_type["Phone"], by_type["Email"], by_type["Payer"]) == (
        10,
        13,
        8,
        4,
    )
    ids = {e["Entity ID"] for e in entities}
    assert links and all(
        link["Entity 1 ID"] in ids and link["Entity 2 ID"] in ids for link in links
    )
    assert {link["Protective Marking"] for link in links} == {"OFFICIAL-SENSITIVE"}


def test_the_graphml_parses_back(receiver: Receiver, network: dict[str, Any]) -> None:
    cluster_id = network["clusters"][OP_STRIVE[0]]
    root = ET.fromstring(export(receiver, cluster_id, "graphml").content)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    nodes = root.findall(".//g:node", ns)
    edges = root.findall(".//g:edge", ns)
    node_ids = {n.get("id") for n in nodes}
    assert len(nodes) == len(node_ids) and edges
    assert all(e.get("source") in node_ids and e.get("target") in node_ids for e in edges)
    types = [d.text for n in nodes for d in n.findall("g:data", ns) if d.get("key") == "d0"]
    assert types.count("Account") == 10 and types.count("Phone") == 13


def test_the_markdown_summary_states_the_counts_like_the_seeds(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    cluster_id = network["clusters"][OP_STRIVE[0]]
    text = export(receiver, cluster_id, "md").text
    assert text.startswith("**OFFICIAL-SENSITIVE**") and text.rstrip().endswith(
        "**OFFICIAL-SENSITIVE**"
    )
    assert (
        "10 accounts, 8 e-mail addresses, 13 phone numbers, 4 payer names across London, "
        "the South East and the North East."
    ) in text


def test_an_excluded_or_over_correlating_value_does_not_link(
    receiver: Receiver, receiver_settings: Any
) -> None:
    lower_threshold(receiver, receiver_settings, 2)
    receiver.register_asw("example-adverts")
    shared = {"id": "ph-shared", "raw": "07700 900999", "e164": "+447700900999"}
    ids = []
    for _ in range(4):
        document = fresh_referral(asw_id="example-adverts")
        document["is_test"] = False
        document["phones"] = [shared]
        with receiver.client("example-adverts") as client:
            client.submit_referral(document)
        ids.append(document["referral_id"])
    clusters = [links_of(receiver, rid)["cluster_id"] for rid in ids]
    # The first two link; from the third on, the value is over-correlating and links nothing.
    assert clusters[0] == clusters[1] and len({clusters[1], clusters[2], clusters[3]}) == 3
    phone = next(s for s in links_of(receiver, ids[3])["selectors"] if s["kind"] == "phone")
    assert phone["over_correlating"] is True and phone["referrals_with_value"] == 4


def test_strive_export_cluster_writes_each_format(
    receiver: Receiver, network: dict[str, Any], tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from strive_client._cli.main import cli

    cluster_id = str(network["clusters"][OP_STRIVE[0]])
    token = receiver.token("analyst")
    for fmt in ("json", "csv", "graphml", "md"):
        out = tmp_path / f"package.{fmt}"
        result = CliRunner().invoke(
            cli, ["export", "cluster", cluster_id, "--format", fmt, "--url", receiver.url,
                  "--token", token, "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "OFFICIAL-SENSITIVE" in result.stderr and out.stat().st_size > 100
    assert json.loads((tmp_path / "package.json").read_text())["summary"]["accounts"] == 10
    refused = CliRunner().invoke(
        cli, ["export", "cluster", cluster_id, "--url", receiver.url, "--token", "strv_wrong"]
    )
    assert refused.exit_code == 1 and "token_invalid" in refused.stderr


def test_an_excluded_value_links_nothing(receiver: Receiver) -> None:
    receiver.register_asw("example-adverts")
    with receiver.http("admin") as http:
        created = http.post(
            "/v1/admin/selector-exclusions",
            json={"kind": "phone", "value": "07700 900000", "reason": "the ASW's support line"},
        )
    assert created.status_code == 201 and created.json()["value"] == "+447700900000"
    ids = []
    for _ in range(2):
        document = fresh_referral(asw_id="example-adverts")
        document["is_test"] = False
        document["phones"] = [{"id": "ph-support", "raw": "+44 7700 900000"}]
        with receiver.client("example-adverts") as client:
            client.submit_referral(document)
        ids.append(document["referral_id"])
    assert links_of(receiver, ids[0])["cluster_id"] != links_of(receiver, ids[1])["cluster_id"]


def test_after_a_merge_counts_and_ranks_equal_a_full_recount(receiver: Receiver) -> None:
    import sqlalchemy as sa

    from strive_server.db import tables

    receiver.register_asw("example-adverts")
    ids = []
    for phones in (
        ["07700 900501"],
        ["07700 900502", "07700 900503"],
        ["07700 900501", "07700 900502"],
    ):
        document = fresh_referral(asw_id="example-adverts")
        document["is_test"] = False
        document["phones"] = [{"id": f"ph-{i}", "raw": raw} for i, raw in enumerate(phones)]
        document["accounts"] = [{"id": "acc", "platform_account_id": document["referral_id"][:8]}]
        with receiver.client("example-adverts") as client:
            client.submit_referral(document)
        ids.append(document["referral_id"])
    clusters = {links_of(receiver, rid)["cluster_id"] for rid in ids}
    assert len(clusters) == 1  # the third referral tied the first two clusters together
    (cluster_id,) = clusters
    with receiver.session() as session:
        cluster = session.get(tables.Cluster, cluster_id)
        assert cluster is not None
        recount = dict(
            session.execute(
                sa.select(tables.ClusterValue.kind, sa.func.count())
                .where(tables.ClusterValue.cluster_id == cluster_id)
                .group_by(tables.ClusterValue.kind)
            ).all()
        )
        assert cluster.counts == recount and recount["phone"] == 3 and recount["account"] == 3
        members = session.scalars(
            sa.select(tables.Referral).where(tables.Referral.cluster_id == cluster_id)
        ).all()
        assert len(members) == cluster.referral_count == 3
        assert all(m.priority_score == m.own_score + cluster.score for m in members)
        merges = session.scalars(sa.select(tables.ClusterMerge)).all()
        assert len(merges) == 1 and merges[0].selector_kind == "phone"


def test_the_triage_queue_filters_by_region_band_and_asw(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    documents = network["documents"]
    with receiver.http("analyst") as http:
        north_east = http.get("/v1/triage", params={"region": "TLC"}).json()["items"]
        by_name = http.get("/v1/triage", params={"region": "North East"}).json()["items"]
        p1_demo = http.get(
            "/v1/triage", params={"band": "P1", "asw_id": "demo-classifieds"}
        ).json()["items"]
        paged = http.get("/v1/triage", params={"limit": 2}).json()
        rest = http.get("/v1/triage", params={"limit": 50, "cursor": paged["next_cursor"]}).json()[
            "items"
        ]
        everything = http.get("/v1/triage", params={"limit": 50}).json()["items"]
    in_north_east = {
        d["referral_id"] for d in documents.values()
        if any(loc.get("region_code") == "TLC" for ad in d.get("adverts", []) for loc in ad.get("locations", []))
    }  # fmt: skip
    assert {i["referral_id"] for i in north_east} == in_north_east and in_north_east
    assert all(i["asw_id"] == "demo-classifieds" and i["priority_band"] == "P1" for i in p1_demo)
    assert documents["op-strive-4-crossplatform.json"]["referral_id"] in {
        i["referral_id"] for i in p1_demo
    }
    assert [i["referral_id"] for i in paged["items"] + rest] == [
        i["referral_id"] for i in everything
    ]
    assert by_name == north_east  # a region name finds the same referrals as its code


def test_a_supervisor_lets_a_flooded_value_link_again(
    receiver: Receiver, receiver_settings: Any
) -> None:
    # One ASW floods a real network's number past the threshold (2 here); a supervisor who
    # judges it a genuine link lets it link again: the clusters merge now, and later
    # referrals carrying it join them.
    lower_threshold(receiver, receiver_settings, 2)
    receiver.register_asw("example-adverts")
    receiver.register_asw("other-adverts")
    shared = {"id": "ph-shared", "raw": "07700 900998", "e164": "+447700900998"}

    def submit(asw_id: str) -> str:
        document = fresh_referral(asw_id=asw_id)
        document["is_test"] = False
        document["phones"] = [shared]
        with receiver.client(asw_id) as client:
            client.submit_referral(document)
        return str(document["referral_id"])

    flood = [submit("example-adverts") for _ in range(3)]
    genuine = submit("other-adverts")
    assert len({links_of(receiver, rid)["cluster_id"] for rid in [*flood, genuine]}) == 3
    body = {"kind": "phone", "value": "+44 7700 900998", "reason": "same handset, case 12"}
    for role in ("analyst", "auditor", "admin"):  # supervisors only
        with receiver.http(role) as http:
            assert http.post("/v1/selectors/linking-allowed", json=body).status_code == 403
    with receiver.http("supervisor") as http:
        refused = [
            http.post("/v1/selectors/linking-allowed", json={**body, "reason": ""}),
            http.post("/v1/selectors/linking-allowed", json={**body, "kind": "region"}),
            http.post("/v1/selectors/linking-allowed", json={**body, "value": "07700 900997"}),
        ]
        allowed = http.post("/v1/selectors/linking-allowed", json=body)
        again = http.post("/v1/selectors/linking-allowed", json=body)
    assert [r.status_code for r in refused] == [422, 422, 404]
    assert refused[0].json()["errors"][0]["pointer"] == "/reason"
    assert allowed.status_code == 200, allowed.text
    result = allowed.json()
    assert (result["value"], result["clusters_merged"], result["referrals_moved"]) == (
        "+447700900998", 2, 2
    )  # fmt: skip
    assert (again.json()["clusters_merged"], again.json()["referrals_moved"]) == (0, 0)
    later = submit("other-adverts")
    clusters = {links_of(receiver, rid)["cluster_id"] for rid in [*flood, genuine, later]}
    assert clusters == {result["cluster_id"]}
    phone = next(s for s in links_of(receiver, later)["selectors"] if s["kind"] == "phone")
    assert phone["over_correlating"] is False and phone["referrals_with_value"] == 5
    with receiver.http("auditor") as http:
        trail = http.get("/v1/audit", params={"limit": 500}).json()["items"]
    events = [e for e in trail if e["action"] == "selector.linking_allowed"]
    assert len(events) == 2 and events[0]["reason"] == body["reason"]
    assert [e["detail"]["clusters_merged"] for e in events] == [2, 0]
    assert "900998" not in json.dumps(trail)  # an HMAC stands in for the number
    with receiver.http("analyst") as http:
        cluster = http.get(f"/v1/clusters/{result['cluster_id']}").json()
    assert cluster["counts"]["referrals"] == 5 and cluster["counts"]["asws"] == 2
    assert [m["by"] for m in cluster["merges"]] == ["phone", "phone"]


def test_the_api_offers_exactly_the_linking_kinds_to_allow() -> None:
    from typing import get_args

    from strive_server.api.schemas import SelectorLinkingAllow
    from strive_server.services.linking import LINKING_KINDS

    offered = get_args(SelectorLinkingAllow.model_fields["kind"].annotation)
    assert set(offered) == LINKING_KINDS


PRIORITY_FIELDS = ("cluster_id", "cluster_referrals", "priority_score", "priority_band", "own",
                   "cluster")  # fmt: skip


def test_the_analyst_view_carries_the_cluster_and_the_priority_breakdown(
    receiver: Receiver, network: dict[str, Any]
) -> None:
    documents, clusters = network["documents"], network["clusters"]
    with receiver.http("analyst") as http:
        queue = {i["referral_id"]: i for i in http.get("/v1/triage").json()["items"]}
        views = {
            name: http.get(f"/v1/referrals/{document['referral_id']}").json()
            for name, document in documents.items()
        }
    for name in OP_STRIVE:
        view = views[name]
        assert view["cluster_id"] == clusters[name] and view["cluster_referrals"] == 4
        assert view["priority_band"] == "P1" and view["priority_score"] == sum(
            f["points"] for f in view["own"] + view["cluster"]
        )
        assert {"accounts", "asws", "linked_referrals", "shared_cards"} <= {
            f["factor"] for f in view["cluster"]
        }
        assert all(set(f) == {"factor", "points", "detail"} and f["detail"] for f in view["own"])
        # The same fields, the same values, as the referral's item in the triage queue.
        item = queue[view["referral_id"]]
        assert {k: view[k] for k in PRIORITY_FIELDS} == {k: item[k] for k in PRIORITY_FIELDS}
    child = views["suspected-under-18.json"]
    assert child["cluster_referrals"] == 1 and child["priority_band"] == "P1"
    assert "suspected_under_18" in {f["factor"] for f in child["own"]}


def test_a_sandbox_referral_view_has_no_cluster(receiver: Receiver) -> None:
    receiver.register_asw("example-adverts")
    document = fresh_referral(asw_id="example-adverts")  # is_test: true
    with receiver.client("example-adverts") as client:
        client.submit_referral(document)
    with receiver.http("analyst") as http:
        view = http.get(f"/v1/referrals/{document['referral_id']}").json()
    assert (view["cluster_id"], view["cluster_referrals"], view["cluster"]) == (None, 1, [])
    assert view["priority_score"] == sum(f["points"] for f in view["own"]) > 0
    assert view["priority_band"] in {"P1", "P2", "P3", "P4"}
