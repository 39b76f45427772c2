"""Every linking selector kind is in every intelligence package format.

A referral carrying phones, e-mails, payer names, payment cards, accounts, image hashes, IP
addresses and devices is exported as JSON, i2 CSV tables, GraphML and Markdown; each format
holds each of its linking values, keyed as linking compares them, and ties it to the chart.
"""

from __future__ import annotations

import csv
import io
import zipfile
from xml.etree import ElementTree as ET

import httpx
import pytest

from strive_schema.models import Referral
from strive_server.services.linking import LINKING_KINDS
from strive_server.services.packages import ENTITY_TYPES
from strive_server.services.selectors import extract_selectors

from ..conftest import load_example
from .conftest import Receiver

EXAMPLE = "op-strive-1-london.json"  # carries every linking kind


@pytest.fixture
def exported(receiver: Receiver) -> tuple[set[str], dict[str, httpx.Response]]:
    """The entity ids the example's linking values must have, and its export in each format."""
    document = load_example(EXAMPLE)
    asw = document["reporter"]["organisation_id"]
    receiver.register_asw(asw)
    with receiver.client(asw) as client:
        client.submit_referral(document)
    selectors = [
        s
        for s in extract_selectors(Referral.model_validate(document), asw_id=asw)
        if s.kind in LINKING_KINDS
    ]
    assert {s.kind for s in selectors} == LINKING_KINDS
    expected = {f"{ENTITY_TYPES[s.kind].lower()}:{s.value}" for s in selectors}
    with receiver.http("analyst") as http:
        view = http.get(f"/v1/referrals/{document['referral_id']}").json()
        responses = {
            fmt: http.get(f"/v1/clusters/{view['cluster_id']}/export", params={"format": fmt})
            for fmt in ("json", "csv", "graphml", "md")
        }
    assert all(r.status_code == 200 for r in responses.values())
    return expected, responses


def test_every_linking_kind_has_an_entity_type() -> None:
    assert set(ENTITY_TYPES) == LINKING_KINDS


def test_the_json_package_holds_every_linking_value(
    exported: tuple[set[str], dict[str, httpx.Response]],
) -> None:
    expected, responses = exported
    package = responses["json"].json()
    ids = {e["id"] for e in package["entities"]}
    assert expected <= ids
    linked = {link["from"] for link in package["links"]} | {link["to"] for link in package["links"]}
    assert expected <= linked  # each is on the chart, not a loose node
    summary = package["summary"]
    assert min(summary["cards"], summary["ip_addresses"], summary["devices"]) >= 1
    assert summary["image_hashes"] >= 1


def test_the_i2_tables_hold_every_linking_value(
    exported: tuple[set[str], dict[str, httpx.Response]],
) -> None:
    expected, responses = exported
    archive = zipfile.ZipFile(io.BytesIO(responses["csv"].content))
    entities = list(csv.DictReader(io.StringIO(archive.read("entities.csv").decode())))
    links = list(csv.DictReader(io.StringIO(archive.read("links.csv").decode())))
    assert expected <= {e["Entity ID"] for e in entities}
    assert expected <= {link["Entity 1 ID"] for link in links} | {
        link["Entity 2 ID"] for link in links
    }
    types = {e["Entity Type"] for e in entities}
    assert set(ENTITY_TYPES.values()) <= types


def test_the_graphml_holds_every_linking_value(
    exported: tuple[set[str], dict[str, httpx.Response]],
) -> None:
    expected, responses = exported
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.fromstring(responses["graphml"].content)
    nodes = {n.get("id") for n in root.findall(".//g:node", ns)}
    edges = root.findall(".//g:edge", ns)
    assert expected <= nodes
    assert expected <= {e.get("source") for e in edges} | {e.get("target") for e in edges}


def test_the_markdown_summary_lists_every_linking_value(
    exported: tuple[set[str], dict[str, httpx.Response]],
) -> None:
    expected, responses = exported
    text = responses["md"].text
    for heading in ("Payment cards", "IP addresses", "Devices", "Image hashes", "Phone numbers"):
        assert f"### {heading}" in text
    for entity_id in expected:
        value = entity_id.split(":", 1)[1]
        assert f"- `{value}`: 1 referral" in text, value
    assert "Also 3 payment cards," in text
