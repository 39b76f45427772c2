"""The client suite: the SDK is conformant; a client that does not retry or that accepts
any receipt is named for each failure."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from strive_client import AsyncStriveClient, StriveClient
from strive_client._exceptions import VerificationError
from strive_client.conformance import MockReceiver, Report
from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey

from ..conftest import STRIVE, load_example

ASW = "conformance-client"


def _referral() -> dict[str, Any]:
    document = load_example("sandbox-minimal.json")
    document["referral_id"] = str(uuid.uuid4())
    document["created_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document["reporter"]["organisation_id"] = ASW
    return document


@pytest.fixture
def mock() -> Iterator[MockReceiver]:
    receiver = MockReceiver(0, retry_after=1, timeout=60)
    receiver.start()
    yield receiver
    receiver.stop()


def _session(mock: MockReceiver, submit_all: Any) -> Report:
    """Run the client in a thread while the mock waits for the session to end."""
    worker = threading.Thread(target=submit_all, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    answer = httpx.get(f"{mock.url}/conformance/report", timeout=10)
    assert answer.status_code == 200
    report = mock.finish()
    assert answer.json() == report.to_json()
    return report


def test_the_sdk_is_a_conforming_client(mock: MockReceiver) -> None:
    key = SigningKey.generate()
    mock.record.asw_public_key = key.public_key  # also verify every envelope's signature

    def submit_all() -> None:
        with StriveClient(mock.url, asw_id=ASW, key=key, sandbox=True) as client:
            for _ in mock.record.scenarios:
                referral = _referral()
                for _attempt in range(3):  # a refused receipt: the submission is unconfirmed
                    try:
                        client.submit_referral(referral)
                        break
                    except VerificationError:
                        continue
            status = client.get_referral_status(referral["referral_id"])  # 503, then 200
            assert status.referral_id == referral["referral_id"]
            client.get_referral_status(referral["referral_id"])

    report = _session(mock, submit_all)
    print(report.table())
    assert report.conformant, report.table()
    passed = {r.id for r in report.results if r.status == "pass"}
    assert passed >= {
        "C-DISC-01", "C-SUBMIT-01", "C-SUBMIT-02", "C-RETRY-01", "C-RETRY-02", "C-RETRY-03", "C-RETRY-04",
        "C-REPLAY-01", "C-RECEIPT-01", "C-RECEIPT-02", "C-RECEIPT-03",
        "C-READ-01", "C-READ-02", "C-READ-03", "C-READ-04", "C-READ-05",
    }  # fmt: skip
    assert len(mock.record.reads) == 3  # the 503, its retry and the second read


def test_the_async_sdk_is_a_conforming_client(mock: MockReceiver) -> None:
    key = SigningKey.generate()

    async def submit_async() -> None:
        async with AsyncStriveClient(mock.url, asw_id=ASW, key=key, sandbox=True) as client:
            for _ in mock.record.scenarios:
                referral = _referral()
                for _attempt in range(3):
                    try:
                        await client.submit_referral(referral)
                        break
                    except VerificationError:
                        continue

    report = _session(mock, lambda: asyncio.run(submit_async()))
    assert report.conformant, report.table()
    assert report.result("C-RETRY-04").status == "pass"


def test_a_careless_client_is_named_for_each_failure(mock: MockReceiver) -> None:
    """Never retries, never verifies a receipt: every scripted situation catches it."""
    key = SigningKey.generate()

    def submit_all() -> None:
        with httpx.Client(base_url=mock.url, timeout=10) as http:
            receiver_id = http.get("/.well-known/strive-configuration").json()["receiver_id"]
            for _ in mock.record.scenarios:
                payload = build_submission(
                    _referral(), asw_id=ASW, audience=receiver_id, issued_at=datetime.now(UTC)
                )
                envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()
                with contextlib.suppress(httpx.TransportError):  # and never tries again
                    http.post(
                        "/v1/referrals", content=envelope,
                        headers={"Content-Type": "application/vnd.dsse.envelope.v1+json"},
                    )  # fmt: skip

    report = _session(mock, submit_all)
    assert not report.conformant
    assert report.failed_ids() >= {
        "C-RETRY-01", "C-RETRY-02", "C-RETRY-03", "C-REPLAY-01",
        "C-RECEIPT-01", "C-RECEIPT-02", "C-RECEIPT-03",
    }  # fmt: skip
    assert report.result("C-SUBMIT-01").status == "pass"
    assert "accepted a receipt signed by an unpublished key" in report.result("C-RECEIPT-01").reason
    assert report.result("C-READ-01").status == "skip"  # it made no signed read
    assert "needs --asw-public-key" not in report.result("C-READ-01").reason


def test_a_client_that_reuses_a_signature_or_signs_badly_is_named(mock: MockReceiver) -> None:
    """Signed reads that resend one signature (one nonce) on the retry, sign another path
    with a stale created, or leave out Strive-Asw-Id: each C-READ check names its part."""
    key = SigningKey.generate()
    mock.record.asw_public_key = key.public_key

    def read_badly() -> None:
        with StriveClient(mock.url, asw_id=ASW, key=key, sandbox=True) as client:
            referral = _referral()
            client.submit_referral(referral)  # retry-503: the SDK retries
        path = f"/v1/referrals/{referral['referral_id']}/status"
        with httpx.Client(base_url=mock.url, timeout=10) as http:
            signed = sign_request("GET", mock.url + path, {}, b"", key)
            http.get(path, headers={**signed, "Strive-Asw-Id": ASW})  # 503
            http.get(path, headers={**signed, "Strive-Asw-Id": ASW})  # the same nonce again
            stale = datetime.now(UTC) - timedelta(minutes=20)
            other = sign_request("GET", mock.url + "/v1/elsewhere", {}, b"", key, created=stale)
            http.get(path, headers=other)  # no Strive-Asw-Id, another path, stale

    report = _session(mock, read_badly)
    assert report.failed_ids() >= {"C-READ-01", "C-READ-02", "C-READ-03", "C-READ-04", "C-READ-05"}
    assert "Strive-Asw-Id" in report.result("C-READ-01").reason
    assert "signature_invalid" in report.result("C-READ-02").reason
    assert "nonce was sent twice" in report.result("C-READ-03").reason


def test_the_command_serves_until_the_report_is_asked_for(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    report_file = tmp_path / "client-report.json"
    process = subprocess.Popen(
        [STRIVE, "conformance", "client", "--port", str(port), "--scenarios",
         "retry-503,receipt-wrong-key", "--report", str(report_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/.well-known/strive-configuration", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        with StriveClient(url, asw_id=ASW, key=SigningKey.generate(), sandbox=True) as client:
            client.submit_referral(_referral())  # retried after the 503
            accepted = _referral()
            with pytest.raises(VerificationError):
                client.submit_referral(accepted)  # the bad receipt is refused ...
            client.submit_referral(accepted)  # ... and the referral sent again
        stdout, _ = process.communicate(timeout=30)  # ends by itself: every scenario seen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stdout
    assert "C-RETRY-01" in stdout and "conformant" in stdout
    report = json.loads(report_file.read_text())
    assert report["conformant"] is True
    assert report["kind"] == "client"
    assert {r["id"]: r["status"] for r in report["results"]}["C-RETRY-02"] == "skip"


def test_a_client_that_re_signs_each_retry_or_misaddresses_is_named() -> None:
    """Retries with new bytes (a new issued_at each time) break C-RETRY-*; an envelope for
    another audience, sent as text/plain, breaks C-SUBMIT-01."""
    mock = MockReceiver(0, scenarios=["retry-503", "retry-reset"], retry_after=0, timeout=30)
    mock.start()
    key = SigningKey.generate()

    def submit_all() -> None:
        with httpx.Client(base_url=mock.url, timeout=10) as http:
            http.get("/.well-known/strive-configuration")
            for scenario in mock.record.scenarios:
                referral = _referral()
                for attempt in range(2):
                    issued = datetime.now(UTC) - timedelta(seconds=attempt + 1)  # new bytes
                    audience = "somewhere.else" if scenario == "retry-reset" else "conformance.mock"
                    payload = build_submission(
                        referral, asw_id=ASW, audience=audience, issued_at=issued
                    )
                    envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()
                    with contextlib.suppress(httpx.TransportError):
                        http.post(
                            "/v1/referrals", content=envelope,
                            headers={"Content-Type": "text/plain"},
                        )  # fmt: skip

    try:
        report = _session(mock, submit_all)
    finally:
        mock.stop()
    assert report.failed_ids() >= {"C-RETRY-01", "C-RETRY-03", "C-SUBMIT-01"}
    assert "other envelope bytes" in report.result("C-RETRY-01").reason
    assert "content type text/plain" in report.result("C-SUBMIT-01").reason
    assert report.result("C-RECEIPT-01").status == "skip"
