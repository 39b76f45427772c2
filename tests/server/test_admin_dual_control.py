"""Dual control from the attacker's side: one admin alone can neither mint a token that reads
referral content nor make a key that signs in an ASW's name."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_server.db import tables
from strive_server.services import admin

from .conftest import SETUP, Receiver, fresh_referral

ASW = "example-adverts"


def as_token(receiver: Receiver, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=receiver.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def ask_for_analyst(receiver: Receiver, name: str = "DC Vale") -> dict[str, Any]:
    with receiver.http("admin") as alice:
        asked = alice.post("/v1/admin/tokens", json={"name": name, "role": "analyst"})
    assert asked.status_code == 202, asked.text
    body: dict[str, Any] = asked.json()
    return body


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code, response.json()["code"]


def audit_actions(receiver: Receiver) -> list[tuple[str, str]]:
    with receiver.session() as session:
        rows = session.execute(
            sa.select(tables.AuditEvent.action, tables.AuditEvent.actor).order_by(
                tables.AuditEvent.id
            )
        ).all()
    return [(action, actor) for action, actor in rows]


def test_one_admin_cannot_mint_a_content_reading_token(receiver: Receiver) -> None:
    alias = receiver.token("admin", name="  TEST-Admin ")
    for role in ("analyst", "supervisor", "admin"):
        asked = ask_for_analyst(receiver) if role == "analyst" else None
        if asked is None:
            with receiver.http("admin") as alice:
                response = alice.post("/v1/admin/tokens", json={"name": "x", "role": role})
            assert response.status_code == 202
            asked = response.json()
        assert "token" not in asked and asked["state"] == "pending"
        assert asked["requested_by"] == "test-admin" and asked["role"] == role
        # Approving one's own request is refused, by the same token or another of the same
        # holder (one person's second token is still one person).
        with receiver.http("admin") as alice:
            own = alice.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert problem(own) == (403, "approval_by_requester")
        with as_token(receiver, alias) as alice_again:
            own = alice_again.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert problem(own) == (403, "approval_by_requester")
    with receiver.session() as session:  # nothing was created
        roles = session.scalars(sa.select(tables.Token.role)).all()
        assert sorted(roles) == ["admin", "admin"]
        states = session.scalars(sa.select(tables.ApprovalRequest.state)).all()
        assert states == ["pending"] * 3


def test_only_an_admin_approves(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    for role in ("analyst", "supervisor", "auditor"):
        with receiver.http(role) as http:
            refused = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
            assert problem(refused) == (403, "forbidden")
            assert problem(http.get("/v1/admin/approval-requests")) == (403, "forbidden")
    with httpx.Client(base_url=receiver.url) as anonymous:
        refused = anonymous.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(refused) == (401, "authentication_required")
    with receiver.http("admin") as alice:
        assert alice.get(f"/v1/admin/approval-requests/{asked['id']}").json()["state"] == "pending"


def test_a_second_admin_approves_once_and_the_token_is_split_between_the_two(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(referral)
    asked = ask_for_analyst(receiver)
    request = f"/v1/admin/approval-requests/{asked['id']}"
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        approved = http.post(f"{request}/approve")
        assert approved.status_code == 200, approved.text
        body = approved.json()
        assert body["state"] == "approved" and body["decided_by"] == "Bob Admin"
        assert "token" not in body and body["half_collected"] is False
        half_b = body["token_half"]
        assert half_b["role"] == "analyst" and half_b["name"] == "DC Vale"
        assert body["token_id"] == half_b["id"] and half_b["half"].startswith("strvB_")
        again = http.post(f"{request}/approve")
        assert problem(again) == (409, "approval_closed")
        withdrawn = http.post(f"{request}/reject")
        assert problem(withdrawn) == (409, "approval_closed")
        shown = http.get(request).json()
        assert "token_half" not in shown and shown["token_id"] == half_b["id"]  # shown once
        # The approver cannot collect the requester's half.
        assert problem(http.post(f"{request}/collect")) == (403, "approval_not_requester")
    with receiver.session() as session:  # half A waits on the row, the token is not stored
        row = session.get(tables.ApprovalRequest, asked["id"])
        assert row is not None and row.token_half is not None
        assert row.token_half.startswith("strvA_")
        assert half_b["half"][6:] not in str(row.parameters) + str(row.result) + row.token_half
    carol = receiver.token("admin", name="Carol Admin")
    with as_token(receiver, carol) as http:  # nor can a third admin
        assert problem(http.post(f"{request}/collect")) == (403, "approval_not_requester")
    with receiver.http("analyst") as http:
        assert problem(http.post(f"{request}/collect")) == (403, "forbidden")
    with receiver.http("admin") as alice:
        collected = alice.post(f"{request}/collect")
        assert collected.status_code == 200, collected.text
        half_a = collected.json()
        assert half_a["id"] == half_b["id"] and half_a["half"].startswith("strvA_")
        assert half_a["expires_at"] == half_b["expires_at"]
        assert problem(alice.post(f"{request}/collect")) == (409, "approval_collected")
        assert alice.get(request).json()["half_collected"] is True
    with receiver.session() as session:  # erased once collected
        row = session.get(tables.ApprovalRequest, asked["id"])
        assert row is not None and row.token_half is None
    token = admin.join_token_halves(half_b["half"], half_a["half"])
    assert token == "strv_" + half_a["half"][6:] + half_b["half"][6:]
    path = f"/v1/referrals/{referral['referral_id']}"
    for alone in (half_a["half"], half_b["half"], "strv_" + half_a["half"][6:],
                  "strv_" + half_b["half"][6:], half_b["half"][6:] + half_a["half"][6:]):  # fmt: skip
        with as_token(receiver, alone) as http:
            assert problem(http.get(path)) == (401, "token_invalid")
    with as_token(receiver, token) as analyst:
        assert analyst.get(path).status_code == 200
    actions = audit_actions(receiver)
    assert ("approval.requested", "test-admin") in actions
    assert ("token.created", "Bob Admin") in actions
    assert ("approval.approved", "Bob Admin") in actions
    assert ("approval.collected", "test-admin") in actions


def test_an_approver_cannot_complete_dual_control_alone(receiver: Receiver) -> None:
    """The review's attack: Bob approves Alice's request for an admin token for Carol and
    would use Carol's token to approve his own request for an analyst token."""
    with receiver.http("admin") as alice:
        asked = alice.post("/v1/admin/tokens", json={"name": "Carol", "role": "admin"}).json()
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve").json()
        half_b = approved["token_half"]["half"]
        assert problem(http.post(f"/v1/admin/approval-requests/{asked['id']}/collect")) == (
            403,
            "approval_not_requester",
        )
        mine = http.post("/v1/admin/tokens", json={"name": "Bob's analyst", "role": "analyst"})
        assert mine.status_code == 202
    # Every use of the half Bob holds fails: it is not Carol's token.
    for guess in (half_b, "strv_" + half_b[6:], "strv_" + half_b[6:] * 2):
        with as_token(receiver, guess) as carol:
            approve = carol.post(f"/v1/admin/approval-requests/{mine.json()['id']}/approve")
            assert problem(approve) == (401, "token_invalid")
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(tables.Token.role == "analyst")) == 0


