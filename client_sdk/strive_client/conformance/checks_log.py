"""Receiver checks: the transparency log (spec/transparency-log.md, which comes with the
log), for receivers whose discovery document advertises one (the ``log`` member:
``origin``, ``vkey``, ``prefix``, ``max_merge_delay_seconds``). A receiver without a log
skips them: the log is an optional feature of the receiver class.

The formats are those of c2sp.org: a checkpoint is a signed note (tlog-checkpoint,
signed-note) and the tree is served as tiles of height 8 (tlog-tiles), with RFC 6962 hashing.
They are read here independently of any server code (a few lines each), so that the suite
tests another implementation against the published formats, not against our own reading.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._framework import Failed, Registry, Skipped
from ._session import ReceiverSession, describe

checks: Registry[ReceiverSession] = Registry("transparency-log")

CHECKPOINTS = "transparency-log.md#checkpoints"
TILES = "transparency-log.md#tiles"
ACCESS = "transparency-log.md#access"
TILE_WIDTH: Final = 256
HASH_SIZE: Final = 32
_DASH: Final = "\u2014 "
_ALG_ED25519: Final = 0x01
_MAX_WAIT_SECONDS: Final = 15.0


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: its origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes


def verify_checkpoint(note: str, vkey: str) -> Checkpoint:
    """Verify a checkpoint note against a log's verifier key (c2sp.org/signed-note,
    c2sp.org/tlog-checkpoint); return what it states.

    Raises:
        ValueError: the vkey or the note is malformed, or no signature line of the key's
            name and id verifies.
    """
    name, key_hash, public = _parse_vkey(vkey)
    text, separator, signatures = note.partition("\n\n")
    if not separator or not text:
        raise ValueError("the note has no blank line between its text and its signatures")
    text += "\n"
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise ValueError("a checkpoint has an origin, a tree size and a root hash line")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ValueError("the tree size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise ValueError("the root hash is not base64") from None
    if len(root) != HASH_SIZE:
        raise ValueError("the root hash is not 32 bytes")
    key = Ed25519PublicKey.from_public_bytes(public)
    for line in signatures.split("\n"):
        if not line.startswith(_DASH):
            continue
        signer, _, material = line[len(_DASH) :].partition(" ")
        try:
            raw = base64.b64decode(material, validate=True)
        except binascii.Error:
            continue
        if signer != name or raw[:4] != key_hash or len(raw) != 4 + 64:
            continue
        try:
            key.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise ValueError("the log's signature line does not verify") from None
        return Checkpoint(origin, int(size_text), root)
    raise ValueError(f"no signature line of {name} with the key id of the advertised vkey")


def _parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    parts = vkey.split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise ValueError("the vkey is not name+keyid+key")
    name, hex_id, material = parts
    try:
        raw = base64.b64decode(material, validate=True)
        key_hash = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise ValueError("the vkey's id or key is not well formed") from None
    if len(raw) != 33 or raw[0] != _ALG_ED25519:
        raise ValueError("the vkey is not an Ed25519 note key (type 0x01)")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if expected != key_hash:
        raise ValueError("the vkey's key id does not match its name and key")
    return name, key_hash, raw[1:]


def tile_path(level: int, index: int, width: int) -> str:
    """The tlog-tiles path of a hash tile: ``<L>/<N>[.p/<W>]`` with N in 3-digit groups."""
    digits = f"{index:03d}"
    while len(digits) % 3:
        digits = "0" + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    number = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    return f"{level}/{number}" + (f".p/{width}" if width < TILE_WIDTH else "")


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves: list[bytes], full_subtrees: list[bytes], size: int) -> bytes:
    """The RFC 6962 root of a tree of ``size`` leaves from the roots of its complete
    256-leaf subtrees (the level-1 tile) and the leaf hashes after them (the last level-0
    tile)."""

    def perfect(start: int, count: int) -> bytes:  # an aligned subtree of 256 * 2^k leaves
        if count == TILE_WIDTH:
            return full_subtrees[start // TILE_WIDTH]
        half = count // 2
        return _node(perfect(start, half), perfect(start + half, half))

    tail_start = (size // TILE_WIDTH) * TILE_WIDTH

    def mth(start: int, count: int) -> bytes:
        if count == 1:
            return leaves[start - tail_start]
        if count >= TILE_WIDTH and count & (count - 1) == 0 and start % TILE_WIDTH == 0:
            return perfect(start, count)
        split = 1 << ((count - 1).bit_length() - 1)
        return _node(mth(start, split), mth(start + split, count - split))

    if size == 0:
        return hashlib.sha256(b"").digest()
    return mth(0, size)


def advertised_log(session: ReceiverSession) -> dict[str, Any]:
    """The discovery document's ``log`` member, or skip."""
    log = session.discovery().get("log")
    if not isinstance(log, dict):
        raise Skipped("not applicable: the receiver does not advertise a log")
    return log


