"""Dual control over recipients, from the attacker's side: one admin alone can neither register
a force whose key receives sealed police intelligence (or signs outcome reports), nor add a key
to a registered force."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from click.testing import CliRunner

from strive_client._cli.main import cli
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.sealed import RecipientDecryptionKeys
from strive_server.db import tables
from strive_server.services import dissemination

from .conftest import SETUP, Receiver
from .test_admin_dual_control import as_token, audit_actions, problem

FORCE = "met-cse"


def jwks(signing: SigningKey | None = None, *, encryption: bool = True) -> dict[str, Any]:
    keys = [(signing or SigningKey.generate()).public_key.to_jwk()]
    if encryption:
        keys += [k.to_jwk() for k in RecipientDecryptionKeys.generate().public_keys()]
    return {"keys": keys}


def ask_to_register(receiver: Receiver, keys: dict[str, Any]) -> dict[str, Any]:
    body = {"recipient_id": FORCE, "name": "Met CSE", "regions": ["TLI"], "public_keys": keys}
    with receiver.http("admin") as alice:
        asked = alice.post("/v1/admin/recipients", json=body)
    assert asked.status_code == 202, asked.text
    result: dict[str, Any] = asked.json()
    return result


def recipients(receiver: Receiver) -> list[str]:
    with receiver.session() as session:
        return list(session.scalars(sa.select(tables.Recipient.id)))


def recipient_keys(receiver: Receiver) -> set[str]:
    with receiver.session() as session:
        return set(session.scalars(sa.select(tables.RecipientKey.key_id)))


def report(receiver: Receiver, key: SigningKey) -> httpx.Response:
    """A signed outcome report: 403 once the key authenticates (nothing was sent), 401
    while it does not."""
    url = f"{receiver.url}/v1/recipient/outcomes"
    body = json.dumps({"dissemination_id": "dis-x", "outcome": "arrest"}).encode()
    headers = {"Content-Type": "application/json", "Strive-Recipient-Id": FORCE}
    headers |= sign_request("POST", url, headers, body, key)
    return httpx.post(url, content=body, headers=headers, timeout=30)


def test_one_admin_cannot_register_a_recipient(receiver: Receiver) -> None:
    signing = SigningKey.generate()
    keys = jwks(signing)
    asked = ask_to_register(receiver, keys)
    assert asked["action"] == "recipient.register" and asked["state"] == "pending"
    assert asked["recipient_id"] == FORCE and asked["regions"] == ["TLI"]
    assert asked["key_ids"] == [k["kid"] for k in keys["keys"]]  # to check with the force
    assert recipients(receiver) == [] and recipient_keys(receiver) == set()
    # The requester, by the same token or another token of the same holder, cannot approve.
    alias = receiver.token("admin", name=" TEST-ADMIN")
    for token in (receiver.token("admin"), alias):
        with as_token(receiver, token) as alice:
            own = alice.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert problem(own) == (403, "approval_by_requester")
    assert recipients(receiver) == []
    assert problem(report(receiver, signing)) == (401, "key_unknown")
    # Nothing can be disseminated to it yet.
    with receiver.http("admin") as alice:
        assert alice.get("/v1/admin/recipients").json() == []
    # A second admin approves: it exists, and its signing key authenticates.
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "approved"
        again = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
        assert problem(again) == (409, "approval_closed")
    assert recipients(receiver) == [FORCE]
    assert recipient_keys(receiver) == set(asked["key_ids"])
    assert problem(report(receiver, signing)) == (403, "outcome_not_disseminated")
    actions = audit_actions(receiver)
    assert ("approval.requested", "test-admin") in actions
    assert ("recipient.registered", "Bob Admin") in actions
    assert ("approval.approved", "Bob Admin") in actions


def test_only_an_admin_asks_or_approves(receiver: Receiver) -> None:
    asked = ask_to_register(receiver, jwks())
    for role in ("analyst", "supervisor", "auditor"):
        with receiver.http(role) as http:
            refused = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
            assert problem(refused) == (403, "forbidden")
            body = {"recipient_id": "x", "name": "x", "public_keys": jwks()}
            assert problem(http.post("/v1/admin/recipients", json=body)) == (403, "forbidden")
    with httpx.Client(base_url=receiver.url) as anonymous:
        refused = anonymous.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(refused) == (401, "authentication_required")
    assert recipients(receiver) == []


def test_an_expired_recipient_request_cannot_be_approved(receiver: Receiver) -> None:
    asked = ask_to_register(receiver, jwks())
    with receiver.session() as session, session.begin():
        row = session.get(tables.ApprovalRequest, asked["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        late = http.post(f"/v1/admin/approval-requests/{asked['id']}/approve")
    assert problem(late) == (409, "approval_expired")
    assert recipients(receiver) == []


def test_a_key_is_added_to_a_recipient_only_after_a_second_admin_approves(
    receiver: Receiver,
) -> None:
    with receiver.session() as session, session.begin():
        dissemination.register_recipient(
            session, recipient_id=FORCE, name="Met CSE", regions=["TLI"], jwks=jwks(),
            actor=SETUP,
        )  # fmt: skip
    intruder = SigningKey.generate()
    with receiver.http("admin") as alice:
        asked = alice.post(
            f"/v1/admin/recipients/{FORCE}/keys",
            json={"public_keys": jwks(intruder, encryption=False)},
        )
        assert asked.status_code == 202, asked.text
        assert asked.json()["action"] == "recipient.key_add"
        assert asked.json()["key_ids"] == [intruder.public_key.key_id]
        own = alice.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
    assert problem(own) == (403, "approval_by_requester")
    assert problem(report(receiver, intruder)) == (401, "key_unknown")
    bob = receiver.token("admin", name="Bob Admin")
    with as_token(receiver, bob) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
        assert approved.status_code == 200, approved.text
        twice = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
    assert problem(twice) == (409, "approval_closed")
    assert problem(report(receiver, intruder)) == (403, "outcome_not_disseminated")
    assert ("recipient.key_added", "Bob Admin") in audit_actions(receiver)


def test_recipient_requests_are_checked_when_asked(receiver: Receiver) -> None:
    force_keys = jwks()
    with receiver.session() as session, session.begin():
        dissemination.register_recipient(
            session, recipient_id=FORCE, name="Met CSE", regions=["TLI"], jwks=force_keys,
            actor=SETUP,
        )  # fmt: skip
        dissemination.register_recipient(
            session, recipient_id="revoked-force", name="Gone", regions=[], jwks=jwks(),
            actor=SETUP,
        )  # fmt: skip
        dissemination.revoke_recipient(session, recipient_id="revoked-force", actor=SETUP)
    registered = recipient_keys(receiver)
    with receiver.http("admin") as alice:
        again = alice.post("/v1/admin/recipients", json={
            "recipient_id": FORCE, "name": "x", "public_keys": jwks()})  # fmt: skip
        no_encryption = alice.post("/v1/admin/recipients", json={
            "recipient_id": "kent", "name": "x", "public_keys": jwks(encryption=False)})  # fmt: skip
        unknown = alice.post("/v1/admin/recipients/no-such-force/keys",
                             json={"public_keys": jwks()})  # fmt: skip
        revoked = alice.post("/v1/admin/recipients/revoked-force/keys",
                             json={"public_keys": jwks()})  # fmt: skip
        bad = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}
        unreadable = alice.post(f"/v1/admin/recipients/{FORCE}/keys",
                                json={"public_keys": bad})  # fmt: skip
        registered_key = alice.post(f"/v1/admin/recipients/{FORCE}/keys",
                                    json={"public_keys": force_keys})  # fmt: skip
        pending = alice.get("/v1/admin/approval-requests").json()
    assert problem(again) == (409, "conflict")
    assert problem(no_encryption) == (422, "request_invalid")
    assert problem(unknown) == (404, "recipient_unknown")
    assert problem(revoked) == (409, "recipient_revoked")
    assert problem(unreadable) == (422, "request_invalid")
    assert problem(registered_key) == (409, "conflict")
    assert pending == [] and recipient_keys(receiver) == registered


def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["admin", *args, "--db", database_url])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_line_needs_two_people(receiver: Receiver, tmp_path: Path) -> None:
    db = receiver.settings.database_url
    with receiver.session() as session, session.begin():
        dissemination.register_recipient(
            session, recipient_id=FORCE, name="Met CSE", regions=["TLI"], jwks=jwks(),
            actor=SETUP,
        )  # fmt: skip
    new_key = SigningKey.generate()
    key_file = tmp_path / "keys.jwk"
    key_file.write_text(json.dumps(jwks(new_key, encryption=False)))
    code, stdout, stderr = _cli(db, "add-recipient-key", "--recipient-id", FORCE,
                                "--public-key", str(key_file))  # fmt: skip
    assert code == 2 and "--requester" in stderr and stdout == ""
    code, stdout, stderr = _cli(db, "add-recipient-key", "--recipient-id", FORCE,
                                "--public-key", str(key_file), "--requester", "alice")  # fmt: skip
    assert code == 0, stderr
    request_id = stdout.strip()
    assert request_id.isdigit() and new_key.public_key.key_id in stderr
    code, stdout, stderr = _cli(db, "approve", request_id, "--approver", " Alice ")
    assert code == 1 and "approval_by_requester" in stderr and stdout == ""
    assert new_key.public_key.key_id not in recipient_keys(receiver)
    code, stdout, stderr = _cli(db, "approve", request_id, "--approver", "bob")
    assert code == 0, stderr
    assert stdout == new_key.public_key.key_id + "\n"
    assert new_key.public_key.key_id in recipient_keys(receiver)
    code, stdout, stderr = _cli(db, "approve", request_id, "--approver", "carol")
    assert code == 1 and "approval_closed" in stderr
