"""Selector values that NFKD folding expands past their 400-character columns.

U+FDFA folds to 18 characters, so a short payer name can fold to thousands. Such a value is
stored bounded, counted once however many of a referral's values share its first 400
characters, and can be excluded and searched for, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from strive_schema.models import Referral
from strive_schema.normalise import fold_name
from strive_server.db import tables
from strive_server.services.selectors import MAX_VALUE_LENGTH, extract_selectors

from .conftest import Receiver, fresh_referral

LIGATURE = "\ufdfa"  # ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM: 18 characters in NFKD


def payer_referral(*names: str) -> dict[str, Any]:
    document = fresh_referral(asw_id="example-adverts")
    document["is_test"] = False
    document["persons"] = [{"id": "per-payer", "roles": ["payer"], "names": list(names)}]
    return document


def test_two_payer_names_agreeing_on_their_first_400_folded_characters_count_once(
    receiver: Receiver,
) -> None:
    receiver.register_asw("example-adverts")
    first, second = LIGATURE * 25 + " Ana", LIGATURE * 25 + " Maria"
    folded, other = fold_name(first) or "", fold_name(second) or ""
    assert len(folded) > 400 and folded != other and folded[:400] == other[:400]
    document = payer_referral(first, second)
    with receiver.client("example-adverts") as client:
        client.submit_referral(document)
    with receiver.session() as session:
        stored = session.execute(
            sa.select(tables.Selector.value, tables.Selector.raw).where(
                tables.Selector.kind == "payer_name"
            )
        ).all()
        stats = session.execute(
            sa.select(tables.SelectorStat.value, tables.SelectorStat.referral_count).where(
                tables.SelectorStat.kind == "payer_name"
            )
        ).all()
    assert [value for value, _ in stored] == [folded[:400]]
    assert stats == [(folded[:400], 1)]  # one referral carries it: counted once


def test_a_payer_name_folding_past_the_limit_can_be_excluded_and_searched(
    receiver: Receiver,
) -> None:
    receiver.register_asw("example-adverts")
    name = LIGATURE * 30  # 30 characters as written, 539 once folded
    with receiver.http("admin") as http:
        created = http.post(
            "/v1/admin/selector-exclusions",
            json={"kind": "payer_name", "value": name, "reason": "a test of the bound"},
        )
    assert created.status_code == 201, created.text
    assert len(created.json()["value"]) == 400
    ids = []
    for _ in range(2):
        document = payer_referral(name)
        with receiver.client("example-adverts") as client:
            client.submit_referral(document)
        ids.append(document["referral_id"])
    with receiver.http("analyst") as http:
        clusters = {http.get(f"/v1/referrals/{rid}/links").json()["cluster_id"] for rid in ids}
        found = http.get("/v1/selectors", params={"kind": "payer_name", "value": name})
    assert len(clusters) == 2  # the excluded value linked nothing
    assert found.status_code == 200, found.text
    assert found.json()["referrals"] == 2
    assert sorted(item["referral_id"] for item in found.json()["items"]) == sorted(ids)


def test_a_device_or_ip_address_is_found_however_it_is_typed(receiver: Receiver) -> None:
    receiver.register_asw("example-adverts")
    document = fresh_referral(asw_id="example-adverts")
    document["is_test"] = False
    document["technical_events"] = [
        {
            "id": "te-1",
            "event_type": "login",
            "occurred_at": document["created_at"],
            "ip_address": "2001:db8::7",
            "device_id": "Handset-ABC 42",
        }
    ]
    with receiver.client("example-adverts") as client:
        client.submit_referral(document)
    with receiver.http("analyst") as http:
        by_device = http.get("/v1/selectors", params={"kind": "device", "value": "HANDSET-abc  42"})
        by_ip = http.get("/v1/selectors", params={"kind": "ip_address", "value": "2001:DB8::7"})
    assert by_device.json()["referrals"] == 1 and by_ip.json()["referrals"] == 1


@given(
    names=st.lists(
        st.text(alphabet=st.sampled_from([LIGATURE, "a", "B", " ", "-", "\u00e9"]), min_size=1,
                max_size=200),
        min_size=1, max_size=6,
    )
)  # fmt: skip
def test_extracted_values_are_bounded_and_distinct(names: list[str]) -> None:
    document = fresh_referral(asw_id="example-adverts")
    document["persons"] = [{"id": "per-payer", "roles": ["payer"], "names": names}]
    extracted = extract_selectors(Referral.model_validate(document), asw_id="example-adverts")
    keys = [(s.kind, s.value) for s in extracted]
    assert len(keys) == len(set(keys))
    assert all(0 < len(s.value) <= MAX_VALUE_LENGTH >= len(s.raw) for s in extracted)
    folded = {(fold_name(n) or "")[:MAX_VALUE_LENGTH] for n in names} - {""}
    assert {s.value for s in extracted if s.kind == "payer_name"} == folded