def test_collecting_needs_an_approved_token_request_and_happens_once(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    request = f"/v1/admin/approval-requests/{asked['id']}"
    with receiver.http("admin") as alice:
        assert problem(alice.post(f"{request}/collect")) == (409, "conflict")  # pending
        asw = alice.post(
            "/v1/admin/asws",
            json={
                "asw_id": "a",
                "name": "A",
                "public_key_jwk": SigningKey.generate().public_key.to_jwk(),
            },
        ).json()
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        assert http.post(f"{request}/approve").status_code == 200
        assert http.post(f"/v1/admin/approval-requests/{asw['id']}/approve").status_code == 200
    with receiver.http("admin") as alice:  # an ASW's registration has no half
        refused = alice.post(f"/v1/admin/approval-requests/{asw['id']}/collect")
        assert problem(refused) == (409, "conflict")
        assert problem(alice.post("/v1/admin/approval-requests/999999/collect")) == (
            404,
            "not_found",
        )
    # Two collections at once: one gets the half, the other is refused.
    alias = receiver.token("admin", name="Test-Admin")
    barrier = threading.Barrier(2)

    def collect(token: str) -> httpx.Response:
        with as_token(receiver, token) as http:
            barrier.wait()
            return http.post(f"{request}/collect")

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(collect, [receiver.token("admin"), alias]))
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [problem(r) for r in responses if r.status_code == 409] == [(409, "approval_collected")]


