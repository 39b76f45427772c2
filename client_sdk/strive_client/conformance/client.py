"""``strive conformance client``: a mock receiver that tests an ASW's client.

It serves the discovery document and ``POST /v1/referrals`` on 127.0.0.1 and answers the
client's submissions by a script: the first new referral it sees gets the first scenario,
the second the second, and so on (``DEFAULT_SCENARIOS``; ``--scenarios`` chooses others).
Each scenario is a situation a conforming client must handle:

========================  =================================================================
``retry-503``             first attempt: ``503 service_unavailable`` with ``Retry-After``;
                          the client must send the same envelope bytes again.
``retry-429``             the same with ``429 rate_limited``.
``retry-reset``           first attempt: the connection is reset; the same bytes again.
``replay``                first attempt: stored, then the connection is reset; the retry
                          gets ``200`` with the original receipt and ``replayed: true``,
                          which the client must accept (not send a third time).
``receipt-wrong-key``     first attempt: ``201`` with a receipt signed by a key the mock does
                          not publish; the client must refuse it.
``receipt-wrong-digest``  ``201`` with a receipt for other envelope bytes; refuse.
``receipt-wrong-referral``  ``201`` with a receipt naming another referral; refuse.
========================  =================================================================

It also answers the client's signed reads of a referral's status
(``GET /v1/referrals/{referral_id}/status``, for a referral submitted in the session): the
first read gets ``503`` with ``Retry-After``, so a conforming client signs its retry afresh
(a new nonce and ``created``); every read is checked against the signed-request profile
(spec/protocol.md section 14) and, with the ASW's public key, verified (C-READ-*). A client
that makes no signed read gets "skip" for those checks.

A client *refuses* a receipt by treating the submission as unconfirmed and submitting the
same referral (same ``referral_id`` and content) again (spec/protocol.md section 15,
``receipt_mismatch``: "treat the submission as unconfirmed; retry it"); the mock then answers
with a good receipt. A client that takes the bad receipt as proof of delivery moves on to its
next referral, and the mock reports it.

The session ends when the client (or its developer) calls ``GET /conformance/report`` (which
answers the report as JSON), when every scenario has had its second attempt and nothing was
submitted for two seconds, or at the timeout. Then the checks run over what was recorded.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from strive_schema.envelope import (
    RECEIPT_PAYLOAD_TYPE,
    SUBMISSION_MAX_AGE,
    SUBMISSION_MAX_FUTURE,
    SUBMISSION_PAYLOAD_TYPE,
    Submission,
    parse_envelope,
    parse_submission,
    verify_envelope,
)
from strive_schema.errors import VerificationError
from strive_schema.httpsig import check_request_headers, verify_request
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.receipts import Receipt, build_receipt, sign_receipt
from strive_schema.taxonomy import TAXONOMY_VERSION

from ._framework import Check, Failed, Registry, Report, Skipped, now_text, run_checks

__all__ = ["DEFAULT_SCENARIOS", "SCENARIOS", "MockReceiver", "client_checks"]

SCENARIOS: Final = (
    "retry-503",
    "retry-429",
    "retry-reset",
    "replay",
    "receipt-wrong-key",
    "receipt-wrong-digest",
    "receipt-wrong-referral",
)
DEFAULT_SCENARIOS: Final = SCENARIOS
MOCK_RECEIVER_ID: Final = "conformance.mock"
ACCEPTED_MEDIA_TYPES: Final = frozenset(
    {"application/vnd.dsse.envelope.v1+json", "application/json"}
)
QUIET_SECONDS: Final = 2.0
MAX_BODY_BYTES: Final = 2_097_152
"""The mock's ``limits.max_envelope_bytes``: it reads no more than one envelope."""


@dataclass
class Attempt:
    """One submission the client made."""

    envelope: bytes
    at: float
    referral_digest: str | None
    answer: str
    """What the mock did: ``503``, ``429``, ``reset``, ``201``, ``201-bad-receipt``, ..."""
    problems: list[str] = field(default_factory=list)
    """Why the submission itself was not conforming (C-SUBMIT-01/02)."""


@dataclass
class SignedRead:
    """One signed read the client made (a referral's status)."""

    path: str
    at: float
    answer: int
    nonce: str | None
    created: int | None
    problems: list[str] = field(default_factory=list)
    """Why the request is not of the signed-request profile (C-READ-01)."""
    signature: str | None = None
    """``verified``, the failure's code, or None without the ASW's key (C-READ-02)."""
    clock_skew: float | None = None
    """``created`` minus the mock's clock when the read arrived, in seconds."""


