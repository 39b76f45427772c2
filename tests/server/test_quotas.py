"""Quotas from the attacker's side: refused submissions are bounded without spending the
acceptance quota, signed reads are bounded, and nonces do not pile up."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.services.ratelimit import NONCE_RETENTION, remember_nonce

from .conftest import RECEIVER_ID, Receiver, fresh_referral

ASW = "example-adverts"
OTHER = "demo-classifieds"


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    return receiver_settings.model_copy(
        update={
            "rate_limit_per_minute": 3,
            "refused_submission_limit_per_minute": 4,
            "signed_read_limit_per_minute": 3,
        }
    )


def within_one_minute() -> None:
    """Quotas count per clock minute: start a test early enough in one to finish in it."""
    second = datetime.now(UTC).second
    if second > 40:
        time.sleep(61 - second)


def submit(receiver: Receiver, asw_id: str, *, valid: bool = True) -> httpx.Response:
    referral = fresh_referral(asw_id=asw_id)
    if not valid:
        referral["urgency"] = "yesterday"  # signed and authenticated, but not a valid referral
    payload = build_submission(
        referral, asw_id=asw_id, audience=RECEIVER_ID,
        issued_at=datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    raw = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [receiver.keys[asw_id]]).to_json()
    headers = {"Content-Type": "application/vnd.dsse.envelope.v1+json", "Strive-Asw-Id": asw_id}
    return httpx.post(f"{receiver.url}/v1/referrals", content=raw, headers=headers, timeout=30)


def signed_read(receiver: Receiver, asw_id: str, path: str, key: SigningKey | None = None) -> Any:
    url = receiver.url + path
    headers = {"Strive-Asw-Id": asw_id}
    signature = sign_request("GET", url, headers, b"", key or receiver.keys[asw_id])
    return httpx.get(url, headers=headers | signature, timeout=30)


def rate_limited(response: httpx.Response) -> bool:
    if response.status_code != 429:
        return False
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    return True


def count(receiver: Receiver, table: Any) -> int:
    with receiver.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def test_refused_submissions_do_not_spend_the_acceptance_quota(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    within_one_minute()
    for _ in range(3):
        refused = submit(receiver, ASW, valid=False)
        assert refused.status_code == 422 and refused.json()["code"] == "referral_invalid"
    accepted = [submit(receiver, ASW).status_code for _ in range(3)]
    assert accepted == [201, 201, 201]
    assert rate_limited(submit(receiver, ASW))  # the acceptance quota is 3


def test_refused_submissions_are_bounded_too(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    within_one_minute()
    statuses = [submit(receiver, ASW, valid=False).status_code for _ in range(4)]
    assert statuses == [422] * 4
    assert rate_limited(submit(receiver, ASW, valid=False))
    assert rate_limited(submit(receiver, ASW))  # until the minute ends
    assert submit(receiver, OTHER).status_code == 201  # another ASW is not affected
    with receiver.session() as session:  # the refusals left no referral behind
        assert session.scalar(sa.select(sa.func.count()).where(tables.Referral.asw_id == ASW)) == 0


def test_signed_reads_are_bounded_per_asw(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    within_one_minute()
    missing = "/v1/referrals/00000000-0000-4000-8000-000000000000/status"
    # Requests that do not verify spend nothing: nobody exhausts another ASW's quota.
    forger = SigningKey.generate()
    for _ in range(4):
        assert signed_read(receiver, ASW, missing, key=forger).status_code == 401
    nonces, events = count(receiver, tables.RequestNonce), count(receiver, tables.AuditEvent)
    answers = [signed_read(receiver, ASW, missing).status_code for _ in range(3)]
    assert answers == [404, 404, 404]
    assert count(receiver, tables.RequestNonce) == nonces + 3
    refused = signed_read(receiver, ASW, "/v1/information-requests")
    assert rate_limited(refused)
    # A refused read stores neither a nonce nor an audit event.
    assert count(receiver, tables.RequestNonce) == nonces + 3
    assert count(receiver, tables.AuditEvent) == events
    assert signed_read(receiver, OTHER, "/v1/information-requests").status_code == 200


def test_nonces_are_forgotten_once_no_signature_could_carry_them(receiver: Receiver) -> None:
    now = datetime.now(UTC)
    with receiver.session() as session, session.begin():
        remember_nonce(
            session, key_id="k", nonce="old", now=now - NONCE_RETENTION - timedelta(seconds=1)
        )
        remember_nonce(session, key_id="k", nonce="recent", now=now - NONCE_RETENTION / 2)
        remember_nonce(session, key_id="k", nonce="new", now=now)
    with receiver.session() as session:
        kept = set(session.scalars(sa.select(tables.RequestNonce.nonce)))
    assert kept == {"recent", "new"}
    # Retention outlasts every signature the receiver would accept.
    assert timedelta(seconds=300 + 60) <= NONCE_RETENTION
