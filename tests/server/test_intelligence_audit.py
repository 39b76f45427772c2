"""Reads that return several referrals' data are audited once per referral, with the reason.

Seen from the auditor's side: after an analyst's read, ``GET /v1/audit?referral_id=X`` shows it
for each referral whose data the read returned (spec/linking.md, "Exploring").
"""

from __future__ import annotations

from typing import Any

from .conftest import Receiver, fresh_referral

ASW = "example-adverts"
REASON = "op test: network review"


def submit(receiver: Receiver, **fields: Any) -> str:
    document = fresh_referral(asw_id=ASW)
    document.update(is_test=False, **fields)
    with receiver.client(ASW) as client:
        client.submit_referral(document)
    return str(document["referral_id"])


def trail_of(receiver: Receiver, referral_id: str) -> list[dict[str, Any]]:
    with receiver.http("auditor") as http:
        response = http.get("/v1/audit", params={"referral_id": referral_id, "limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def a_cluster_of_two(receiver: Receiver) -> tuple[str, str, int]:
    receiver.register_asw(ASW)
    phone = {"id": "ph", "raw": "07700 900661"}
    with_email = submit(
        receiver, phones=[phone], emails=[{"id": "em", "address": "shared.net@example.com"}]
    )
    phone_only = submit(receiver, phones=[phone])
    with receiver.http("analyst") as http:
        cluster_id = http.get(f"/v1/referrals/{with_email}/links").json()["cluster_id"]
    return with_email, phone_only, int(cluster_id)


def test_every_multi_referral_read_is_in_each_members_trail_with_the_reason(
    receiver: Receiver,
) -> None:
    with_email, phone_only, cluster_id = a_cluster_of_two(receiver)
    reads = {
        "cluster.selectors_read": (f"/v1/clusters/{cluster_id}/selectors", {}),
        "cluster.members_read": (f"/v1/clusters/{cluster_id}/referrals", {}),
        "cluster.exported": (f"/v1/clusters/{cluster_id}/export", {"format": "md"}),
        "selector.search_result": ("/v1/selectors", {"kind": "phone", "value": "07700900661"}),
        "referral.linked_read": (f"/v1/referrals/{phone_only}/links", {}),
    }
    with receiver.http("analyst") as http:
        for path, params in reads.values():
            response = http.get(path, params=params, headers={"Strive-Reason": REASON})
            assert response.status_code == 200, response.text
    for referral_id in (with_email, phone_only):
        trail = trail_of(receiver, referral_id)
        by_action = {e["action"]: e for e in trail if e["reason"] == REASON}
        expected = set(reads) - ({"referral.linked_read"} if referral_id == phone_only else set())
        assert expected <= set(by_action), (referral_id, sorted(by_action))
        assert by_action["cluster.selectors_read"]["detail"]["cluster_id"] == cluster_id
        assert by_action["cluster.selectors_read"]["actor"] == "test-analyst"


def test_a_cluster_selector_read_is_audited_for_the_referrals_carrying_the_values_shown(
    receiver: Receiver,
) -> None:
    with_email, phone_only, cluster_id = a_cluster_of_two(receiver)
    with receiver.http("analyst") as http:
        emails = http.get(f"/v1/clusters/{cluster_id}/selectors", params={"kind": "email"})
    assert [item["value"] for item in emails.json()["items"]] == ["shared.net@example.com"]
    assert "cluster.selectors_read" in {e["action"] for e in trail_of(receiver, with_email)}
    # The other member's values were not shown: its trail does not claim they were.
    assert "cluster.selectors_read" not in {e["action"] for e in trail_of(receiver, phone_only)}


def test_a_cluster_summary_naming_no_referral_is_audited_for_the_cluster(
    receiver: Receiver,
) -> None:
    _, _, cluster_id = a_cluster_of_two(receiver)  # joined, never merged: no merge history
    with receiver.http("analyst") as http:
        summary = http.get(f"/v1/clusters/{cluster_id}", headers={"Strive-Reason": REASON})
    assert summary.status_code == 200 and summary.json()["merges"] == []
    with receiver.http("auditor") as http:
        trail = http.get("/v1/audit", params={"limit": 500}).json()["items"]
    reads = [e for e in trail if e["action"] == "cluster.read"]
    assert [(e["reason"], e["detail"]["cluster_id"]) for e in reads] == [(REASON, cluster_id)]
