"""Dual control from the attacker's side: one admin alone can neither mint a token that reads
referral content nor make a key that signs in an ASW's name."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
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


def test_a_second_admin_approves_once_and_receives_the_token(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(referral)
    asked = ask_for_analyst(receiver)
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert approved.status_code == 200, approved.text
        body = approved.json()
        assert body["state"] == "approved" and body["decided_by"] == "Bob Admin"
        token = body["token"]
        assert token["role"] == "analyst" and token["name"] == "DC Vale"
        assert body["token_id"] == token["id"]
        again = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert problem(again) == (409, "approval_closed")
        withdrawn = http.post(f"/v1/admin/approval-requests/{asked['id']}/reject")
        assert problem(withdrawn) == (409, "approval_closed")
        shown = http.get(f"/v1/admin/approval-requests/{asked['id']}").json()
        assert "token" not in shown and shown["token_id"] == token["id"]  # shown once only
    with as_token(receiver, token["token"]) as analyst:
        assert analyst.get(f"/v1/referrals/{referral['referral_id']}").status_code == 200
    actions = audit_actions(receiver)
    assert ("approval.requested", "test-admin") in actions
    assert ("token.created", "Bob Admin") in actions
    assert ("approval.approved", "Bob Admin") in actions
    with receiver.session() as session:  # the request never held the secret
        row = session.get(tables.ApprovalRequest, asked["id"])
        assert row is not None and token["token"] not in str(row.parameters) + str(row.result)


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
