"""The SDK against a fake receiver: receipts, retries, idempotency, errors, signed reads."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from strive_client import (
    AsyncStriveClient,
    ConnectionFailed,
    RateLimited,
    ReferralConflict,
    ReferralInvalid,
    ReferralRejected,
    RequestTimeout,
    RetryPolicy,
    SandboxViolation,
    ServerError,
    StriveClient,
    VerificationError,
)
from strive_schema.envelope import parse_envelope, parse_submission
from strive_schema.keys import SigningKey

from .conftest import ASW_ID, BASE_URL, FakeReceiver, problem


def client_for(receiver: FakeReceiver, asw_key: SigningKey, **kwargs: Any) -> StriveClient:
    kwargs.setdefault("sleep", lambda _seconds: None)
    return StriveClient(
        BASE_URL, asw_id=ASW_ID, key=asw_key, transport=httpx.MockTransport(receiver), **kwargs
    )


def posts(receiver: FakeReceiver) -> list[httpx.Request]:
    return [r for r in receiver.requests if r.method == "POST"]


def test_submit_returns_a_verified_receipt(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    with client_for(receiver, asw_key) as client:
        result = client.submit_referral(fresh)
    assert result.receipt.referral_id == fresh["referral_id"]
    assert result.receipt.asw_id == ASW_ID and result.replayed is False
    sent = posts(receiver)[0]
    assert sent.headers["Content-Type"] == "application/vnd.dsse.envelope.v1+json"
    submission = parse_submission(parse_envelope(sent.content).payload)
    assert submission.referral["referral_id"] == fresh["referral_id"]
    assert submission.audience == "receiver.test"


def test_a_resubmission_is_recognised_as_a_replay(
    asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    clock = [datetime.now(UTC)]
    receiver = FakeReceiver(
        asw_key=asw_key, receiver_key=SigningKey.generate(), now=lambda: clock[0]
    )
    with client_for(receiver, asw_key, clock=lambda: clock[0]) as client:
        first = client.submit_referral(fresh)
        same_bytes = client.submit_referral(fresh)
        clock[0] += timedelta(seconds=30)  # re-signed: a different envelope, same referral
        re_signed = client.submit_referral(fresh)
    assert first.replayed is False and same_bytes.replayed and re_signed.replayed
    assert first.receipt == same_bytes.receipt == re_signed.receipt
    bodies = [r.content for r in posts(receiver)]
    assert bodies[0] == bodies[1] != bodies[2]
    assert len(receiver.stored) == 1


def test_a_replay_receipt_for_other_content_is_refused(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    with client_for(receiver, asw_key) as client:
        client.submit_referral(fresh)
        original = receiver.stored[fresh["referral_id"]]
        fresh["narrative"] = "Changed content under the same referral id."
        # A receiver that (wrongly) answers changed content as a replay is caught.
        receiver.stored[fresh["referral_id"]] = (
            parse_submission(
                parse_envelope(client._core.submission(fresh, "receiver.test").envelope).payload
            ).referral_digest,
            original[1],
        )
        with pytest.raises(VerificationError) as caught:
            client.submit_referral(fresh)
    assert caught.value.code == "receipt_mismatch"


def test_retries_after_503_send_the_same_bytes_and_honour_retry_after(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    waits: list[float] = []
    receiver.scripted = [
        httpx.Response(200, json=receiver.discovery()),
        httpx.Response(503, headers={"Retry-After": "7"}),
        httpx.Response(502),
    ]
    with client_for(receiver, asw_key, sleep=waits.append, rng=random.Random(1)) as client:
        result = client.submit_referral(fresh)
    bodies = [r.content for r in posts(receiver)]
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert waits[0] == 7.0 and 0 <= waits[1] <= 1.0  # Retry-After, then jittered 2nd backoff
    assert result.receipt.referral_id == fresh["referral_id"]
    assert len(receiver.stored) == 1


def test_a_long_outage_re_signs_the_same_referral(
    asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    clock = [datetime.now(UTC)]
    receiver = FakeReceiver(
        asw_key=asw_key, receiver_key=SigningKey.generate(), now=lambda: clock[0]
    )

    def wait(seconds: float) -> None:
        clock[0] += timedelta(minutes=10)

    receiver.scripted = [httpx.Response(200, json=receiver.discovery()), httpx.Response(503)]
    with client_for(receiver, asw_key, sleep=wait, clock=lambda: clock[0]) as client:
        client.submit_referral(fresh)
    first, second = (parse_submission(parse_envelope(r.content).payload) for r in posts(receiver))
    assert first.issued_at < second.issued_at
    assert first.referral_digest == second.referral_digest


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=1.0, max_delay=8.0)
    rng = random.Random(3)
    delays = [policy.delay(n, None, rng) for n in range(1, 10)]
    assert all(d is not None and 0 <= d <= min(8.0, 2 ** (n - 1)) for n, d in enumerate(delays, 1))
    assert policy.delay(10, None, rng) is None
    assert policy.delay(1, 500.0) is None  # Retry-After beyond the cap: stop, let caller decide


def test_connection_errors_are_retried_then_raised(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    receiver.scripted = [httpx.Response(200, json=receiver.discovery())] + [
        httpx.ConnectError("refused") for _ in range(3)
    ]
    with (
        client_for(receiver, asw_key, retry=RetryPolicy(max_attempts=3)) as client,
        pytest.raises(ConnectionFailed),
    ):
        client.submit_referral(fresh)
    assert len(posts(receiver)) == 3


def test_timeouts_raise_request_timeout(receiver: FakeReceiver, asw_key: SigningKey) -> None:
    receiver.scripted = [httpx.ReadTimeout("slow")]
    with (
        client_for(receiver, asw_key, retry=RetryPolicy(max_attempts=1)) as client,
        pytest.raises(RequestTimeout),
    ):
        client.get_configuration()


def test_rate_limit_beyond_the_cap_raises_with_retry_after(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    receiver.scripted = [
        httpx.Response(200, json=receiver.discovery()),
        httpx.Response(
            429, headers={"Retry-After": "3600"}, json={"status": 429, "code": "rate_limited"}
        ),
    ]
    with client_for(receiver, asw_key) as client, pytest.raises(RateLimited) as caught:
        client.submit_referral(fresh)
    assert caught.value.retry_after == 3600.0 and caught.value.code == "rate_limited"


def test_server_errors_after_every_retry_raise_server_error(
    receiver: FakeReceiver, asw_key: SigningKey
) -> None:
    receiver.scripted = [httpx.Response(500) for _ in range(2)]
    with (
        client_for(receiver, asw_key, retry=RetryPolicy(max_attempts=2)) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.get_configuration()
    assert caught.value.status == 500


def test_rejections_carry_status_code_pointer_and_problem(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    receiver.scripted = [
        httpx.Response(200, json=receiver.discovery()),
        problem(422, "schema_invalid", "/adverts/0/url"),
    ]
    with client_for(receiver, asw_key) as client, pytest.raises(ReferralRejected) as caught:
        client.submit_referral(fresh)
    error = caught.value
    assert (error.status, error.code, error.pointer) == (422, "schema_invalid", "/adverts/0/url")
    assert error.problem["title"] == "schema_invalid"
    assert len(posts(receiver)) == 1  # 422 is not retried


def test_same_id_with_different_content_is_a_conflict(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    with client_for(receiver, asw_key) as client:
        client.submit_referral(fresh)
        fresh["narrative"] = "A different narrative for the same referral id."
        with pytest.raises(ReferralConflict):
            client.submit_referral(fresh)


def test_a_receipt_signed_by_another_key_does_not_verify(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    receiver.receipt_key = SigningKey.generate()
    with client_for(receiver, asw_key) as client, pytest.raises(VerificationError) as caught:
        client.submit_referral(fresh)
    assert caught.value.code == "key_unknown"
    discoveries = [r for r in receiver.requests if r.url.path.startswith("/.well-known")]
    assert len(discoveries) == 2  # refreshed once in case the receiver rotated its key


def test_a_tampered_receipt_does_not_verify(asw_key: SigningKey, fresh: dict[str, Any]) -> None:
    receiver = FakeReceiver(asw_key=asw_key, receiver_key=SigningKey.generate())

    def tamper(request: httpx.Request) -> httpx.Response:
        response = receiver(request)
        if request.url.path != "/v1/referrals":
            return response
        body = response.json()
        payload = body["receipt_envelope"]["payload"]
        body["receipt_envelope"]["payload"] = ("B" if payload[0] != "B" else "C") + payload[1:]
        return httpx.Response(response.status_code, json=body)

    with (
        StriveClient(
            BASE_URL, asw_id=ASW_ID, key=asw_key, transport=httpx.MockTransport(tamper)
        ) as client,
        pytest.raises(VerificationError) as caught,
    ):
        client.submit_referral(fresh)
    assert caught.value.code in {"signature_invalid", "envelope_malformed"}


def test_invalid_referrals_are_refused_locally(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    del fresh["narrative"]
    with client_for(receiver, asw_key) as client, pytest.raises(ReferralInvalid) as caught:
        client.submit_referral(fresh)
    assert [(e.pointer, e.code) for e in caught.value.errors] == [("/narrative", "missing_field")]
    assert posts(receiver) == []


def test_a_sandbox_client_refuses_live_referrals(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    fresh["is_test"] = False
    with client_for(receiver, asw_key, sandbox=True) as client, pytest.raises(SandboxViolation):
        client.submit_referral(fresh)
    assert posts(receiver) == []


def test_a_referral_for_another_organisation_is_refused(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    fresh["reporter"]["organisation_id"] = "someone-else"
    with client_for(receiver, asw_key) as client, pytest.raises(ReferralInvalid) as caught:
        client.submit_referral(fresh)
    assert caught.value.errors[0].pointer == "/reporter/organisation_id"


def test_phone_numbers_are_normalised_before_signing(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    fresh["phones"] = [
        {"id": "ph-1", "raw": "07700 900123"},
        {"id": "ph-2", "raw": "ring the office"},
    ]
    with client_for(receiver, asw_key) as client:
        client.submit_referral(fresh)
    phones = parse_submission(parse_envelope(posts(receiver)[0].content).payload).referral["phones"]
    assert phones == [
        {"id": "ph-1", "raw": "07700 900123", "e164": "+447700900123"},
        {"id": "ph-2", "raw": "ring the office"},
    ]


def test_signed_reads_status_and_requests_for_information(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    with client_for(receiver, asw_key) as client:
        client.submit_referral(fresh)
        status = client.get_referral_status(fresh["referral_id"])
        page = client.list_information_requests()
    assert status.state == "triaged" and status.feedback[0].message.startswith("Thank you")
    assert page.items[0].id == "rfi-1"
    reads = [r for r in receiver.requests if r.method == "GET" and "well-known" not in r.url.path]
    assert all("signature" in r.headers and "signature-input" in r.headers for r in reads)
    assert len({r.headers["signature"] for r in reads}) == 2  # fresh nonce per request


def test_answering_a_request_submits_a_linked_supplementary_referral(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    import uuid

    with client_for(receiver, asw_key) as client:
        client.submit_referral(fresh)
        request = client.list_information_requests().items[0]
        answer = dict(fresh, referral_id=str(uuid.uuid4()), source="law_enforcement_request")
        client.answer_information_request(request, answer)
    sent = parse_submission(parse_envelope(posts(receiver)[-1].content).payload).referral
    assert sent["supplements"] == {
        "referral_id": fresh["referral_id"],
        "relationship": "answers_request",
        "information_request_id": "rfi-1",
    }


def test_batch_results_are_per_item(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    import uuid

    other = dict(fresh, referral_id=str(uuid.uuid4()))
    with client_for(receiver, asw_key) as client:
        client.submit_referral(fresh)
        conflicting = dict(fresh, narrative="Changed content under the same referral id.")
        results = client.submit_batch([other, conflicting])
    assert [r.status for r in results] == ["accepted", "rejected"]
    assert (
        results[0].result is not None
        and results[0].result.receipt.referral_id == other["referral_id"]
    )
    assert results[1].problem is not None and results[1].problem["code"] == "referral_conflict"


def test_the_client_repr_shows_no_key_material(receiver: FakeReceiver, asw_key: SigningKey) -> None:
    with client_for(receiver, asw_key) as client:
        text = repr(client) + repr(client._core.signer)
    assert "PRIVATE" not in text and asw_key.key_id in repr(client._core.signer)


def test_the_async_client_submits_and_retries(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    receiver.scripted = [
        httpx.Response(200, json=receiver.discovery()),
        httpx.Response(503, headers={"Retry-After": "1"}),
    ]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def scenario() -> Any:
        async with AsyncStriveClient(
            BASE_URL,
            asw_id=ASW_ID,
            key=asw_key,
            transport=httpx.MockTransport(receiver),
            sleep=sleep,
        ) as client:
            result = await client.submit_referral(fresh)
            status = await client.get_referral_status(fresh["referral_id"])
            return result, status

    result, status = asyncio.run(scenario())
    assert result.receipt.referral_id == fresh["referral_id"] and status.state == "triaged"
    assert waits == [1.0]


def test_keys_load_from_a_pem_file(
    tmp_path: Any, receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(asw_key.to_pem(password=b"correct horse"))
    with StriveClient(
        BASE_URL,
        asw_id=ASW_ID,
        key=path,
        key_password=b"correct horse",
        transport=httpx.MockTransport(receiver),
    ) as client:
        assert client.submit_referral(fresh).receipt.referral_id == fresh["referral_id"]
    assert json.loads(json.dumps(receiver.discovery()))["receiver_id"] == "receiver.test"


def test_plain_http_is_refused_off_loopback(asw_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="https"):
        StriveClient("http://receiver.example", asw_id=ASW_ID, key=asw_key)
    StriveClient("http://127.0.0.1:8000", asw_id=ASW_ID, key=asw_key).close()
    StriveClient("http://receiver.example", asw_id=ASW_ID, key=asw_key, allow_insecure=True).close()


def test_pinned_receiver_keys_are_the_only_keys_trusted(
    receiver: FakeReceiver, asw_key: SigningKey, fresh: dict[str, Any]
) -> None:
    # The server publishes (and signs with) a key, but the ASW pinned another out of band.
    pinned = SigningKey.generate().public_key
    with (
        client_for(receiver, asw_key, receiver_keys=[pinned]) as client,
        pytest.raises(VerificationError) as caught,
    ):
        client.submit_referral(fresh)
    assert caught.value.code == "key_unknown"
    discoveries = [r for r in receiver.requests if r.url.path.startswith("/.well-known")]
    assert len(discoveries) == 1  # no refresh: the published keys are not trusted
    with client_for(receiver, asw_key, receiver_keys=[receiver.receiver_key.public_key]) as client:
        assert client.submit_referral(
            dict(fresh, referral_id=str(__import__("uuid").uuid4()))
        ).receipt
