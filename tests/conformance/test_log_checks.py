"""The transparency-log checks: they skip when the receiver advertises no log, and against a
log served by a test middleware (c2sp.org checkpoint and tiles over an RFC 6962 tree built
here) they pass, and fail naming the check when the signature or the tiles are wrong."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strive_client.conformance import run_receiver_suite
from strive_client.conformance.checks_log import tile_path, tree_root, verify_checkpoint
from strive_schema.keys import SigningKey
from tests.server.conftest import Receiver

from .test_broken_receivers import ASW, App, Receive, Scope, Send, broken_receiver, rewriting

LOG_ORIGIN = "receiver.test/log"
LOG_CHECKS = {"R-LOG-01", "R-LOG-02", "R-LOG-03"}


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, straight from the definition."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:split]) + mth(leaves[split:])).digest()


class NoteKey:
    def __init__(self, name: str) -> None:
        self.name = name
        self.key = SigningKey.generate()
        material = b"\x01" + self.key.public_key.raw
        self.key_hash = hashlib.sha256(name.encode() + b"\n" + material).digest()[:4]
        self.vkey = f"{name}+{self.key_hash.hex()}+{base64.b64encode(material).decode()}"

    def sign(self, text: str) -> str:
        signature = base64.b64encode(self.key_hash + self.key.sign(text.encode())).decode()
        return f"{text}\n\u2014 {self.name} {signature}\n"


@pytest.mark.parametrize("size", [1, 2, 5, 255, 256, 257, 300, 512, 700])
def test_the_root_from_tiles_is_the_rfc_6962_root(size: int) -> None:
    leaves = [hashlib.sha256(os.urandom(8)).digest() for _ in range(size)]
    full = size // 256
    subtrees = [mth(leaves[i * 256 : (i + 1) * 256]) for i in range(full)]
    assert tree_root(leaves[full * 256 :], subtrees, size) == mth(leaves)


def test_tile_paths_follow_tlog_tiles() -> None:
    assert tile_path(0, 1234067, 256) == "0/x001/x234/067"
    assert tile_path(1, 0, 3) == "1/000.p/3"
    assert tile_path(0, 1, 44) == "0/001.p/44"


def test_a_checkpoint_verifies_only_under_its_key() -> None:
    key = NoteKey(LOG_ORIGIN)
    note = key.sign(f"{LOG_ORIGIN}\n3\n{base64.b64encode(bytes(32)).decode()}\n")
    assert verify_checkpoint(note, key.vkey).size == 3
    with pytest.raises(ValueError, match="no signature line"):
        verify_checkpoint(note, NoteKey(LOG_ORIGIN).vkey)
    with pytest.raises(ValueError, match="does not verify"):
        verify_checkpoint(note.replace("\n3\n", "\n4\n"), key.vkey)


def fake_log(size: int, *, signer: NoteKey, advertised: NoteKey, bad_tiles: bool) -> Any:
    """A log beside the real receiver: discovery gains ``log``; the log routes answer signed
    requests only."""
    leaves = [hashlib.sha256(os.urandom(8)).digest() for _ in range(size)]
    full, tail = divmod(size, 256)
    tiles = {
        tile_path(1, 0, full): b"".join(mth(leaves[i * 256 : (i + 1) * 256]) for i in range(full)),
        tile_path(0, full, tail): b"".join(leaves[full * 256 :]),
    }
    if bad_tiles:
        tiles[tile_path(0, full, tail)] = bytes(32) + tiles[tile_path(0, full, tail)][32:]
    root = base64.b64encode(mth(leaves)).decode()
    note = signer.sign(f"{LOG_ORIGIN}\n{size}\n{root}\n").encode()

    def middleware(app: App) -> App:
        def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
            if scope["path"] == "/.well-known/strive-configuration" and status == 200:
                document = json.loads(body)
                document["log"] = {
                    "origin": LOG_ORIGIN, "vkey": advertised.vkey, "prefix": "/v1/log",
                    "max_merge_delay_seconds": 1, "witnesses": [],
                }  # fmt: skip
                body = json.dumps(document).encode()
            return status, headers, body

        inner = rewriting(app, rewrite)

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] != "http" or not path.startswith("/v1/log/"):
                await inner(scope, receive, send)
                return
            signed = any(name == b"signature-input" for name, _ in scope["headers"])
            if not signed:
                problem = {"type": "urn:strive:problem:authentication_required",
                           "title": "Unauthorized", "status": 401,
                           "code": "authentication_required"}  # fmt: skip
                await _answer(send, 401, "application/problem+json", json.dumps(problem).encode())
            elif path == "/v1/log/checkpoint":
                await _answer(send, 200, "text/plain; charset=utf-8", note)
            elif path.removeprefix("/v1/log/tile/") in tiles:
                await _answer(send, 200, "application/octet-stream",
                              tiles[path.removeprefix("/v1/log/tile/")])  # fmt: skip
            else:
                await _answer(send, 404, "application/problem+json", b'{"code": "not_found"}')

        return wrapped

    return middleware


async def _answer(send: Send, status: int, media: str, body: bytes) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _run(tmp_path: Path, breakage: Callable[[SigningKey], Any]) -> Any:
    for receiver, key in broken_receiver(tmp_path, breakage):
        return run_receiver_suite(receiver.url, asw_id=ASW, key=key)
    raise AssertionError("unreachable")


def without_log(app: App) -> App:
    """The receiver with no ``log`` in its discovery document (whether or not it runs one)."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"] == "/.well-known/strive-configuration" and status == 200:
            document = json.loads(body)
            document.pop("log", None)
            body = json.dumps(document).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def test_without_a_log_the_log_checks_are_not_applicable(tmp_path: Path) -> None:
    report = _run(tmp_path, lambda _k: without_log)
    for check_id in LOG_CHECKS:
        result = report.result(check_id)
        assert result.status == "skip"
        assert result.reason == "not applicable: the receiver does not advertise a log"
    assert report.conformant


def test_the_reference_receiver_fails_no_log_check(receiver: Receiver) -> None:
    """Pass when it runs a log, skip when it does not: never fail."""
    key = receiver.register_asw(ASW)
    report = run_receiver_suite(receiver.url, asw_id=ASW, key=key)
    assert not report.failed_ids() & LOG_CHECKS, report.table()


def test_a_conforming_log_passes(tmp_path: Path) -> None:
    key = NoteKey(LOG_ORIGIN)
    report = _run(tmp_path, lambda _k: fake_log(300, signer=key, advertised=key, bad_tiles=False))
    assert {r.id: r.status for r in report.results if r.id in LOG_CHECKS} == dict.fromkeys(
        LOG_CHECKS, "pass"
    ), report.table()
    # this log serves a checkpoint and tiles only: no lookup, promise, bundles or cosignatures
    rest = {f"R-LOG-{n:02d}" for n in range(4, 13)} | {"R-PROB-03"}
    assert report.failed_ids() <= rest, report.table()


def test_a_checkpoint_under_another_key_fails(tmp_path: Path) -> None:
    signer, advertised = NoteKey(LOG_ORIGIN), NoteKey(LOG_ORIGIN)
    report = _run(
        tmp_path, lambda _k: fake_log(5, signer=signer, advertised=advertised, bad_tiles=False)
    )
    assert "R-LOG-01" in report.failed_ids()


def test_tiles_that_do_not_hash_to_the_root_fail(tmp_path: Path) -> None:
    key = NoteKey(LOG_ORIGIN)
    report = _run(tmp_path, lambda _k: fake_log(300, signer=key, advertised=key, bad_tiles=True))
    assert report.failed_ids() & LOG_CHECKS == {"R-LOG-02"}
