"""``strive conformance witness``: a mock transparency log that tests a witness.

It serves, on 127.0.0.1, what a witness reads from a receiver (the discovery document's
``log`` member, ``/v1/log/checkpoint`` and the tiles) and takes ``POST /v1/log/cosignature``.
A witness pulls: each time it fetches the checkpoint the mock serves the next stage of a
script, so the witness is run once per stage (``strive log witness --url URL --state DIR``
six times, or a witness that polls):

==============  ===========================================================================
``first``       a tree of 5 leaves: the witness MUST cosign it (it holds nothing yet).
``extended``    the same tree grown to 9 leaves: consistent, MUST be cosigned.
``rollback``    the same tree at 3 leaves, signed by the log: MUST NOT be cosigned.
``fork``        12 leaves whose leaves from the third on differ from the cosigned tree,
                signed by the log: inconsistent, MUST NOT be cosigned.
``wrong-key``   the tree grown to 13 leaves, signed by a key of the log's name that is
                not the log's key: MUST NOT be cosigned.
``recovered``   the tree grown to 14 leaves, signed by the log: MUST be cosigned (refusing
                the bad checkpoints did not leave the witness stuck).
==============  ===========================================================================

Every request is checked for the witness's signature (``Strive-Witness-Id``, the signed
request profile of spec/protocol.md section 14) and every cosignature for the form of
c2sp.org/tlog-cosignature; with the witness's verifier key (``--witness-key``) both are also
verified. The session ends when ``GET /conformance/report`` is called, two seconds after the
last stage was served and nothing more arrived, or at the timeout.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from strive_schema import tlog
from strive_schema.errors import LogError, VerificationError
from strive_schema.httpsig import check_request_headers, verify_request
from strive_schema.keys import PublicKey
from strive_schema.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    parse_note,
    sign_note,
)

from ._framework import Check, Failed, Registry, Report, Skipped, now_text, run_checks

__all__ = ["STAGES", "WitnessMock", "witness_checks"]

MOCK_ORIGIN: Final = "witness-conformance.mock/log"
STAGES: Final = ("first", "extended", "rollback", "fork", "wrong-key", "recovered")
MUST_COSIGN: Final = frozenset({"first", "extended", "recovered"})
QUIET_SECONDS: Final = 2.0
MAX_TIMESTAMP_SKEW: Final = 600
MAX_BODY_BYTES: Final = 16 * 1024


def _leaves(prefix: bytes, count: int) -> list[bytes]:
    """``count`` log entries, distinct per ``prefix``."""
    digests = (hashlib.sha256(prefix + bytes([i])).digest() for i in range(count))
    return [tlog.entry_data("record", digest) for digest in digests]


@dataclass(frozen=True)
class Stage:
    """One checkpoint of the script and the tree behind it."""

    name: str
    entries: tuple[bytes, ...]
    note: str

    @property
    def text(self) -> str:
        return parse_note(self.note).text


@dataclass
class Cosigned:
    """One ``POST /v1/log/cosignature``."""

    stage: str | None
    """The stage whose checkpoint it cosigns (None: none the mock served)."""
    timestamps: list[int]
    problems: list[str] = field(default_factory=list)


@dataclass
class WitnessRecord:
    """What the witness did; the witness checks judge it."""

    witness_key: NoteVerifier | None
    served: list[str] = field(default_factory=list)
    """The stages served, in order (one per checkpoint fetch)."""
    cosigned: list[Cosigned] = field(default_factory=list)
    request_problems: list[str] = field(default_factory=list)
    requests: int = 0

    def cosignatures(self, stage: str) -> list[Cosigned]:
        return [c for c in self.cosigned if c.stage == stage]


class WitnessMock:
    """A scripted transparency log on 127.0.0.1 (``port=0``: a free port)."""

    def __init__(
        self, port: int = 0, *, timeout: float = 300.0, witness_key: str | None = None
    ) -> None:
        self.log_signer = NoteSigner.generate(MOCK_ORIGIN)
        self.impostor = NoteSigner.generate(MOCK_ORIGIN)  # the log's name, another key
        self.record = WitnessRecord(NoteVerifier.from_vkey(witness_key) if witness_key else None)
        self.timeout = timeout
        main, forked = _leaves(b"main", 14), _leaves(b"fork", 14)
        plan: Sequence[tuple[str, list[bytes], NoteSigner]] = (
            ("first", main[:5], self.log_signer),
            ("extended", main[:9], self.log_signer),
            ("rollback", main[:3], self.log_signer),
            ("fork", main[:2] + forked[2:12], self.log_signer),
            ("wrong-key", main[:13], self.impostor),
            ("recovered", main[:14], self.log_signer),
        )
        self.stages = [self._stage(name, entries, signer) for name, entries, signer in plan]
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._last_request = time.monotonic()
        self._started = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self.report: Report | None = None

    @staticmethod
    def _stage(name: str, entries: list[bytes], signer: NoteSigner) -> Stage:
        hashes = tlog.MemoryHashes([tlog.leaf_hash(e) for e in entries])
        checkpoint = Checkpoint(MOCK_ORIGIN, len(entries), tlog.tree_hash(len(entries), hashes))
        return Stage(name, tuple(entries), sign_note(checkpoint.text(), [signer]))

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
                complete = len(self.record.served) >= len(self.stages)
                quiet = now - self._last_request > QUIET_SECONDS
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
                report = Report(kind="witness", target=self.url, started_at=now_text())
                self.report = run_checks(witness_checks(), self.record, report)
            return self.report

    # -- what the mock answers ---------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "receiver_id": "witness-conformance.mock",
            "origin": self.url,
            "log": {
                "origin": MOCK_ORIGIN,
                "vkey": self.log_signer.verifier.vkey,
                "prefix": "/v1/log",
                "max_merge_delay_seconds": 60,
                "witnesses": [self.record.witness_key.vkey] if self.record.witness_key else [],
            },
            "conformance": {"stages": list(STAGES), "report": "/conformance/report"},
        }

    def current(self) -> Stage | None:
        return self.stages[len(self.record.served) - 1] if self.record.served else None

    def checkpoint(self) -> str:
        with self._lock:
            index = min(len(self.record.served), len(self.stages) - 1)
            stage = self.stages[index]
            self.record.served.append(stage.name)
            return stage.note

    def tile(self, path: str) -> bytes | None:
        with self._lock:
            stage = self.current()
        if stage is None:
            return None
        try:
            tile = tlog.parse_tile_path(path)
        except (LogError, ValueError):
            return None
        size = len(stage.entries)
        if tile.level < 0:
            first = tile.index * tlog.TILE_WIDTH
            if first + tile.width > size:
                return None
            return tlog.entry_bundle(stage.entries[first : first + tile.width])
        hashes = tlog.MemoryHashes([tlog.leaf_hash(e) for e in stage.entries])
        level = tile.level * tlog.TILE_HEIGHT
        count = size >> level
        first = tile.index * tlog.TILE_WIDTH
        if first + tile.width > count:
            return None
        return b"".join(hashes.node(level, first + i) for i in range(tile.width))

    def check_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        """Record whether a request is signed as the witness (W-02)."""
        now = datetime.now(UTC)
        problems = []
        name = headers.get("strive-witness-id")
        if not name:
            problems.append(f"{method} {path} without Strive-Witness-Id")
        try:
            check_request_headers(headers, now=now)
        except VerificationError as exc:
            problems.append(f"{method} {path}: {exc.code}: {exc.detail}")
        key = self.record.witness_key
        if key is not None and not problems:
            if name != key.name:
                problems.append(f"{method} {path}: Strive-Witness-Id {name!r}, not {key.name!r}")
            else:
                try:
                    verify_request(
                        method, self.url + path, headers, body, [PublicKey.from_raw(key.public)],
                        now=now,
                    )  # fmt: skip
                except VerificationError as exc:
                    problems.append(f"{method} {path}: {exc.code}: {exc.detail}")
        with self._lock:
            self._last_request = time.monotonic()
            self.record.requests += 1
            self.record.request_problems.extend(problems)

    def cosignature(self, body: bytes, sender: str | None) -> tuple[int, dict[str, Any]]:
        try:
            note = parse_note(body.decode("utf-8"))
        except (LogError, UnicodeDecodeError, ValueError) as exc:
            with self._lock:
                self.record.cosigned.append(Cosigned(None, [], [f"not a signed note: {exc}"]))
            return 400, _problem(400, "log_checkpoint_malformed", "not a signed note")
        stage = next((s for s in self.stages if s.text == note.text), None)
        cosigned = Cosigned(stage.name if stage else None, [])
        now = time.time()
        key = self.record.witness_key
        if not note.signatures:
            cosigned.problems.append("no cosignature line")
        for signature in note.signatures:
            if signature.name != sender:
                cosigned.problems.append(f"a line by {signature.name!r}, not the sender {sender!r}")
                continue
            if len(signature.signature) != 72:
                cosigned.problems.append("a line that is not a cosignature/v1 (8-byte time, 64)")
                continue
            timestamp = int.from_bytes(signature.signature[:8], "big")
            cosigned.timestamps.append(timestamp)
            if abs(timestamp - now) > MAX_TIMESTAMP_SKEW:
                cosigned.problems.append(f"a timestamp {timestamp - now:+.0f} s from the clock")
            if key is not None and (
                signature.key_id != key.key_id or not key.verify(note.text, signature.signature)
            ):
                cosigned.problems.append("a cosignature that does not verify under the witness key")
        with self._lock:
            self.record.cosigned.append(cosigned)
        if stage is None:
            return 409, _problem(409, "log_checkpoint_unknown", "not a checkpoint of this log")
        return 200, {"accepted": [sender] if sender else []}


def _problem(status: int, code: str, detail: str) -> dict[str, Any]:
    return {
        "type": f"urn:strive:problem:{code}", "title": code.replace("_", " "), "status": status,
        "detail": detail, "code": code,
    }  # fmt: skip


def _handler(mock: WitnessMock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "strive-conformance-witness-mock"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the report says what happened."""

        def _send(self, status: int, data: bytes, media: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            media = "application/json" if status < 400 else "application/problem+json"
            self._send(status, json.dumps(body).encode(), media)

        def _headers(self) -> dict[str, str]:
            return {k.lower(): v for k, v in self.headers.items()}

        def do_GET(self) -> None:
            if self.path == "/.well-known/strive-configuration":
                self._json(200, mock.discovery())
                return
            if self.path == "/conformance/report":
                self._json(200, mock.finish().to_json())
                mock._done.set()
                return
            if self.path.startswith("/v1/log/"):
                mock.check_request("GET", self.path, self._headers(), b"")
            if self.path == "/v1/log/checkpoint":
                self._send(200, mock.checkpoint().encode(), "text/plain; charset=utf-8")
                return
            if self.path.startswith("/v1/log/tile/"):
                data = mock.tile(self.path.removeprefix("/v1/log/"))
                if data is not None:
                    self._send(200, data, "application/octet-stream")
                    return
            self._json(404, _problem(404, "not_found", "no such resource"))

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES or self.path != "/v1/log/cosignature":
                self.close_connection = True
                self._json(404, _problem(404, "not_found", "only POST /v1/log/cosignature"))
                return
            body = self.rfile.read(length)
            headers = self._headers()
            mock.check_request("POST", self.path, headers, body)
            status, answer = mock.cosignature(body, headers.get("strive-witness-id"))
            self._json(status, answer)

    return Handler


# -- the checks over the record ----------------------------------------------------------------

checks: Registry[WitnessRecord] = Registry("witness")

WITNESSES = "transparency-log.md#witnesses"
ACCESS = "transparency-log.md#access"


def witness_checks() -> list[Check[WitnessRecord]]:
    """Every witness check, in order."""
    return list(checks.checks)


def _served(record: WitnessRecord, stage: str) -> None:
    if stage not in record.served:
        raise Failed(
            f"the witness never fetched the {stage!r} checkpoint (run it once per stage: "
            f"{len(record.served)} of {len(STAGES)} fetched)"
        )


def _cosigned_well(record: WitnessRecord, stage: str) -> str:
    _served(record, stage)
    found = record.cosignatures(stage)
    if not found:
        raise Failed(f"the witness did not cosign the {stage!r} checkpoint")
    problems = [p for c in found for p in c.problems]
    if problems:
        raise Failed(f"its cosignature of {stage!r}: {problems[0]}")
    return stage


@checks.add("W-01", "MUST", WITNESSES, "cosigns a first checkpoint, as cosignature/v1")
def cosigns_first(record: WitnessRecord) -> str:
    _cosigned_well(record, "first")
    verified = "verified" if record.witness_key else "well formed (no --witness-key to verify)"
    return f"a cosignature/v1 line of the served note, {verified}, timestamped now"


@checks.add("W-02", "MUST", ACCESS, "its reads and cosignatures are signed as itself")
def signs_requests(record: WitnessRecord) -> str:
    if not record.requests:
        raise Failed("the witness made no request to the log")
    if record.request_problems:
        raise Failed(
            f"{len(record.request_problems)} request(s) not signed as the witness; first: "
            f"{record.request_problems[0]}"
        )
    verified = ", verified" if record.witness_key else " (not verified: no --witness-key)"
    return f"{record.requests} request(s) signed with Strive-Witness-Id{verified}"


@checks.add(
    "W-03", "MUST", WITNESSES, "cosigns checkpoints that consistently extend the one it holds"
)
def cosigns_extensions(record: WitnessRecord) -> str:
    cosigned = [_cosigned_well(record, stage) for stage in ("extended", "recovered")]
    return "cosigned the tree grown from 5 to 9 and, after the refusals, to 14: " + ", ".join(
        cosigned
    )


def _refused(record: WitnessRecord, stage: str, what: str) -> str:
    _served(record, stage)
    if record.cosignatures(stage):
        raise Failed(f"the witness cosigned {what}")
    return f"fetched {what} and did not cosign it"


@checks.add("W-04", "MUST", WITNESSES, "does not cosign a rollback (a smaller tree)")
def refuses_rollback(record: WitnessRecord) -> str:
    return _refused(record, "rollback", "a tree of 3 leaves after one of 9")


@checks.add("W-05", "MUST", WITNESSES, "does not cosign a fork (a tree inconsistent with its own)")
def refuses_fork(record: WitnessRecord) -> str:
    return _refused(record, "fork", "a tree of 12 leaves that does not extend its tree of 9")


@checks.add(
    "W-06", "MUST", WITNESSES, "does not cosign a checkpoint not signed by the pinned log key"
)
def refuses_wrong_key(record: WitnessRecord) -> str:
    return _refused(record, "wrong-key", "a checkpoint signed by another key of the log's name")


@checks.add("W-07", "MUST", WITNESSES, "cosigns nothing the log did not serve")
def cosigns_only_served(record: WitnessRecord) -> str:
    if not record.cosigned:
        raise Skipped("the witness sent no cosignature")
    stray = [c for c in record.cosigned if c.stage is None]
    if stray:
        raise Failed(f"{len(stray)} cosignature(s) of a note the log never served")
    return f"{len(record.cosigned)} cosignature(s), each of a served checkpoint"
