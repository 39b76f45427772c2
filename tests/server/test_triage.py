"""The shared-card factor: one payment card across several accounts (a pilot indicator).

A cluster in which one card pays for several accounts gets ``shared_cards`` points with a
one-line reason, in the cluster's breakdown, the triage queue and the analyst view; accounts
each paid by their own card get none (spec/triage.md).
"""

from __future__ import annotations

from typing import Any

from strive_server.services.triage import cluster_score

from .conftest import Receiver, fresh_referral

ASW = "example-adverts"


def paid_referral(account_id: str, card: str, *, phone: str | None = None) -> dict[str, Any]:
    """A live referral with one account, paid for once by ``card``."""
    document = fresh_referral(asw_id=ASW)
    document["is_test"] = False
    document["accounts"] = [{"id": "acc", "platform_account_id": account_id}]
    document["payments"] = [
        {"id": "pay", "occurred_at": document["created_at"], "declined": False,
         "method": "debit_card", "account_ref": "acc", "card_fingerprint": card}
    ]  # fmt: skip
    if phone is not None:
        document["phones"] = [{"id": "ph", "raw": phone}]
    return document


def submit_all(receiver: Receiver, *documents: dict[str, Any]) -> list[dict[str, Any]]:
    receiver.register_asw(ASW)
    with receiver.client(ASW) as client:
        for document in documents:
            client.submit_referral(document)
    views = []
    with receiver.http("analyst") as http:
        for document in documents:
            response = http.get(f"/v1/referrals/{document['referral_id']}")
            assert response.status_code == 200, response.text
            views.append(response.json())
    return views


def factors(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["factor"]: f for f in view["cluster"]}


def test_one_card_paying_for_accounts_in_two_referrals_scores_shared_cards(
    receiver: Receiver,
) -> None:
    first, second = submit_all(
        receiver,
        paid_referral("acc-100", "tok_shared_card_01"),
        paid_referral("acc-200", "tok_shared_card_01"),
    )
    assert first["cluster_id"] == second["cluster_id"]  # the card linked them
    shared = factors(second)["shared_cards"]
    assert shared["points"] == 10
    assert shared["detail"].startswith("a card pays for several accounts")
    assert factors(first) == factors(second)  # the whole cluster is re-ranked
    with receiver.http("analyst") as http:
        queue = {i["referral_id"]: i for i in http.get("/v1/triage").json()["items"]}
        cluster = http.get(f"/v1/clusters/{first['cluster_id']}").json()
    assert "shared_cards" in {f["factor"] for f in queue[first["referral_id"]]["cluster"]}
    assert "shared_cards" in {f["factor"] for f in cluster["breakdown"]}


def test_accounts_each_paid_by_their_own_card_score_no_shared_cards(receiver: Receiver) -> None:
    first, second = submit_all(
        receiver,
        paid_referral("acc-100", "tok_own_card_0001", phone="07700 900441"),
        paid_referral("acc-200", "tok_own_card_0002", phone="07700 900441"),
    )
    assert first["cluster_id"] == second["cluster_id"]  # the phone linked them
    assert "shared_cards" not in factors(second)
    assert "accounts" in factors(second)


def test_the_shared_card_points_grow_with_the_accounts_a_card_pays_for_up_to_a_cap() -> None:
    def shared(pairs: int, cards: int) -> int | None:
        counts = {"account": pairs, "paying_card": cards, "card_account": pairs}
        _, breakdown = cluster_score(counts, 1)
        return next((f["points"] for f in breakdown if f["factor"] == "shared_cards"), None)

    assert [shared(1, 1), shared(2, 2), shared(2, 1), shared(3, 1), shared(9, 2)] == [
        None, None, 10, 20, 20
    ]  # fmt: skip