def _prefix(log: dict[str, Any]) -> str:
    prefix = log.get("prefix", "/v1/log")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise Failed("/log/prefix is not a path")
    return prefix.rstrip("/")


def _checkpoint(session: ReceiverSession) -> Checkpoint:
    """The newest checkpoint, verified; waits (up to the merge delay, at most 15 s) for the
    baseline submission to be in one."""
    cached = session.shared.get("log_checkpoint")
    if isinstance(cached, Checkpoint):
        return cached
    log = advertised_log(session)
    vkey, origin = log.get("vkey"), log.get("origin")
    if not isinstance(vkey, str) or not isinstance(origin, str):
        raise Failed("/log has no vkey and origin strings")
    session.baseline()  # at least one entry
    delay = log.get("max_merge_delay_seconds", 60)
    deadline = time.monotonic() + min(
        float(delay) if isinstance(delay, int) else 60.0, _MAX_WAIT_SECONDS
    )
    path = _prefix(log) + "/checkpoint"
    while True:
        response = session.signed_get(path)
        if response.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if response.status_code != 200:
        raise Failed(f"GET {path} (signed) got {describe(response)}, not 200")
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if media != "text/plain":
        raise Failed(f"the checkpoint's content type is {media!r}, not text/plain")
    try:
        checkpoint = verify_checkpoint(response.text, vkey)
    except ValueError as exc:
        raise Failed(f"the checkpoint does not verify: {exc}") from None
    if checkpoint.origin != origin:
        raise Failed(f"the checkpoint's origin {checkpoint.origin!r} is not {origin!r}")
    if checkpoint.size < 1:
        raise Failed("the checkpoint's tree is empty after a submission was acknowledged")
    session.shared["log_checkpoint"] = checkpoint
    return checkpoint


@checks.add("R-LOG-01", "MUST", CHECKPOINTS, "a checkpoint signed by the advertised log key")
def checkpoint_signed(session: ReceiverSession) -> str:
    checkpoint = _checkpoint(session)
    return f"tree size {checkpoint.size}, signed under the advertised vkey"


@checks.add("R-LOG-02", "MUST", TILES, "the tiles hash to the checkpoint's root")
def tiles_match_root(session: ReceiverSession) -> str:
    checkpoint = _checkpoint(session)
    size = checkpoint.size
    if size >= TILE_WIDTH * TILE_WIDTH:
        raise Skipped("the tree has 65,536 leaves or more; the suite recomputes smaller roots")
    tile_prefix = _prefix(advertised_log(session)) + "/tile/"
    full, tail = divmod(size, TILE_WIDTH)
    subtrees = _tile(session, tile_prefix + tile_path(1, 0, full), full) if full else []
    leaves = _tile(session, tile_prefix + tile_path(0, full, tail), tail) if tail else []
    if tree_root(leaves, subtrees, size) != checkpoint.root:
        raise Failed("the hash tiles do not hash to the checkpoint's root")
    return f"recomputed the root of {size} leaves from the tiles"


def _tile(session: ReceiverSession, path: str, width: int) -> list[bytes]:
    response = session.signed_get(path)
    if response.status_code != 200:
        raise Failed(f"GET {path} (signed) got {describe(response)}, not 200")
    data = response.content
    if len(data) != width * HASH_SIZE:
        raise Failed(f"{path} has {len(data)} bytes, not {width} hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


@checks.add("R-LOG-03", "MUST", ACCESS, "an unauthenticated log read -> 401 problem")
def log_needs_authentication(session: ReceiverSession) -> str:
    path = _prefix(advertised_log(session)) + "/checkpoint"
    return session.expect_problem(session.http.get(path), 401, "authentication_required")
