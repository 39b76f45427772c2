"""Submitting referrals end to end: the real SDK against the real server, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_client import (
    ReferralConflict,
    ReferralRejected,
    verify_receipt,
)
from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.keys import SigningKey
from strive_server.db import tables
from strive_server.services import admin

from .conftest import RECEIVER_ID, SETUP, Receiver, fresh_referral

ASW = "example-adverts"


def envelope_for(referral: dict[str, Any], key: SigningKey, *, asw_id: str = ASW,
                 audience: str = RECEIVER_ID, issued_at: datetime | None = None) -> bytes:  # fmt: skip
    payload = build_submission(
        referral, asw_id=asw_id, audience=audience,
        issued_at=issued_at or datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    return sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()


def post(receiver: Receiver, body: bytes, *, asw_id: str | None = ASW,
         content_type: str = "application/vnd.dsse.envelope.v1+json") -> httpx.Response:  # fmt: skip
    headers = {"Content-Type": content_type}
    if asw_id:
        headers["Strive-Asw-Id"] = asw_id
    with receiver.http() as http:
        return http.post("/v1/referrals", content=body, headers=headers)


def stored(receiver: Receiver) -> int:
    with receiver.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(tables.Referral)) or 0


def test_a_submission_is_stored_byte_for_byte_with_a_verifiable_receipt(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    referral = fresh_referral("op-strive-1-london.json", asw_id=ASW)
    raw = envelope_for(referral, key)
    response = post(receiver, raw)
    assert response.status_code == 201, response.text
    body = response.json()
    receipt = verify_receipt(
        body["receipt_envelope"].encode(),  # the exact text of the signed envelope
        [receiver.settings.signing_key.public_key],
        sent_envelope=raw,
    )
    assert receipt.referral_id == referral["referral_id"] and receipt.asw_id == ASW
    assert body["replayed"] is False and body["receipt"]["referral_id"] == referral["referral_id"]
    with receiver.session() as session:
        row = session.scalars(sa.select(tables.Referral)).one()
        assert row.envelope == raw and row.state == "received"
        assert row.receipt_envelope == body["receipt_envelope"].encode()
        kinds = {s.kind for s in row.selectors}
        assert {"phone", "email", "payer_name", "account"} <= kinds
        actions = session.scalars(sa.select(tables.AuditEvent.action)).all()
        assert "referral.submitted" in actions
    # No personal data in the receipt: only identifiers, digests and times.
    assert set(body["receipt"]) == {
        "receipt_version", "receiver_id", "asw_id", "referral_id", "envelope_sha256",
        "referral_digest", "received_at", "status",
    }  # fmt: skip


def test_the_sdk_submits_and_a_replay_returns_the_original_receipt(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        first = client.submit_referral(referral)
        again = client.submit_referral(referral)
    assert first.replayed is False and again.replayed is True
    assert first.receipt == again.receipt
    assert stored(receiver) == 1


def test_same_id_with_different_content_is_a_conflict_and_nothing_changes(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(referral)
        changed = dict(referral, narrative="Something else entirely, under the same id.")
        with pytest.raises(ReferralConflict) as caught:
            client.submit_referral(changed)
    assert caught.value.status == 409 and caught.value.code == "referral_conflict"
    with receiver.session() as session:
        row = session.scalars(sa.select(tables.Referral)).one()
        assert row.document["narrative"] == referral["narrative"]


def test_tampered_envelope_is_refused_and_nothing_is_stored(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    envelope = json.loads(envelope_for(fresh_referral(asw_id=ASW), key))
    sig = bytearray(__import__("base64").b64decode(envelope["signatures"][0]["sig"]))
    sig[0] ^= 1
    envelope["signatures"][0]["sig"] = __import__("base64").b64encode(bytes(sig)).decode()
    response = post(receiver, json.dumps(envelope).encode())
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "signature_invalid"
    assert stored(receiver) == 0


@pytest.mark.parametrize("case", ["unknown_key", "other_asw_key", "revoked_key"])
def test_keys_that_are_not_the_asws_current_keys_are_refused(receiver: Receiver, case: str) -> None:
    key = receiver.register_asw(ASW)
    other = receiver.register_asw("demo-classifieds")
    referral = fresh_referral(asw_id=ASW)
    if case == "unknown_key":
        signer, expected = SigningKey.generate(), "key_unknown"
    elif case == "other_asw_key":
        signer, expected = other, "key_unknown"
    else:
        with receiver.session() as session, session.begin():
            admin.revoke_key(session, asw_id=ASW, key_id=key.key_id, actor=SETUP)
        signer, expected = key, "key_revoked"
    response = post(receiver, envelope_for(referral, signer))
    assert (response.status_code, response.json()["code"]) == (401, expected)
    assert stored(receiver) == 0


def test_an_asw_cannot_submit_in_another_asws_name(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    mallory = receiver.register_asw("demo-classifieds")
    # Signed by demo-classifieds, claiming example-adverts in the payload and the referral.
    raw = envelope_for(fresh_referral(asw_id=ASW), mallory, asw_id=ASW)
    response = post(receiver, raw, asw_id="demo-classifieds")
    assert (response.status_code, response.json()["code"]) == (403, "asw_mismatch")
    # Signed by demo-classifieds for itself, but the referral names example-adverts.
    raw = envelope_for(fresh_referral(asw_id=ASW), mallory, asw_id="demo-classifieds")
    response = post(receiver, raw, asw_id="demo-classifieds")
    assert response.status_code == 403
    assert response.json()["errors"][0]["pointer"] == "/reporter/organisation_id"
    assert stored(receiver) == 0


@pytest.mark.parametrize(
    ("issued", "audience", "code"),
    [
        (timedelta(minutes=-20), RECEIVER_ID, "envelope_stale"),
        (timedelta(minutes=10), RECEIVER_ID, "envelope_from_future"),
        (timedelta(0), "another-receiver.example", "audience_mismatch"),
    ],
)
def test_stale_future_and_misaddressed_envelopes_are_refused(
    receiver: Receiver, issued: timedelta, audience: str, code: str
) -> None:
    key = receiver.register_asw(ASW)
    when = datetime.now(UTC).replace(microsecond=0) + issued
    raw = envelope_for(fresh_referral(asw_id=ASW), key, audience=audience, issued_at=when)
    response = post(receiver, raw)
    assert (response.status_code, response.json()["code"]) == (401, code)
    assert stored(receiver) == 0


def test_an_invalid_referral_gets_every_error_with_its_pointer(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    referral["urgency"] = {"level": "immediate"}
    referral["indicators"][0]["code"] = "made_up"
    del referral["narrative"]
    response = post(receiver, envelope_for(referral, key))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "referral_invalid"
    assert {(e["pointer"], e["code"]) for e in problem["errors"]} == {
        ("/narrative", "missing_field"),
        ("/urgency/reason", "missing_field"),
    }
    assert stored(receiver) == 0
    fixed = dict(referral, narrative="Now long enough but the code is still wrong.")
    fixed["urgency"] = {"level": "routine"}
    with receiver.client(ASW, validate=False) as client, pytest.raises(ReferralRejected) as caught:
        client.submit_referral(fixed)
    assert caught.value.pointer == "/indicators/0/code" and caught.value.code == "referral_invalid"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "envelope_malformed"),
        (b'{"payloadType": 1}', "application/json", 400, "envelope_malformed"),
        (b"\xff\xfe\x00", "application/json", 400, "envelope_malformed"),
        (b"[" * 100_000, "application/json", 400, "envelope_malformed"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b" " * (3 * 1024 * 1024), "application/json", 413, "body_too_large"),
    ],
)
def test_bad_input_is_a_clean_problem_and_the_server_stays_healthy(
    receiver: Receiver, body: bytes, content_type: str, status: int, code: str
) -> None:
    receiver.register_asw(ASW)
    response = post(receiver, body, content_type=content_type)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert stored(receiver) == 0
    with receiver.http() as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200


def test_unknown_routes_and_methods_are_problem_documents(receiver: Receiver) -> None:
    with receiver.http() as http:
        missing = http.get("/v2/nothing")
        wrong = http.delete("/v1/referrals")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_the_rate_limit_answers_429_with_retry_after(
    receiver: Receiver, receiver_settings: Any
) -> None:
    key = receiver.register_asw(ASW)
    object.__setattr__(
        receiver.app.state,
        "settings",
        receiver_settings.model_copy(update={"rate_limit_per_minute": 2}),
    )
    codes = [post(receiver, envelope_for(fresh_referral(asw_id=ASW), key)) for _ in range(3)]
    assert [r.status_code for r in codes[:2]] == [201, 201]
    assert codes[2].status_code == 429 and int(codes[2].headers["Retry-After"]) >= 1
    assert codes[2].json()["code"] == "rate_limited"
    assert stored(receiver) == 2


def test_a_batch_reports_per_item_and_one_bad_item_fails_no_other(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    held = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(held)
        new = fresh_referral(asw_id=ASW)
        conflicting = dict(held, narrative="Changed content under an id already used.")
        results = client.submit_batch([new, held, conflicting])
    assert [r.status for r in results] == ["accepted", "duplicate", "rejected"]
    assert results[2].problem is not None and results[2].problem["code"] == "referral_conflict"
    assert results[1].result is not None and results[1].result.replayed
    assert stored(receiver) == 2


def test_the_discovery_document_names_audience_versions_and_keys(receiver: Receiver) -> None:
    with receiver.http() as http:
        document = http.get("/.well-known/strive-configuration").json()
    assert document["receiver_id"] == RECEIVER_ID
    assert document["supported_schema_versions"] == ["1.0", "1.1"]
    assert document["jwks"]["keys"][0]["kid"] == receiver.settings.signing_key.key_id


def test_the_stored_evidence_cannot_be_altered_or_deleted(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(fresh_referral(asw_id=ASW))
    with receiver.session() as session:
        for statement in (
            sa.update(tables.Referral).values(envelope=b"forged"),
            sa.update(tables.Referral).values(document={"forged": True}),
            sa.delete(tables.Referral),
            sa.update(tables.AuditEvent).values(action="nothing"),
            sa.delete(tables.AuditEvent),
        ):
            with pytest.raises(sa.exc.DBAPIError, match="strive"), session.begin():
                session.execute(statement)
        with session.begin():  # casework columns still change normally
            session.execute(sa.update(tables.Referral).values(state="triaged"))


def test_a_deadlocked_store_is_retried_and_stores_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from strive_server.services import ingestion

    class Deadlock(Exception):
        sqlstate = "40P01"

    real_store = ingestion.store_referral
    calls = []

    def flaky_store(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT ...", {}, Deadlock())
        return real_store(*args, **kwargs)

    monkeypatch.setattr(ingestion, "store_referral", flaky_store)
    key = receiver.register_asw(ASW)
    response = post(receiver, envelope_for(fresh_referral(asw_id=ASW), key))
    assert response.status_code == 201 and len(calls) == 2
    assert stored(receiver) == 1


def test_a_batch_stored_in_one_transaction_keeps_per_item_results(receiver: Receiver) -> None:
    """The batch's items share one store transaction (one commit), each in a savepoint: the
    same referral twice is one accepted and one duplicate, an invalid item and an item over
    the rate limit are refused alone, and nothing of a refused item is stored."""
    key = receiver.register_asw(ASW)
    object.__setattr__(
        receiver.app.state,
        "settings",
        receiver.settings.model_copy(update={"rate_limit_per_minute": 3}),
    )
    first, second, third = (fresh_referral(asw_id=ASW) for _ in range(3))
    invalid = dict(fresh_referral(asw_id=ASW), urgency={"level": "whenever"})
    lines = [envelope_for(first, key), envelope_for(first, key), envelope_for(invalid, key),
             envelope_for(second, key), envelope_for(third, key)]  # fmt: skip
    with receiver.http() as http:
        response = http.post(
            "/v1/referrals/batch", content=b"\n".join(lines),
            headers={"Content-Type": "application/x-ndjson", "Strive-Asw-Id": ASW},
        )  # fmt: skip
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "accepted", "duplicate", "rejected", "accepted", "rejected"
    ]  # fmt: skip
    assert results[2]["problem"]["code"] == "referral_invalid"
    assert results[4]["problem"]["code"] == "rate_limited"
    assert stored(receiver) == 2
    with receiver.session() as session:
        ids = set(session.scalars(sa.select(tables.Referral.referral_id)))
        events = session.scalar(
            sa.select(sa.func.count())
            .select_from(tables.AuditEvent)
            .where(tables.AuditEvent.action == "referral.submitted")
        )
    assert ids == {first["referral_id"], second["referral_id"]}
    assert events == 2