def test_a_compatibility_variant_of_a_name_is_the_same_person(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    fullwidth = receiver.token(
        "admin", name="\uff34\uff45\uff53\uff54\uff0d\uff41\uff44\uff4d\uff49\uff4e"
    )
    with as_token(receiver, fullwidth) as alias:
        own = alias.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(own) == (403, "approval_by_requester")
    requester = admin.Person("test-admin", None, SETUP)
    assert requester.is_same_as("\u1d57est-admin", None)  # a modifier letter t
    assert requester.is_same_as("\uff54\uff45\uff53\uff54-\uff41dmin ", None)
    assert not requester.is_same_as("test-admin2", None)


def test_an_expired_request_cannot_be_approved(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    assert datetime.fromisoformat(asked["expires_at"]) - datetime.now(UTC) > timedelta(hours=23)
    with receiver.session() as session, session.begin():
        row = session.get(tables.ApprovalRequest, asked["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        late = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert problem(late) == (409, "approval_expired")
        listed = http.get("/v1/admin/approval-requests", params={"state": "expired"}).json()
        assert [r["id"] for r in listed] == [asked["id"]]
        assert http.get("/v1/admin/approval-requests").json() == []  # not pending any more
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(tables.Token.role == "analyst")) == 0


def test_revoked_tokens_neither_approve_nor_keep_a_request_alive(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    bob = receiver.token("admin", name="Bob Admin")
    with receiver.session() as session, session.begin():
        bob_row = session.scalars(sa.select(tables.Token).where(tables.Token.name == "Bob Admin"))
        admin.revoke_token(session, token_id=bob_row.one().id, actor=SETUP)
    with as_token(receiver, bob) as http:
        refused = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(refused) == (401, "token_invalid")
    # The requester's token is revoked (a leaver, a stolen token): the request dies with it.
    with receiver.session() as session, session.begin():
        alice = session.scalars(sa.select(tables.Token).where(tables.Token.name == "test-admin"))
        admin.revoke_token(session, token_id=alice.one().id, actor=SETUP)
    carol = receiver.token("admin", name="Carol Admin")
    with as_token(receiver, carol) as http:
        refused = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(refused) == (409, "approval_closed")
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(tables.Token.role == "analyst")) == 0


def test_a_request_dies_when_its_requesters_token_expires(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    with receiver.session() as session, session.begin():
        alice = session.scalars(sa.select(tables.Token).where(tables.Token.name == "test-admin"))
        alice.one().expires_at = datetime.now(UTC) - timedelta(seconds=1)
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        refused = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(refused) == (409, "approval_closed")
    assert "expired" in refused.json()["detail"]
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(tables.Token.role == "analyst")) == 0


def test_a_key_signs_for_an_asw_only_after_a_second_admin_approves(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    intruder = SigningKey.generate()
    with receiver.http("admin") as alice:
        asked = alice.post(
            f"/v1/admin/asws/{ASW}/keys", json={"public_key_jwk": intruder.public_key.to_jwk()}
        )
    assert asked.status_code == 202
    assert asked.json()["key_id"] == intruder.public_key.key_id

    def signed_read() -> httpx.Response:
        url = f"{receiver.url}/v1/information-requests"
        headers = {"Strive-Asw-Id": ASW}
        return httpx.get(url, headers=headers | sign_request("GET", url, headers, b"", intruder))

    assert problem(signed_read()) == (401, "key_unknown")
    with receiver.http("admin") as alice:
        own = alice.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
    assert problem(own) == (403, "approval_by_requester")
    assert problem(signed_read()) == (401, "key_unknown")
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
    assert approved.status_code == 200 and approved.json()["key_id"] == intruder.public_key.key_id
    assert signed_read().status_code == 200


def test_registering_an_asw_needs_a_second_admin(receiver: Receiver) -> None:
    key = SigningKey.generate()
    body = {"asw_id": "new-asw", "name": "New ASW", "public_key_jwk": key.public_key.to_jwk()}
    with receiver.http("admin") as alice:
        asked = alice.post("/v1/admin/asws", json=body)
        assert asked.status_code == 202 and asked.json()["asw_id"] == "new-asw"
        assert alice.get("/v1/admin/asws").json() == []
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        rejected = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/reject")
        assert rejected.json()["state"] == "rejected"
        late = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
        assert problem(late) == (409, "approval_closed")
    with receiver.http("admin") as alice:
        asked = alice.post("/v1/admin/asws", json=body)
    with as_token(receiver, bob) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
        assert approved.status_code == 200
        assert [a["asw_id"] for a in http.get("/v1/admin/asws").json()] == ["new-asw"]
        again = http.post("/v1/admin/asws", json=body)
    assert problem(again) == (409, "conflict")


def test_auditor_tokens_need_no_second_person(receiver: Receiver) -> None:
    with receiver.http("admin") as alice:
        created = alice.post("/v1/admin/tokens", json={"name": "A. Auditor", "role": "auditor"})
    assert created.status_code == 201 and created.json()["token"].startswith("strv_")


def test_two_admins_approving_at_once_create_one_token(receiver: Receiver) -> None:
    asked = ask_for_analyst(receiver)
    approvers = [receiver.token("admin", name=name) for name in ("Bob Admin", "Carol Admin")]
    barrier = threading.Barrier(len(approvers))

    def approve(token: str) -> httpx.Response:
        with as_token(receiver, token) as http:
            barrier.wait()
            return http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")

    with ThreadPoolExecutor(len(approvers)) as pool:
        responses = list(pool.map(approve, approvers))
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [problem(r) for r in responses if r.status_code == 409] == [(409, "approval_closed")]
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(tables.Token.role == "analyst")) == 1


def test_joining_needs_one_half_of_each_kind() -> None:
    a, b = "strvA_" + "a" * 43, "strvB_" + "b-_9" * 10 + "xyz"
    assert admin.join_token_halves(a, b) == admin.join_token_halves(f" {b}\n", a)
    assert admin.join_token_halves(a, b) == "strv_" + a[6:] + b[6:]
    for first, second in (
        (a, a),  # two A halves
        (b, b),
        (a, b[:-1]),  # too short
        (a, b + "c"),  # too long
        (a, b[:-1] + "="),  # not base64url
        (a, "strv_" + b[6:]),  # a token, not a half
        (a[6:], b),  # the prefix missing
    ):
        with pytest.raises(ValueError, match="half"):
            admin.join_token_halves(first, second)