@dataclass
class Scripted:
    """One referral of the session and the scenario it was given."""

    referral_id: str
    scenario: str
    attempts: list[Attempt] = field(default_factory=list)
    original_receipt: bytes | None = None


@dataclass
class ClientRecord:
    """What the client did; the client checks judge it."""

    scenarios: tuple[str, ...]
    retry_after: int
    asw_public_key: PublicKey | None
    discovery_fetches: list[float] = field(default_factory=list)
    referrals: list[Scripted] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    reads: list[SignedRead] = field(default_factory=list)

    def scenario(self, name: str) -> Scripted:
        if name not in self.scenarios:
            raise Skipped(f"scenario {name} was not in this session")
        for scripted in self.referrals:
            if scripted.scenario == name:
                return scripted
        raise Failed(f"the client never submitted a referral for scenario {name}")


class MockReceiver:
    """A scripted receiver on 127.0.0.1 (``port=0``: a free port)."""

    def __init__(
        self,
        port: int = 0,
        *,
        scenarios: Sequence[str] = DEFAULT_SCENARIOS,
        retry_after: int = 1,
        timeout: float = 300.0,
        asw_public_key: PublicKey | None = None,
    ) -> None:
        unknown = [name for name in scenarios if name not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
        self.key = SigningKey.generate()
        self.wrong_key = SigningKey.generate()  # never published
        self.timeout = timeout
        self.record = ClientRecord(tuple(scenarios), retry_after, asw_public_key)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._last_submission = time.monotonic()
        self._started = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.report: Report | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def wait(self) -> Report:
        """Block until the session ends; stop serving; return the report."""
        while not self._done.wait(0.2):
            now = time.monotonic()
            if now - self._started > self.timeout or self._all_seen(now):
                break
        return self.stop()

    def stop(self) -> Report:
        self._done.set()
        self._server.shutdown()
        self._server.server_close()
        return self.finish()

    def finish(self) -> Report:
        """Judge what was recorded (once)."""
        with self._lock:
            if self.report is None:
                report = Report(kind="client", target=self.url, started_at=now_text())
                self.report = run_checks(client_checks(), self.record, report)
            return self.report

    def _all_seen(self, now: float) -> bool:
        with self._lock:
            scripted = [s for s in self.record.referrals if s.scenario in SCENARIOS]
            complete = len(scripted) >= len(self.record.scenarios) and all(
                len(s.attempts) >= 2 for s in scripted
            )
            return complete and now - self._last_submission > QUIET_SECONDS

    # -- what the mock answers ---------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            self.record.discovery_fetches.append(time.monotonic())
        limits = {
            "max_envelope_bytes": MAX_BODY_BYTES, "max_batch_items": 100,
            "max_batch_bytes": 16_777_216, "submissions_per_minute": 600,
            "refused_submissions_per_minute": 120, "signed_reads_per_minute": 600,
            "envelope_max_age_seconds": 900, "envelope_max_future_seconds": 300,
            "request_max_age_seconds": 300, "request_max_future_seconds": 60,
        }  # fmt: skip
        return {
            "receiver_id": MOCK_RECEIVER_ID,
            "origin": self.url,
            "supported_schema_versions": ["1.0", "1.1"],
            "taxonomy_version": TAXONOMY_VERSION,
            "payload_types": {
                "submission": SUBMISSION_PAYLOAD_TYPE,
                "receipt": RECEIPT_PAYLOAD_TYPE,
            },
            "limits": limits,
            "endpoints": {
                "submit_referral": "/v1/referrals",
                "submit_batch": "/v1/referrals/batch",
            },
            "jwks": {"keys": [self.key.public_key.to_jwk()]},
            "conformance": {
                "scenarios": list(self.record.scenarios),
                "report": "/conformance/report",
            },
        }

    def submission(self, body: bytes, content_type: str) -> tuple[int, dict[str, Any] | None, str]:
        """Record one submission and decide the answer: (status, body or None to reset the
        connection, what was done)."""
        problems: list[str] = []
        media = content_type.split(";", maxsplit=1)[0].strip().lower()
        if media not in ACCEPTED_MEDIA_TYPES:
            problems.append(f"content type {media or 'missing'}")
        submission = self._read(body, problems)
        with self._lock:
            self._last_submission = time.monotonic()
            if submission is None:
                self.record.unreadable.append("; ".join(problems))
                return 400, _problem(400, "envelope_malformed", "; ".join(problems)), "400"
            scripted = self._scripted(submission.referral_id)
            attempt_number = len(scripted.attempts) + 1
            status, answer, what = self._answer(scripted, attempt_number, body, submission)
            scripted.attempts.append(
                Attempt(body, time.monotonic(), submission.referral_digest, what, problems)
            )
            return status, answer, what

    def signed_read(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Record one signed read of a referral's status and answer it: 503 the first time,
        then the status of a referral of this session (404 for another)."""
        now = datetime.now(UTC)
        signature_input = headers.get("signature-input", "")
        nonce = re.search(r'nonce="([^"]*)"', signature_input)
        created = re.search(r"created=(\d+)", signature_input)
        read = SignedRead(
            path, time.monotonic(), 0, nonce.group(1) if nonce else None,
            int(created.group(1)) if created else None,
        )  # fmt: skip
        if read.created is not None:
            read.clock_skew = read.created - now.timestamp()
        if not headers.get("strive-asw-id"):
            read.problems.append("no Strive-Asw-Id")
        try:
            check_request_headers(headers, now=now, max_age=3600, max_future=3600)
        except VerificationError as exc:
            read.problems.append(f"{exc.code}: {exc.detail}")
        key = self.record.asw_public_key
        if key is not None:
            try:
                verify_request(
                    "GET", self.url + path, headers, b"", [key], now=now, max_age=3600,
                    max_future=3600,
                )  # fmt: skip
                read.signature = "verified"
            except VerificationError as exc:
                read.signature = f"{exc.code}: {exc.detail}"
        referral_id = path.split("/")[3]
        with self._lock:
            self._last_submission = time.monotonic()
            first = not self.record.reads
            self.record.reads.append(read)
            known = next((s for s in self.record.referrals if s.referral_id == referral_id), None)
            if first:
                read.answer = 503
                return 503, _problem(503, "service_unavailable", "retry after Retry-After")
        if known is None:
            read.answer = 404
            return 404, _problem(404, "not_found", "no referral of that id in this session")
        read.answer = 200
        stamp = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return 200, {
            "referral_id": referral_id, "state": "received", "received_at": stamp,
            "updated_at": stamp, "outcome": None, "feedback": [], "attachments_received": [],
        }  # fmt: skip

    def _read(self, body: bytes, problems: list[str]) -> Submission | None:
        try:
            envelope = parse_envelope(body)
            if envelope.payload_type != SUBMISSION_PAYLOAD_TYPE:
                problems.append(f"payload type {envelope.payload_type!r}")
                return None
            if self.record.asw_public_key is not None:
                verify_envelope(
                    envelope, [self.record.asw_public_key], payload_type=SUBMISSION_PAYLOAD_TYPE
                )
            submission = parse_submission(envelope.payload)
        except (VerificationError, ValueError, TypeError) as exc:
            problems.append(str(exc))
            return None
        now = datetime.now(UTC)
        if submission.audience != MOCK_RECEIVER_ID:
            problems.append(f"audience {submission.audience!r}, not {MOCK_RECEIVER_ID!r}")
        if not now - SUBMISSION_MAX_AGE <= submission.issued_at <= now + SUBMISSION_MAX_FUTURE:
            problems.append("issued_at outside the freshness window")
        return submission

    def _scripted(self, referral_id: str) -> Scripted:
        for scripted in self.record.referrals:
            if scripted.referral_id == referral_id:
                return scripted
        index = sum(1 for s in self.record.referrals if s.scenario in SCENARIOS)
        scenario = self.record.scenarios[index] if index < len(self.record.scenarios) else "extra"
        scripted = Scripted(referral_id, scenario)
        self.record.referrals.append(scripted)
        return scripted

    def _receipt(
        self, envelope: bytes, submission: Submission, *, key: SigningKey | None = None,
        envelope_bytes_for_digest: bytes | None = None, referral_id: str | None = None,
    ) -> bytes:  # fmt: skip
        receipt = build_receipt(
            receiver_id=MOCK_RECEIVER_ID,
            envelope=envelope if envelope_bytes_for_digest is None else envelope_bytes_for_digest,
            submission=submission,
            received_at=datetime.now(UTC),
        )
        if referral_id is not None:
            receipt = _with(receipt, referral_id=referral_id)
        return sign_receipt(receipt, [key or self.key]).to_json()

    def _answer(
        self, scripted: Scripted, attempt: int, body: bytes, submission: Submission
    ) -> tuple[int, dict[str, Any] | None, str]:
        scenario = scripted.scenario
        if attempt == 1 and scenario == "retry-503":
            return 503, _problem(503, "service_unavailable", "retry after Retry-After"), "503"
        if attempt == 1 and scenario == "retry-429":
            return 429, _problem(429, "rate_limited", "retry after Retry-After"), "429"
        if attempt == 1 and scenario == "retry-reset":
            return 0, None, "reset"
        if scenario == "replay" and scripted.original_receipt is not None:
            return 200, _receipt_body(scripted.original_receipt, replayed=True), "200-replayed"
        if attempt == 1 and scenario == "replay":
            scripted.original_receipt = self._receipt(body, submission)
            return 0, None, "stored-then-reset"
        if attempt == 1 and scenario == "receipt-wrong-key":
            bad = self._receipt(body, submission, key=self.wrong_key)
            return 201, _receipt_body(bad), "201-receipt-wrong-key"
        if attempt == 1 and scenario == "receipt-wrong-digest":
            bad = self._receipt(body, submission, envelope_bytes_for_digest=body + b" ")
            return 201, _receipt_body(bad), "201-receipt-wrong-digest"
        if attempt == 1 and scenario == "receipt-wrong-referral":
            other = "00000000-0000-4000-8000-000000000000"
            bad = self._receipt(body, submission, referral_id=other)
            return 201, _receipt_body(bad), "201-receipt-wrong-referral"
        return 201, _receipt_body(self._receipt(body, submission)), "201"


def _with(receipt: Receipt, **changes: Any) -> Receipt:
    return replace(receipt, **changes)


def _problem(status: int, code: str, detail: str) -> dict[str, Any]:
    return {
        "type": f"urn:strive:problem:{code}", "title": code.replace("_", " "), "status": status,
        "detail": detail, "code": code, "instance": "/v1/referrals",
    }  # fmt: skip


def _receipt_body(receipt_envelope: bytes, *, replayed: bool = False) -> dict[str, Any]:
    payload = json.loads(parse_envelope(receipt_envelope).payload)
    return {"receipt": payload, "receipt_envelope": receipt_envelope.decode(), "replayed": replayed}


_STATUS_PATH: Final = re.compile(r"/v1/referrals/[0-9A-Za-z._~-]{1,100}/status")
_PROBLEM: Final = "application/problem+json"


def _handler(mock: MockReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "strive-conformance-mock"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the report says what happened."""

        def _send(self, status: int, body: dict[str, Any], media: str = "application/json") -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(data)))
            if status in (429, 503):  # the scripted transient failures
                self.send_header("Retry-After", str(mock.record.retry_after))
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def do_GET(self) -> None:
            if _STATUS_PATH.fullmatch(self.path):
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = mock.signed_read(self.path, headers)
                self._send(status, body, "application/json" if status < 400 else _PROBLEM)
            elif self.path == "/.well-known/strive-configuration":
                self._send(200, mock.discovery())
            elif self.path == "/conformance/report":
                report = mock.finish()
                self._send(200, report.to_json())
                mock._done.set()
            else:
                self._send(
                    404, _problem(404, "not_found", "no such route"), "application/problem+json"
                )

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                detail = "a Content-Length of at most 2 MiB is required"
                self.close_connection = True
                self._send(413, _problem(413, "body_too_large", detail), "application/problem+json")
                return
            body = self.rfile.read(length)
            if self.path != "/v1/referrals":
                detail = "the mock receiver takes single submissions only"
                self._send(404, _problem(404, "not_found", detail), "application/problem+json")
                return
            status, answer, _ = mock.submission(body, self.headers.get("Content-Type", ""))
            if answer is None:
                self._reset()
                return
            media = "application/json" if status < 400 else "application/problem+json"
            self._send(status, answer, media)

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the connection was reset on purpose
                super().finish()

    return Handler


