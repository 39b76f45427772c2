"""``strive conformance recipient``: a mock receiver that tests a recipient's opening of
sealed intelligence packages (spec/sealed-package.md, "Opening").

Given the recipient's id and its published JWK Set, the mock seals a set of packages to the
recipient's own encryption key, one per case, signs them with a receiver key it publishes in
its discovery document (``jwks``), and serves them on 127.0.0.1:

=======================  ==================================================================
``valid``                a good package: the recipient MUST open it (and report its digest).
``tampered-ciphertext``  one ciphertext byte changed: ``sealed_decrypt_failed``.
``tampered-header``      the clear header's ``receiver_id`` changed: ``sealed_decrypt_failed``.
``bad-signature``        signed by a key the receiver does not publish:
                         ``sealed_signature_invalid``.
``addressed-elsewhere``  sealed to the recipient's key but addressed to another recipient
                         (a forwarded package): ``sealed_recipient_mismatch``.
``file-digest``          a package file whose ``sha256`` is not its content's:
                         ``sealed_content_malformed``.
=======================  ==================================================================

``GET /conformance/packages`` lists the cases and their paths; the recipient (or the harness
driving it) opens each with the receiver's published keys and reports what happened with
``POST /conformance/results`` ``{"case": ..., "result": "opened" | <code>,
"package_sha256": ...}``. The session ends when every case has a result and two seconds
passed, when ``GET /conformance/report`` is called, or at the timeout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from strive_schema.keys import SigningKey
from strive_schema.sealed import (
    Grading,
    PackageFile,
    PackageManifest,
    RecipientPublicKey,
    SealSuite,
    build_package_payload,
    seal_package,
)

from ._framework import Check, Failed, Registry, Report, now_text, run_checks

__all__ = ["CASES", "RecipientMock", "recipient_checks"]

MOCK_RECEIVER_ID: Final = "recipient-conformance.mock"
CASES: Final = (
    "valid",
    "tampered-ciphertext",
    "tampered-header",
    "bad-signature",
    "addressed-elsewhere",
    "file-digest",
)
EXPECTED: Final = {
    "valid": "opened",
    "tampered-ciphertext": "sealed_decrypt_failed",
    "tampered-header": "sealed_decrypt_failed",
    "bad-signature": "sealed_signature_invalid",
    "addressed-elsewhere": "sealed_recipient_mismatch",
    "file-digest": "sealed_content_malformed",
}
QUIET_SECONDS: Final = 2.0
MAX_BODY_BYTES: Final = 16 * 1024


@dataclass
class RecipientRecord:
    """What the recipient reported; the recipient checks judge it."""

    recipient_id: str
    package_digests: dict[str, str]
    fetched: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def _compact(document: Any) -> bytes:
    """Compact JSON with sorted member names, as sealed files and payloads are written."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def recipient_public_keys(jwks: dict[str, Any]) -> list[RecipientPublicKey]:
    """The encryption keys of a recipient's JWK Set (its signing key is skipped).

    Raises:
        ValueError: the set has no usable encryption key.
    """
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise ValueError("a JWK Set has a keys list")
    found = [
        RecipientPublicKey.from_jwk(k)
        for k in keys
        if isinstance(k, dict) and k.get("use") == "enc"
    ]
    if not found:
        raise ValueError("the JWK Set has no encryption key (use: enc)")
    return found


