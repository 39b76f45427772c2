"""A recipient's signed requests from the attacker's side: they are verified exactly as an
ASW's (the same code), so a revoked key, a replayed nonce, another recipient's key or name,
and a flood are all refused as they are for ASWs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.sealed import RecipientDecryptionKeys
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.services import dissemination

from .conftest import SETUP, Receiver

LONDON, KENT = "met-cse", "kent"
OUTCOMES = "/v1/recipient/outcomes"
REPORT = json.dumps({"dissemination_id": "dis-x", "outcome": "arrest"}).encode()


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    return receiver_settings.model_copy(update={"signed_read_limit_per_minute": 3})


def register(receiver: Receiver, recipient_id: str) -> SigningKey:
    key = SigningKey.generate()
    public = [k.to_jwk() for k in RecipientDecryptionKeys.generate().public_keys()]
    with receiver.session() as session, session.begin():
        dissemination.register_recipient(
            session, recipient_id=recipient_id, name=recipient_id, regions=["TLI"],
            jwks={"keys": [key.public_key.to_jwk(), *public]}, actor=SETUP,
        )  # fmt: skip
    return key


def signed(
    receiver: Receiver, recipient_id: str, key: SigningKey, *, url: str | None = None
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Strive-Recipient-Id": recipient_id}
    return headers | sign_request("POST", url or receiver.url + OUTCOMES, headers, REPORT, key)


def post(receiver: Receiver, headers: Any) -> httpx.Response:
    with httpx.Client(base_url=receiver.url, timeout=30) as http:
        return http.post(OUTCOMES, content=REPORT, headers=headers)


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code, response.json()["code"]


def nonces(receiver: Receiver) -> int:
    with receiver.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(tables.RequestNonce)))


def within_one_minute() -> None:
    """Quotas count per clock minute: start a test early enough in one to finish in it."""
    second = datetime.now(UTC).second
    if second > 40:
        time.sleep(61 - second)


def test_a_verified_request_reaches_the_route(receiver: Receiver) -> None:
    key = register(receiver, LONDON)
    # Authenticated: the answer is the route's (nothing was disseminated to it).
    assert problem(post(receiver, signed(receiver, LONDON, key))) == (
        403,
        "outcome_not_disseminated",
    )


def test_a_revoked_recipients_key_is_answered_key_revoked(receiver: Receiver) -> None:
    key = register(receiver, LONDON)
    with receiver.http("admin") as http:
        assert http.delete(f"/v1/admin/recipients/{LONDON}").status_code == 200
    refused = post(receiver, signed(receiver, LONDON, key))
    assert problem(refused) == (401, "key_revoked")
    # Earlier checks keep their own code, as for ASWs: a stale signature is still stale.
    stale = signed(receiver, LONDON, key)
    stale["Signature-Input"] = stale["Signature-Input"].replace("created=", "created=1")
    assert problem(post(receiver, stale))[0] == 401
    assert problem(post(receiver, stale))[1] != "key_revoked"


def test_a_replayed_request_is_refused(receiver: Receiver) -> None:
    key = register(receiver, LONDON)
    headers = signed(receiver, LONDON, key)
    assert post(receiver, headers).status_code == 403  # authenticated
    assert problem(post(receiver, headers)) == (401, "nonce_replayed")


def test_another_recipients_key_or_name_does_not_authenticate(receiver: Receiver) -> None:
    london, kent = register(receiver, LONDON), register(receiver, KENT)
    # Kent's key naming London, London's key naming Kent, and a name nobody registered.
    assert problem(post(receiver, signed(receiver, LONDON, kent))) == (401, "key_unknown")
    assert problem(post(receiver, signed(receiver, KENT, london))) == (401, "key_unknown")
    assert problem(post(receiver, signed(receiver, "no-such-force", london))) == (
        401,
        "key_unknown",
    )
    # An ASW's key is not a recipient's, even under the same name.
    receiver.register_asw(LONDON)
    assert problem(post(receiver, signed(receiver, LONDON, receiver.keys[LONDON]))) == (
        401,
        "key_unknown",
    )
    assert nonces(receiver) == 0  # nothing refused stored a nonce


def test_a_signature_for_another_origin_names_the_receivers(receiver: Receiver) -> None:
    key = register(receiver, LONDON)
    elsewhere = receiver.url.replace("127.0.0.1", "localhost") + OUTCOMES
    refused = post(receiver, signed(receiver, LONDON, key, url=elsewhere))
    assert problem(refused) == (401, "signature_invalid")
    assert receiver.url in refused.json()["detail"]


def test_signature_fields_on_several_lines_are_combined(receiver: Receiver) -> None:
    key = register(receiver, LONDON)
    headers = signed(receiver, LONDON, key)
    foreign_input = 'proxy=("@method");created=1700000000;keyid="proxy";tag="proxy-app"'
    foreign_signature = "proxy=:" + "A" * 86 + "==:"
    lines = [
        ("Content-Type", "application/json"),
        ("Strive-Recipient-Id", LONDON),
        ("Content-Digest", headers["Content-Digest"]),
        ("Signature-Input", foreign_input),
        ("Signature-Input", headers["Signature-Input"]),
        ("Signature", foreign_signature),
        ("Signature", headers["Signature"]),
    ]
    assert problem(post(receiver, lines)) == (403, "outcome_not_disseminated")


def test_signed_requests_are_bounded_per_recipient(receiver: Receiver) -> None:
    london, kent = register(receiver, LONDON), register(receiver, KENT)
    receiver.register_asw(LONDON)  # an ASW with the same id has a count of its own
    within_one_minute()
    for _ in range(3):
        assert post(receiver, signed(receiver, LONDON, london)).status_code == 403
    before = nonces(receiver)
    refused = post(receiver, signed(receiver, LONDON, london))
    assert problem(refused) == (429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert nonces(receiver) == before  # refused, nothing stored
    # Kent's quota and the ASW's are their own; a forged request spends nobody's.
    assert post(receiver, signed(receiver, KENT, kent)).status_code == 403
    url = receiver.url + "/v1/information-requests"
    asw_headers = {"Strive-Asw-Id": LONDON}
    asw_headers |= sign_request("GET", url, asw_headers, b"", receiver.keys[LONDON])
    assert httpx.get(url, headers=asw_headers, timeout=30).status_code == 200