# -- the checks over the record ----------------------------------------------------------------

checks: Registry[ClientRecord] = Registry("client")

RETRY = "protocol.md#11-freshness-replay-and-idempotency"
RECEIPTS = "protocol.md#13-receipts"


def client_checks() -> list[Check[ClientRecord]]:
    """Every client check, in order."""
    return list(checks.checks)


@checks.add(
    "C-DISC-01", "SHOULD", "api.md#discovery", "fetches the discovery document before submitting"
)
def fetched_discovery(record: ClientRecord) -> str:
    if not record.referrals:
        raise Failed("the client submitted nothing")
    first = min(a.at for s in record.referrals for a in s.attempts)
    if not any(at <= first for at in record.discovery_fetches):
        raise Failed("the client submitted before reading /.well-known/strive-configuration")
    return f"discovery read {len(record.discovery_fetches)} time(s)"


@checks.add(
    "C-SUBMIT-01",
    "MUST",
    "protocol.md#10-the-submission-payload",
    "every submission is a well-formed, fresh envelope for this receiver",
)
def well_formed(record: ClientRecord) -> str:
    if record.unreadable:
        raise Failed(f"{len(record.unreadable)} unreadable submission(s): {record.unreadable[0]}")
    attempts = [a for s in record.referrals for a in s.attempts]
    if not attempts:
        raise Failed("the client submitted nothing")
    bad = [p for a in attempts for p in a.problems]
    if bad:
        raise Failed(bad[0])
    return f"{len(attempts)} submission(s), each a valid envelope addressed to {MOCK_RECEIVER_ID}"


