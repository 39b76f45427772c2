"""A fake receiver for SDK tests, on ``httpx.MockTransport``: real signatures, no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, open_submission, verify_envelope
from strive_schema.errors import VerificationError
from strive_schema.httpsig import verify_request
from strive_schema.keys import SigningKey
from strive_schema.receipts import ReceiptStatus, build_receipt, sign_receipt

RECEIVER_ID = "receiver.test"
ASW_ID = "example-adverts"
BASE_URL = "https://receiver.test"


def problem(status: int, code: str, pointer: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "type": f"urn:strive:problem:{code}",
        "title": code,
        "status": status,
        "code": code,
    }
    if pointer is not None:
        body["errors"] = [{"pointer": pointer, "code": code, "message": "bad"}]
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@dataclass
class FakeReceiver:
    asw_key: SigningKey
    receiver_key: SigningKey
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    stored: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    scripted: list[httpx.Response | Exception] = field(default_factory=list)
    receipt_key: SigningKey | None = None

    def discovery(self) -> dict[str, Any]:
        return {
            "receiver_id": RECEIVER_ID,
            "supported_schema_versions": ["1.0"],
            "limits": {"max_envelope_bytes": 2_097_152, "max_batch_items": 100},
            "endpoints": {"referrals": "/v1/referrals"},
            "jwks": {"keys": [self.receiver_key.public_key.to_jwk()]},
        }

    def accept(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            verified = verify_envelope(
                raw, [self.asw_key.public_key], payload_type=SUBMISSION_PAYLOAD_TYPE
            )
            submission = open_submission(verified.payload, audience=RECEIVER_ID, now=self.now())
        except VerificationError as exc:
            return 401, {"status": 401, "code": exc.code.value}
        previous = self.stored.get(submission.referral_id)
        if previous is not None and previous[0] != submission.referral_digest:
            return 409, {"status": 409, "code": "referral_conflict"}
        if previous is not None:
            return 200, {**previous[1], "replayed": True}
        receipt = build_receipt(
            receiver_id=RECEIVER_ID,
            envelope=raw,
            submission=submission,
            received_at=self.now().replace(microsecond=0),
            status=ReceiptStatus.ACCEPTED,
        )
        signed = sign_receipt(receipt, [self.receipt_key or self.receiver_key])
        body = {
            "receipt": {"referral_id": submission.referral_id},
            "receipt_envelope": json.loads(signed.to_json()),
        }
        self.stored[submission.referral_id] = (submission.referral_digest, body)
        return 201, body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.scripted:
            scripted = self.scripted.pop(0)
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        path = request.url.path
        if path == "/.well-known/strive-configuration":
            return httpx.Response(200, json=self.discovery())
        if path == "/v1/referrals" and request.method == "POST":
            status, body = self.accept(request.content)
            return httpx.Response(status, json=body)
        if path == "/v1/referrals/batch":
            results = []
            for line in request.content.splitlines():
                status, body = self.accept(line)
                if status in (200, 201):
                    results.append({"status": "accepted" if status == 201 else "duplicate", **body})
                else:
                    results.append({"status": "rejected", "problem": body})
            return httpx.Response(200, json={"results": results})
        try:
            verified = verify_request(
                request.method,
                str(request.url),
                dict(request.headers),
                request.content,
                [self.asw_key.public_key],
                now=self.now(),
            )
        except VerificationError as exc:
            return problem(401, exc.code.value)
        if verified.nonce in self.nonces:
            return problem(401, "nonce_replayed")
        self.nonces.add(verified.nonce)
        if path.endswith("/status"):
            referral_id = path.split("/")[3]
            if referral_id not in self.stored:
                return problem(404, "referral_not_found")
            return httpx.Response(
                200,
                json={
                    "referral_id": referral_id,
                    "state": "triaged",
                    "received_at": "2026-11-20T10:00:00Z",
                    "updated_at": "2026-11-21T10:00:00Z",
                    "feedback": [
                        {
                            "created_at": "2026-11-21T10:00:00Z",
                            "message": "Thank you; assessed.",
                            "outcome": None,
                        }
                    ],
                },
            )
        if path == "/v1/information-requests":
            return httpx.Response(
                200,
                json={
                    "items": [
                        {
                            "id": "rfi-1",
                            "referral_id": next(
                                iter(self.stored), "0b6f3f1e-7c2a-4d4e-9a51-2f0c8d7e1a01"
                            ),
                            "created_at": "2026-11-21T10:00:00Z",
                            "question": "Any further payer details?",
                            "state": "open",
                        }
                    ],
                    "next_cursor": None,
                },
            )
        return problem(404, "not_found")


@pytest.fixture
def asw_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def receiver(asw_key: SigningKey) -> FakeReceiver:
    return FakeReceiver(asw_key=asw_key, receiver_key=SigningKey.generate())


@pytest.fixture
def fresh(minimal: dict[str, Any]) -> dict[str, Any]:
    """A valid sandbox referral dated now, with a fresh id."""
    import uuid

    minimal["referral_id"] = str(uuid.uuid4())
    minimal["created_at"] = (
        datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )
    return minimal