class RecipientMock:
    """A receiver on 127.0.0.1 that serves sealed test packages (``port=0``: a free port)."""

    def __init__(
        self,
        recipient_id: str,
        recipient_keys: Sequence[RecipientPublicKey],
        port: int = 0,
        *,
        timeout: float = 300.0,
    ) -> None:
        if not recipient_id or not recipient_keys:
            raise ValueError("a recipient id and at least one encryption key are needed")
        hybrid = [k for k in recipient_keys if k.suite == SealSuite.PQ_HYBRID]
        self.recipient_key = (hybrid or list(recipient_keys))[0]
        self.key = SigningKey.generate()
        self.stranger = SigningKey.generate()  # never published
        self.timeout = timeout
        self.packages: dict[str, bytes] = {}
        digests: dict[str, str] = {}
        for case in CASES:
            self.packages[case], digests[case] = self._package(case, recipient_id)
        self.record = RecipientRecord(recipient_id, digests)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._last = time.monotonic()
        self._started = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self.report: Report | None = None

    def _package(self, case: str, recipient_id: str) -> tuple[bytes, str]:
        addressee = f"{recipient_id}-elsewhere" if case == "addressed-elsewhere" else recipient_id
        manifest = PackageManifest(
            dissemination_id=f"conformance-{uuid.uuid4()}",
            receiver_id=MOCK_RECEIVER_ID,
            recipient_id=addressee,
            issued_at=datetime.now(UTC).replace(microsecond=0),
            reason="Strive conformance suite: a test package; nothing in it is real.",
            grading=Grading("2", "C", "P"),
            referrals=(("conformance-asw", str(uuid.uuid4())),),
            files=(PackageFile("summary.txt", "text/plain", b"A conformance test package.\n"),),
        )
        payload = build_package_payload(manifest)
        if case == "file-digest":
            document = json.loads(payload)
            document["files"][0]["sha256"] = hashlib.sha256(b"other content").hexdigest()
            payload = _compact(document)
        signer = self.stranger if case == "bad-signature" else self.key
        sealed = seal_package(
            payload, receiver_keys=[signer], recipient_key=self.recipient_key,
            recipient_id=addressee, receiver_id=MOCK_RECEIVER_ID,
        )  # fmt: skip
        if case in ("tampered-ciphertext", "tampered-header"):
            document = json.loads(sealed)
            if case == "tampered-header":
                document["header"]["receiver_id"] = "another-receiver.example"
            else:
                raw = bytearray(base64.b64decode(document["ciphertext"], validate=True))
                raw[-20] ^= 0x01
                document["ciphertext"] = base64.b64encode(bytes(raw)).decode("ascii")
            sealed = _compact(document) + b"\n"
        return sealed, hashlib.sha256(payload).hexdigest()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> str:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def wait(self) -> Report:
        """Block until the session ends; stop serving; return the report."""
        while not self._done.wait(0.2):
            now = time.monotonic()
            with self._lock:
                complete = set(self.record.results) >= set(CASES)
                quiet = now - self._last > QUIET_SECONDS
            if now - self._started > self.timeout or (complete and quiet):
                break
        return self.stop()

    def stop(self) -> Report:
        self._done.set()
        self._server.shutdown()
        self._server.server_close()
        return self.finish()

    def finish(self) -> Report:
        with self._lock:
            if self.report is None:
                report = Report(kind="recipient", target=self.url, started_at=now_text())
                self.report = run_checks(recipient_checks(), self.record, report)
            return self.report

    def discovery(self) -> dict[str, Any]:
        return {
            "receiver_id": MOCK_RECEIVER_ID,
            "origin": self.url,
            "jwks": {"keys": [self.key.public_key.to_jwk()]},
            "conformance": {"packages": "/conformance/packages", "report": "/conformance/report"},
        }

    def listing(self) -> dict[str, Any]:
        return {
            "recipient_id": self.record.recipient_id,
            "cases": {case: f"/conformance/packages/{case}" for case in CASES},
            "results": "/conformance/results",
        }

    def package(self, case: str) -> bytes | None:
        with self._lock:
            self._last = time.monotonic()
            if case in self.packages:
                self.record.fetched.append(case)
            return self.packages.get(case)

    def result(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            document = None
        if not isinstance(document, dict) or document.get("case") not in CASES:
            return 400, {"code": "request_invalid", "detail": f"a result names a case: {CASES}"}
        if not isinstance(document.get("result"), str):
            return 400, {"code": "request_invalid", "detail": "result is 'opened' or a code"}
        with self._lock:
            self._last = time.monotonic()
            self.record.results[str(document["case"])] = document
        return 200, {"recorded": document["case"]}


def _handler(mock: RecipientMock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "strive-conformance-recipient-mock"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the report says what happened."""

        def _send(self, status: int, data: bytes, media: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path == "/.well-known/strive-configuration":
                self._json(200, mock.discovery())
            elif self.path == "/conformance/packages":
                self._json(200, mock.listing())
            elif self.path.startswith("/conformance/packages/"):
                data = mock.package(self.path.rsplit("/", 1)[1])
                if data is None:
                    self._json(404, {"code": "not_found"})
                else:
                    self._send(200, data, "application/json")
            elif self.path == "/conformance/report":
                self._json(200, mock.finish().to_json())
                mock._done.set()
            else:
                self._json(404, {"code": "not_found"})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES or self.path != "/conformance/results":
                self.close_connection = True
                self._json(404, {"code": "not_found"})
                return
            status, answer = mock.result(self.rfile.read(length))
            self._json(status, answer)

    return Handler


# -- the checks over the record ----------------------------------------------------------------

checks: Registry[RecipientRecord] = Registry("recipient")

OPENING = "sealed-package.md#opening"


def recipient_checks() -> list[Check[RecipientRecord]]:
    """Every recipient check, in order."""
    return list(checks.checks)


def _reported(record: RecipientRecord, case: str) -> dict[str, Any]:
    result = record.results.get(case)
    if result is None:
        fetched = "fetched but" if case in record.fetched else "not fetched and"
        raise Failed(f"the {case!r} package was {fetched} no result was reported")
    return result


def _refused(record: RecipientRecord, case: str) -> str:
    result = _reported(record, case)
    expected = EXPECTED[case]
    if result["result"] == "opened":
        raise Failed(f"the recipient opened the {case!r} package; it must refuse it ({expected})")
    if result["result"] != expected:
        raise Failed(f"refused with {result['result']!r}, not {expected!r}")
    return f"refused with {expected}"


@checks.add("P-01", "MUST", OPENING, "opens a package sealed to it, signed by the receiver")
def opens_valid(record: RecipientRecord) -> str:
    result = _reported(record, "valid")
    if result["result"] != "opened":
        raise Failed(f"the good package was refused: {result['result']}")
    if result.get("package_sha256") != record.package_digests["valid"]:
        raise Failed("the reported package digest is not the SHA-256 of the signed payload")
    return "opened, with the package digest of the signed payload"


@checks.add("P-02", "MUST", OPENING, "a changed ciphertext -> sealed_decrypt_failed")
def refuses_tampered_ciphertext(record: RecipientRecord) -> str:
    return _refused(record, "tampered-ciphertext")


@checks.add("P-03", "MUST", OPENING, "a changed clear header -> sealed_decrypt_failed")
def refuses_tampered_header(record: RecipientRecord) -> str:
    return _refused(record, "tampered-header")


@checks.add(
    "P-04", "MUST", OPENING, "a package not signed by the receiver -> sealed_signature_invalid"
)
def refuses_bad_signature(record: RecipientRecord) -> str:
    return _refused(record, "bad-signature")


@checks.add(
    "P-05", "MUST", OPENING, "a package addressed to another recipient -> sealed_recipient_mismatch"
)
def refuses_forwarded(record: RecipientRecord) -> str:
    return _refused(record, "addressed-elsewhere")


@checks.add("P-06", "MUST", OPENING, "a file not matching its digest -> sealed_content_malformed")
def refuses_bad_file(record: RecipientRecord) -> str:
    return _refused(record, "file-digest")