@checks.add(
    "C-SUBMIT-02",
    "MUST",
    "protocol.md#8-verifying-an-envelope",
    "envelopes verify under the ASW's key",
)
def signed(record: ClientRecord) -> str:
    if record.asw_public_key is None:
        raise Skipped("needs --asw-public-key")
    if record.unreadable:
        raise Failed(record.unreadable[0])
    return "every envelope verified under the given key"


def _retried_same_bytes(record: ClientRecord, scenario: str, what: str) -> str:
    scripted = record.scenario(scenario)
    if len(scripted.attempts) < 2:
        raise Failed(
            f"after {what} the client did not submit referral {scripted.referral_id} again"
        )
    first, second = scripted.attempts[0], scripted.attempts[1]
    if first.envelope != second.envelope:
        raise Failed(
            f"after {what} the client sent other envelope bytes "
            "(it must resend the same bytes while they are fresh)"
        )
    return f"after {what}: the same envelope bytes again"


@checks.add("C-RETRY-01", "MUST", RETRY, "after 503 with Retry-After, the same bytes again")
def retry_503(record: ClientRecord) -> str:
    return _retried_same_bytes(record, "retry-503", "503 service_unavailable")


@checks.add("C-RETRY-02", "MUST", RETRY, "after 429 with Retry-After, the same bytes again")
def retry_429(record: ClientRecord) -> str:
    return _retried_same_bytes(record, "retry-429", "429 rate_limited")


