"""The SDK, sync and async alike, against the real receiver: receipts, replays, conflicts,
batches, signed reads, refusals, sandbox, key pinning; and, through the interposer, what a
real receiver cannot be made to do (5xx, timeouts, bad receipts, bad discovery documents)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_client import (
    AuthenticationFailed,
    ConnectionFailed,
    DiscoveryInvalid,
    NotFound,
    RateLimited,
    ReferralConflict,
    ReferralInvalid,
    ReferralRejected,
    RequestTimeout,
    RetryPolicy,
    SandboxViolation,
    SchemaVersionUnsupported,
    ServerError,
    StriveClient,
    VerificationError,
)
from strive_schema.codes import ProblemCode
from strive_schema.envelope import parse_envelope, parse_submission
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_server.db import tables
from strive_server.services import admin

from ..server.conftest import SETUP, Receiver
from .conftest import (
    ASW_ID,
    RECEIVER_ID,
    Clients,
    another,
    problem_response,
    rewrite_json,
)

DISCOVERY = "/.well-known/strive-configuration"


def stored(receiver: Receiver) -> list[tables.Referral]:
    with receiver.session() as session:
        return list(session.scalars(sa.select(tables.Referral)).all())


def sent_referral(request: httpx.Request) -> dict[str, Any]:
    return dict(parse_submission(parse_envelope(request.content).payload).referral)


# --- submitting -----------------------------------------------------------------------------


def test_submit_returns_a_verified_receipt_and_its_exact_bytes(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    interposer = clients.interposer()
    result = clients(interposer=interposer).submit_referral(fresh)
    assert result.receipt.referral_id == fresh["referral_id"] and result.replayed is False
    assert (result.receipt.asw_id, result.receipt.receiver_id) == (ASW_ID, RECEIVER_ID)
    [row] = stored(clients.receiver)
    # The bytes the client keeps are the bytes the receiver signed and stored.
    assert result.receipt_envelope == row.receipt_envelope
    [post] = interposer.posts()
    assert post.headers["Content-Type"] == "application/vnd.dsse.envelope.v1+json"
    assert row.envelope == post.content
    assert result.receipt.envelope_sha256 == row.envelope_sha256


def test_a_resubmission_is_a_replay_with_the_original_receipt(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    clock = [datetime.now(UTC)]
    interposer = clients.interposer()
    client = clients(interposer=interposer, clock=lambda: clock[0])
    first = client.submit_referral(fresh)
    same_bytes = client.submit_referral(fresh)
    clock[0] += timedelta(seconds=30)  # signed again: another envelope, the same referral
    re_signed = client.submit_referral(fresh)
    assert first.replayed is False and same_bytes.replayed and re_signed.replayed
    assert first.receipt == same_bytes.receipt == re_signed.receipt
    assert first.receipt_envelope == same_bytes.receipt_envelope == re_signed.receipt_envelope
    bodies = [r.content for r in interposer.posts()]
    assert bodies[0] == bodies[1] != bodies[2]
    assert len(stored(clients.receiver)) == 1


def test_the_same_id_with_other_content_is_a_conflict(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    client = clients()
    client.submit_referral(fresh)
    fresh["narrative"] = "A different narrative for the same referral id."
    with pytest.raises(ReferralConflict) as caught:
        client.submit_referral(fresh)
    error = caught.value
    assert (error.status, error.code) == (409, ProblemCode.REFERRAL_CONFLICT)
    assert error.problem["referral_id"] == fresh["referral_id"]
    assert len(stored(clients.receiver)) == 1


def test_a_batch_has_one_result_per_item_with_its_index(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    client = clients()
    client.submit_referral(fresh)
    new = another(fresh)
    conflicting = dict(fresh, narrative="Changed content under the same referral id.")
    results = client.submit_batch([new, conflicting, fresh])
    assert [(r.index, r.status) for r in results] == [
        (0, "accepted"),
        (1, "rejected"),
        (2, "duplicate"),
    ]
    assert results[0].result is not None and results[0].result.replayed is False
    assert results[0].result.receipt.referral_id == new["referral_id"]
    assert results[1].problem is not None
    assert results[1].problem["code"] == ProblemCode.REFERRAL_CONFLICT
    assert results[2].result is not None and results[2].result.replayed is True
    assert len(stored(clients.receiver)) == 2


def test_refusals_carry_status_code_and_pointer(clients: Clients, fresh: dict[str, Any]) -> None:
    del fresh["narrative"]
    with pytest.raises(ReferralRejected) as caught:
        clients(validate=False).submit_referral(fresh)  # the receiver is the one to refuse
    error = caught.value
    assert (error.status, error.code, error.pointer) == (
        422,
        ProblemCode.REFERRAL_INVALID,
        "/narrative",
    )
    assert error.errors[0]["code"] == "missing_field"
    assert stored(clients.receiver) == []


def test_rate_limiting_is_reported_with_retry_after(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    receiver = clients.receiver
    receiver.app.state.settings = receiver.settings.model_copy(update={"rate_limit_per_minute": 1})
    client = clients(retry=RetryPolicy(max_attempts=1))
    client.submit_referral(fresh)
    with pytest.raises(RateLimited) as caught:
        client.submit_referral(another(fresh))
    assert caught.value.code == ProblemCode.RATE_LIMITED
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1


def test_invalid_referrals_are_refused_locally_and_nothing_is_sent(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    del fresh["narrative"]
    interposer = clients.interposer()
    with pytest.raises(ReferralInvalid) as caught:
        clients(interposer=interposer).submit_referral(fresh)
    assert [(e.pointer, e.code) for e in caught.value.errors] == [("/narrative", "missing_field")]
    assert interposer.posts() == []


def test_a_referral_for_another_organisation_is_refused_locally(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    fresh["reporter"]["organisation_id"] = "someone-else"
    with pytest.raises(ReferralInvalid) as caught:
        clients().submit_referral(fresh)
    assert caught.value.errors[0].pointer == "/reporter/organisation_id"


def test_a_sandbox_client_sends_only_test_referrals(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    client = clients(sandbox=True)
    assert client.submit_referral(fresh).receipt.referral_id == fresh["referral_id"]
    live = another(fresh, is_test=False)
    with pytest.raises(SandboxViolation):
        client.submit_referral(live)
    assert [row.referral_id for row in stored(clients.receiver)] == [fresh["referral_id"]]


def test_phone_numbers_are_normalised_before_signing(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    fresh["phones"] = [
        {"id": "ph-1", "raw": "07700 900123"},
        {"id": "ph-2", "raw": "ring the office"},
    ]
    interposer = clients.interposer()
    clients(interposer=interposer).submit_referral(fresh)
    assert sent_referral(interposer.posts()[0])["phones"] == [
        {"id": "ph-1", "raw": "07700 900123", "e164": "+447700900123"},
        {"id": "ph-2", "raw": "ring the office"},
    ]


# --- schema versions --------------------------------------------------------------------------


def test_a_schema_version_the_receiver_does_not_list_is_not_sent(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    fresh["schema_version"] = "2.0"
    interposer = clients.interposer()
    with pytest.raises(SchemaVersionUnsupported) as caught:
        clients(interposer=interposer, validate=False).submit_referral(fresh)
    assert caught.value.schema_version == "2.0" and caught.value.supported == ("1.0", "1.1")
    assert interposer.posts() == []


def test_a_receiver_listing_other_versions_gets_nothing(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(
        DISCOVERY, lambda body: body.update(supported_schema_versions=["2.0"])
    )
    client = clients(interposer=interposer)
    with pytest.raises(SchemaVersionUnsupported, match=r"2\.0"):
        client.submit_referral(fresh)
    with pytest.raises(SchemaVersionUnsupported):
        client.submit_batch([fresh])
    assert interposer.posts() == [] and interposer.posts("/v1/referrals/batch") == []


# --- the discovery document --------------------------------------------------------------------


def test_the_discovery_document_is_read_with_its_limits_and_origin(clients: Clients) -> None:
    discovery = clients().get_configuration()
    assert discovery.receiver_id == RECEIVER_ID
    assert discovery.origin == clients.receiver.url
    assert discovery.supported_schema_versions == ["1.0", "1.1"]
    assert discovery.limits.request_max_age_seconds == 300
    assert discovery.limits.request_max_future_seconds == 60
    assert discovery.limits.max_envelope_bytes == clients.receiver.settings.max_envelope_bytes


def _set_first_kid(body: dict[str, Any]) -> None:
    body["jwks"]["keys"][0]["kid"] = SigningKey.generate().key_id


def _break_first_x(body: dict[str, Any]) -> None:
    body["jwks"]["keys"][0]["x"] = "not-a-key"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda body: body.update(jwks=body["jwks"]["keys"]), "/jwks"),
        (lambda body: body.update(jwks={}), "/jwks/keys"),
        (_set_first_kid, "/jwks/keys/0/kid"),
        (_break_first_x, "/jwks/keys/0"),
        (lambda body: body.pop("receiver_id"), "/receiver_id"),
        (lambda body: body.update(supported_schema_versions=[]), "/supported_schema_versions"),
        (lambda body: body.update(supported_schema_versions="1.0"), "/supported_schema_versions"),
        (lambda body: body["limits"].update(max_batch_items="many"), "/limits/max_batch_items"),
    ],
    ids=[
        "jwks-bare-array",
        "jwks-without-keys",
        "kid-not-the-thumbprint",
        "x-not-a-key",
        "no-receiver-id",
        "no-schema-versions",
        "schema-versions-not-an-array",
        "limit-not-an-integer",
    ],
)
def test_a_malformed_discovery_document_names_the_member_at_fault(
    clients: Clients, change: Any, pointer: str
) -> None:
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(DISCOVERY, change)
    with pytest.raises(DiscoveryInvalid) as caught:
        clients(interposer=interposer).get_configuration()
    assert caught.value.pointer == pointer
    assert pointer in str(caught.value)


def test_a_discovery_document_that_is_not_json_is_discovery_invalid(clients: Clients) -> None:
    interposer = clients.interposer()
    interposer.scripted = [httpx.Response(200, content=b"<html>maintenance</html>")]
    with pytest.raises(DiscoveryInvalid) as caught:
        clients(interposer=interposer).get_configuration()
    assert caught.value.pointer == ""


# --- receipts and key pinning -----------------------------------------------------------------


def _tamper_receipt(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    if request.url.path != "/v1/referrals":
        return response
    body = response.json()
    text = body["receipt_envelope"]
    body["receipt_envelope"] = text.replace('"payload":"e', '"payload":"f', 1)
    assert body["receipt_envelope"] != text
    return httpx.Response(response.status_code, json=body)


def test_a_tampered_receipt_does_not_verify(clients: Clients, fresh: dict[str, Any]) -> None:
    interposer = clients.interposer()
    interposer.rewrite = _tamper_receipt
    with pytest.raises(VerificationError) as caught:
        clients(interposer=interposer).submit_referral(fresh)
    assert caught.value.code in {"signature_invalid", "envelope_malformed"}


def test_a_receipt_envelope_given_as_an_object_is_refused(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    import json

    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(
        "/v1/referrals",
        lambda body: body.update(receipt_envelope=json.loads(body["receipt_envelope"])),
    )
    with pytest.raises(VerificationError) as caught:
        clients(interposer=interposer).submit_referral(fresh)
    assert caught.value.code == "payload_malformed"


def test_a_receipt_under_an_unpublished_key_is_refused_after_one_refresh(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    other = SigningKey.generate().public_key.to_jwk()
    interposer = clients.interposer()
    interposer.rewrite = rewrite_json(DISCOVERY, lambda body: body["jwks"].update(keys=[other]))
    with pytest.raises(VerificationError) as caught:
        clients(interposer=interposer).submit_referral(fresh)
    assert caught.value.code == "key_unknown"
    assert interposer.discoveries() == 2  # looked again in case the receiver rotated


def test_pinned_receiver_keys_are_the_only_keys_trusted(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    interposer = clients.interposer()
    pinned_wrong = clients(interposer=interposer, receiver_keys=[SigningKey.generate().public_key])
    with pytest.raises(VerificationError) as caught:
        pinned_wrong.submit_referral(fresh)
    assert caught.value.code == "key_unknown"
    assert interposer.discoveries() == 1  # no refresh: the published keys are not trusted
    real_key = clients.receiver.settings.signing_key.public_key
    pinned_right = clients(receiver_keys=[real_key])
    assert pinned_right.submit_referral(fresh).replayed is True  # stored by the first attempt


# --- retries (the interposer answers in the receiver's place) -----------------------------------


def test_retries_after_503_send_the_same_bytes_and_honour_retry_after(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    interposer = clients.interposer()
    unavailable = problem_response(503, ProblemCode.INTERNAL_ERROR, "down for maintenance")
    unavailable.headers["Retry-After"] = "7"
    waits: list[float] = []
    client = clients(interposer=interposer, on_sleep=waits.append, rng=random.Random(1))
    client.get_configuration()
    interposer.scripted = [
        unavailable,
        problem_response(502, ProblemCode.INTERNAL_ERROR, "bad gateway"),
    ]
    result = client.submit_referral(fresh)
    bodies = [r.content for r in interposer.posts()]
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert waits[0] == 7.0 and 0 <= waits[1] <= 1.0  # Retry-After, then jittered 2nd backoff
    assert result.receipt.referral_id == fresh["referral_id"] and result.replayed is False
    assert len(stored(clients.receiver)) == 1


def test_a_long_outage_re_signs_the_same_referral(clients: Clients, fresh: dict[str, Any]) -> None:
    clock = [datetime.now(UTC) - timedelta(minutes=8)]

    def wait(_seconds: float) -> None:
        clock[0] += timedelta(minutes=10)

    interposer = clients.interposer()
    client = clients(interposer=interposer, on_sleep=wait, clock=lambda: clock[0])
    client.get_configuration()
    interposer.scripted = [problem_response(503, ProblemCode.INTERNAL_ERROR, "down")]
    client.submit_referral(fresh)
    first, second = (
        parse_submission(parse_envelope(r.content).payload) for r in interposer.posts()
    )
    assert first.issued_at < second.issued_at
    assert first.referral_digest == second.referral_digest


def test_connection_errors_are_retried_then_raised(clients: Clients, fresh: dict[str, Any]) -> None:
    interposer = clients.interposer()
    client = clients(interposer=interposer, retry=RetryPolicy(max_attempts=3))
    client.get_configuration()
    interposer.scripted = [httpx.ConnectError("refused") for _ in range(3)]
    with pytest.raises(ConnectionFailed):
        client.submit_referral(fresh)
    assert len(interposer.posts()) == 3 and stored(clients.receiver) == []


def test_timeouts_raise_request_timeout(clients: Clients) -> None:
    interposer = clients.interposer()
    interposer.scripted = [httpx.ReadTimeout("slow")]
    with pytest.raises(RequestTimeout):
        clients(interposer=interposer, retry=RetryPolicy(max_attempts=1)).get_configuration()


def test_server_errors_after_every_retry_raise_server_error(clients: Clients) -> None:
    interposer = clients.interposer()
    interposer.scripted = [
        problem_response(500, ProblemCode.INTERNAL_ERROR, "the receiver failed; try again")
        for _ in range(2)
    ]
    with pytest.raises(ServerError) as caught:
        clients(interposer=interposer, retry=RetryPolicy(max_attempts=2)).get_configuration()
    assert (caught.value.status, caught.value.code) == (500, ProblemCode.INTERNAL_ERROR)


# --- signed reads -----------------------------------------------------------------------------


def test_status_shows_the_real_state_and_released_feedback(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    client = clients()
    client.submit_referral(fresh)
    received = client.get_referral_status(fresh["referral_id"])
    assert received.state == "received" and received.feedback == []
    path = f"/v1/referrals/{fresh['referral_id']}"
    with clients.receiver.http("analyst") as http:
        moved = http.post(f"{path}/transitions", json={"to_state": "triaged", "reason": "seen"})
        assert moved.status_code == 200, moved.text
        released = http.post(
            f"{path}/feedback",
            json={"message": "Thank you; assessed.", "release_to_asw": True},
        )
        assert released.status_code == 201, released.text
        http.post(f"{path}/feedback", json={"message": "Internal note.", "release_to_asw": False})
    status = client.get_referral_status(fresh["referral_id"])
    assert status.state == "triaged"
    assert [f.message for f in status.feedback] == ["Thank you; assessed."]
    assert status.updated_at >= status.received_at


def test_status_of_an_unknown_referral_is_not_found(clients: Clients) -> None:
    with pytest.raises(NotFound) as caught:
        clients().get_referral_status("0b6f3f1e-7c2a-4d4e-9a51-2f0c8d7e1a01")
    assert (caught.value.status, caught.value.code) == (404, ProblemCode.NOT_FOUND)


def test_requests_for_information_are_listed_and_answered(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    client = clients()
    client.submit_referral(fresh)
    assert client.list_information_requests().items == []
    with clients.receiver.http("analyst") as http:
        created = http.post(
            f"/v1/referrals/{fresh['referral_id']}/information-requests",
            json={"question": "Any further payer details?"},
        )
        assert created.status_code == 201, created.text
    [request] = client.list_information_requests().items
    assert request.referral_id == fresh["referral_id"] and request.state == "open"
    answer = another(fresh, source="law_enforcement_request")
    result = client.answer_information_request(request, answer)
    assert result.receipt.referral_id == answer["referral_id"]
    assert client.list_information_requests().items == []
    [answered] = client.list_information_requests(state="answered").items
    assert answered.id == request.id and answered.answer_referral_id == answer["referral_id"]


def test_signed_reads_with_a_revoked_key_are_key_revoked(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    receiver = clients.receiver
    old = receiver.keys[ASW_ID]
    clients().submit_referral(fresh)
    new = SigningKey.generate()
    with receiver.session() as session, session.begin():
        admin.add_key(session, asw_id=ASW_ID, public_key=new.public_key, actor=SETUP)
        admin.revoke_key(session, asw_id=ASW_ID, key_id=old.key_id, actor=SETUP)
    revoked = clients(key=old)
    with pytest.raises(AuthenticationFailed) as read:
        revoked.get_referral_status(fresh["referral_id"])
    with pytest.raises(AuthenticationFailed) as listed:
        revoked.list_information_requests()
    with pytest.raises(AuthenticationFailed) as submitted:
        revoked.submit_referral(another(fresh))
    codes = {read.value.code, listed.value.code, submitted.value.code}
    assert codes == {ProblemCode.KEY_REVOKED}
    assert clients(key=new).get_referral_status(fresh["referral_id"]).state == "received"
    stranger = clients(key=SigningKey.generate())
    with pytest.raises(AuthenticationFailed) as unknown:
        stranger.get_referral_status(fresh["referral_id"])
    assert unknown.value.code == "key_unknown"


def test_a_request_signed_for_another_origin_is_told_which_origin(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    receiver = clients.receiver
    clients().submit_referral(fresh)
    # Behind a proxy: the receiver verifies against its public origin, not the URL we used.
    receiver.app.state.settings = receiver.settings.model_copy(
        update={"public_base_url": "https://referrals.example"}
    )
    client = clients()
    assert client.get_configuration().origin == "https://referrals.example"
    with pytest.raises(AuthenticationFailed) as caught:
        client.get_referral_status(fresh["referral_id"])
    assert caught.value.code == "signature_invalid"
    assert "https://referrals.example" in caught.value.problem["detail"]


# --- the client itself ------------------------------------------------------------------------


def test_keys_load_from_an_encrypted_pem_file(
    tmp_path: Any, clients: Clients, fresh: dict[str, Any]
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(clients.receiver.keys[ASW_ID].to_pem(password=b"correct horse"))
    client = clients(key=path, key_password=b"correct horse")
    assert client.submit_referral(fresh).receipt.referral_id == fresh["referral_id"]


def test_the_client_repr_shows_no_key_material() -> None:
    key = SigningKey.generate()
    with StriveClient("http://127.0.0.1:9", asw_id=ASW_ID, key=key) as client:
        text = repr(client) + repr(client._core.signer)
    assert "PRIVATE" not in text and key.key_id in repr(client._core.signer)


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=1.0, max_delay=8.0)
    rng = random.Random(3)
    delays = [policy.delay(n, None, rng) for n in range(1, 10)]
    assert all(d is not None and 0 <= d <= min(8.0, 2 ** (n - 1)) for n, d in enumerate(delays, 1))
    assert policy.delay(10, None, rng) is None
    assert policy.delay(1, 500.0) is None  # Retry-After beyond the cap: stop, let caller decide


def test_plain_http_is_refused_off_loopback() -> None:
    key = SigningKey.generate()
    with pytest.raises(ValueError, match="https"):
        StriveClient("http://receiver.example", asw_id=ASW_ID, key=key)
    StriveClient("http://127.0.0.1:8000", asw_id=ASW_ID, key=key).close()
    StriveClient("http://receiver.example", asw_id=ASW_ID, key=key, allow_insecure=True).close()


def test_the_asw_id_header_only_chooses_whose_keys_are_tried(
    clients: Clients, fresh: dict[str, Any]
) -> None:
    receiver = clients.receiver
    clients().submit_referral(fresh)
    receiver.register_asw("other-adverts")
    url = f"{receiver.url}/v1/referrals/{fresh['referral_id']}/status"
    key = receiver.keys[ASW_ID]

    def read(asw_id: str) -> httpx.Response:
        headers = {"Strive-Asw-Id": asw_id}
        headers.update(sign_request("GET", url, headers, b"", key))
        return httpx.get(url, headers=headers)

    # Not covered by the signature: naming another ASW selects its keys, which do not verify.
    changed = read("other-adverts")
    assert (changed.status_code, changed.json()["code"]) == (401, "key_unknown")
    assert read(ASW_ID).status_code == 200


def test_replays_are_decided_after_the_rate_limit_and_todays_rules(
    clients: Clients, fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """spec/api.md, "Submitting a referral": the replay or conflict decision is the last step,
    so a replay is rate-limited and validated like any submission."""
    receiver = clients.receiver
    client = clients(validate=False, retry=RetryPolicy(max_attempts=1))
    first = client.submit_referral(fresh)
    # Today's rules refuse what was accepted then (the taxonomy withdrew the indicator).
    monkeypatch.setattr("strive_schema.semantics.is_known_indicator", lambda _code: False)
    with pytest.raises(ReferralRejected) as replay:
        client.submit_referral(fresh)
    assert (replay.value.code, replay.value.pointer) == (
        ProblemCode.REFERRAL_INVALID,
        "/indicators/0/code",
    )
    with pytest.raises(ReferralRejected):  # a conflict is not even reached
        client.submit_referral(dict(fresh, narrative="Other content under the same id."))
    monkeypatch.undo()
    [row] = stored(receiver)
    assert row.receipt_envelope == first.receipt_envelope  # the original stays held
    receiver.app.state.settings = receiver.settings.model_copy(update={"rate_limit_per_minute": 1})
    with pytest.raises(RateLimited):  # the quota is spent: the replay is not answered either
        client.submit_referral(fresh)