@checks.add("C-RETRY-03", "MUST", RETRY, "after a connection reset, the same bytes again")
def retry_reset(record: ClientRecord) -> str:
    return _retried_same_bytes(record, "retry-reset", "a connection reset")


@checks.add("C-RETRY-04", "SHOULD", "api.md#quotas", "waits Retry-After before retrying")
def honours_retry_after(record: ClientRecord) -> str:
    waited = []
    for scenario in ("retry-503", "retry-429"):
        if scenario not in record.scenarios:
            continue
        scripted = record.scenario(scenario)
        if len(scripted.attempts) < 2:
            raise Failed(f"no retry in scenario {scenario}")
        gap = scripted.attempts[1].at - scripted.attempts[0].at
        if gap < record.retry_after - 0.05:
            raise Failed(
                f"{scenario}: retried after {gap:.2f} s, Retry-After was {record.retry_after} s"
            )
        waited.append(f"{gap:.1f} s")
    if not waited:
        raise Skipped("no Retry-After scenario in this session")
    return "waited " + ", ".join(waited)


@checks.add("C-REPLAY-01", "MUST", RETRY, "a replay's original receipt (200, replayed) is accepted")
def accepts_replay(record: ClientRecord) -> str:
    scripted = record.scenario("replay")
    if len(scripted.attempts) < 2:
        raise Failed("after a reset (the referral was stored) the client did not submit again")
    if len(scripted.attempts) > 2:
        raise Failed(
            "the client refused the original receipt of a replay and submitted the referral "
            f"{len(scripted.attempts)} times"
        )
    return "resubmitted once and accepted the original receipt"


def _refused(record: ClientRecord, scenario: str, what: str) -> str:
    scripted = record.scenario(scenario)
    if len(scripted.attempts) < 2:
        raise Failed(
            f"the client accepted a receipt {what} (it never submitted the referral again)"
        )
    if scripted.attempts[1].referral_digest != scripted.attempts[0].referral_digest:
        raise Failed("the client resubmitted the referral id with other content")
    return f"refused a receipt {what}: submitted the same referral again"


@checks.add(
    "C-RECEIPT-01",
    "MUST",
    RECEIPTS,
    "refuses a receipt signed by a key the receiver does not publish",
)
def refuses_wrong_key(record: ClientRecord) -> str:
    return _refused(record, "receipt-wrong-key", "signed by an unpublished key")


@checks.add("C-RECEIPT-02", "MUST", RECEIPTS, "refuses a receipt for other envelope bytes")
def refuses_wrong_digest(record: ClientRecord) -> str:
    return _refused(
        record, "receipt-wrong-digest", "whose envelope_sha256 is not of the bytes sent"
    )


@checks.add("C-RECEIPT-03", "MUST", RECEIPTS, "refuses a receipt naming another referral")
def refuses_wrong_referral(record: ClientRecord) -> str:
    return _refused(record, "receipt-wrong-referral", "naming another referral id")


# -- signed reads (C-READ-*) -------------------------------------------------------------------

PROFILE = "protocol.md#142-the-strive-profile"
VERIFYING_REQUESTS = "protocol.md#144-verifying-a-request"


def _reads(record: ClientRecord) -> list[SignedRead]:
    if not record.reads:
        raise Skipped(
            "not tested: the client made no signed read "
            "(have it read a referral's status, GET /v1/referrals/{id}/status)"
        )
    return record.reads


@checks.add("C-READ-01", "MUST", PROFILE, "signed reads carry the Strive profile and Strive-Asw-Id")
def reads_of_the_profile(record: ClientRecord) -> str:
    reads = _reads(record)
    bad = [(r.path, p) for r in reads for p in r.problems]
    if bad:
        raise Failed(f"{len(bad)} problem(s); first: {bad[0][1]}")
    return f"{len(reads)} read(s): Content-Digest, the five components, the five parameters"


@checks.add("C-READ-02", "MUST", VERIFYING_REQUESTS, "signed reads verify under the ASW's key")
def reads_verify(record: ClientRecord) -> str:
    reads = _reads(record)
    if record.asw_public_key is None:
        raise Skipped("needs --asw-public-key")
    bad = [r.signature for r in reads if r.signature != "verified"]
    if bad:
        raise Failed(f"{len(bad)} read(s) do not verify for the URL sent; first: {bad[0]}")
    return f"{len(reads)} read(s) verified for the URL they were sent to"


@checks.add(
    "C-READ-03", "MUST", VERIFYING_REQUESTS, "a fresh nonce on every signed request, retries too"
)
def reads_fresh_nonces(record: ClientRecord) -> str:
    reads = _reads(record)
    nonces = [r.nonce for r in reads]
    if None in nonces:
        raise Failed("a signed read has no nonce")
    if len(set(nonces)) != len(nonces):
        raise Failed("a nonce was sent twice (the receiver refuses it: nonce_replayed)")
    retried = len(reads) > 1 and reads[0].answer == 503
    return f"{len(reads)} distinct nonces" + (", the retry after 503 re-signed" if retried else "")


@checks.add(
    "C-READ-04", "MUST", VERIFYING_REQUESTS, "created is the signing time (within the window)"
)
def reads_fresh_created(record: ClientRecord) -> str:
    reads = _reads(record)
    skews = [r.clock_skew for r in reads]
    if None in skews:
        raise Failed("a signed read has no created parameter")
    worst = max(skews, key=lambda s: abs(s or 0.0)) or 0.0
    max_age, max_future = 300, 60  # the mock's request_max_age/future_seconds
    if not -max_age <= worst <= max_future:
        raise Failed(f"created is {worst:+.0f} s from the mock's clock (window -300 s to +60 s)")
    return f"created within {abs(worst):.0f} s of the mock's clock"


@checks.add("C-READ-05", "SHOULD", "api.md#quotas", "a read retried after 503 waits Retry-After")
def reads_wait(record: ClientRecord) -> str:
    reads = _reads(record)
    if reads[0].answer != 503 or len(reads) < 2:
        raise Failed("the read answered 503 was not retried")
    gap = reads[1].at - reads[0].at
    if gap < record.retry_after - 0.05:
        raise Failed(f"retried after {gap:.2f} s, Retry-After was {record.retry_after} s")
    return f"retried after {gap:.1f} s"
