"""Receiver checks: the transparency log (spec/transparency-log.md, which comes with the
log), for receivers whose discovery document advertises one (the ``log`` member:
``origin``, ``vkey``, ``prefix``, ``max_merge_delay_seconds``). A receiver without a log
skips them: the log is an optional feature of the receiver class.

The formats are those of c2sp.org: a checkpoint is a signed note (tlog-checkpoint,
signed-note) and the tree is served as tiles of height 8 (tlog-tiles), with RFC 6962 hashing.
Checkpoints and the tiles' root are read here independently of any server code (a few lines
each), so that the suite tests another implementation against the published formats, not
against our own reading; the RFC 9162 proof algorithms and the promise's signed-note form are the
standard package's (``strive_schema.tlog``, ``strive_schema.note``), as an ASW's SDK uses them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from strive_schema import tlog
from strive_schema.errors import LogError
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.note import NoteVerifier, verify_promise

from ._framework import Failed, Registry, Skipped
from ._session import Accepted, ReceiverSession, describe, json_object, problem_code

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


# -- R-LOG-04 and on: a receipt's entry, its proofs, the promise, access, cosignatures ----------

LOOKUP = "transparency-log.md#tiles"
MERGE_DELAY = "transparency-log.md#committing-and-sequencing"
WITNESSES = "transparency-log.md#witnesses"
VERIFYING = "transparency-log.md#verifying-clients"


def _max_merge_delay(log: dict[str, Any]) -> int:
    delay = log.get("max_merge_delay_seconds")
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        raise Failed("/log/max_merge_delay_seconds is not a non-negative integer")
    return delay


def receipt_leaf(receipt_envelope: bytes) -> bytes:
    """The leaf hash of a receipt's entry, computed by its holder alone."""
    return tlog.leaf_hash(tlog.receipt_entry(receipt_envelope))


def _lookup(session: ReceiverSession, leaf: bytes) -> httpx.Response:
    return session.signed_get(f"{_prefix(advertised_log(session))}/lookup/{leaf.hex()}")


def _wait_for_entry(session: ReceiverSession, leaf: bytes, until: float) -> dict[str, Any] | None:
    """Poll the lookup until the entry is found (its answer) or ``until`` (monotonic) passes
    (None). Any answer but 200 and 404 ``log_entry_unknown`` fails."""
    while True:
        response = _lookup(session, leaf)
        if response.status_code == 200:
            return json_object(response)
        if response.status_code != 404 or problem_code(response) != "log_entry_unknown":
            raise Failed(f"the lookup of a receipt's leaf got {describe(response)}")
        if time.monotonic() >= until:
            return None
        time.sleep(0.25)


def _baseline_entry(session: ReceiverSession) -> tuple[bytes, int]:
    """The baseline receipt's leaf hash and its index, found with the lookup (waiting up to
    the merge delay, at most 15 s)."""
    cached = session.shared.get("log_baseline_entry")
    if isinstance(cached, tuple):
        return cached
    log = advertised_log(session)
    leaf = receipt_leaf(session.baseline().receipt_envelope)
    wait = min(float(_max_merge_delay(log)), _MAX_WAIT_SECONDS)
    found = _wait_for_entry(session, leaf, time.monotonic() + wait)
    if found is None:
        raise Failed(f"the receipt's leaf is not found by the lookup after {wait:.0f} s")
    index, size = found.get("leaf_index"), found.get("tree_size")
    if not isinstance(index, int) or not isinstance(size, int) or not 0 <= index < size:
        raise Failed(f"the lookup answered {found!r}, not a leaf_index below tree_size")
    session.shared["log_baseline_entry"] = (leaf, index)
    return leaf, index


def _fresh_checkpoint(session: ReceiverSession, *, at_least: int) -> tuple[Checkpoint, str]:
    """The newest checkpoint (verified, not cached) once its tree has ``at_least`` leaves."""
    log = advertised_log(session)
    vkey, origin = log.get("vkey"), log.get("origin")
    if not isinstance(vkey, str) or not isinstance(origin, str):
        raise Failed("/log has no vkey and origin strings")
    path = _prefix(log) + "/checkpoint"
    deadline = time.monotonic() + min(float(_max_merge_delay(log)), _MAX_WAIT_SECONDS)
    while True:
        response = session.signed_get(path)
        if response.status_code != 200:
            raise Failed(f"GET {path} (signed) got {describe(response)}, not 200")
        try:
            checkpoint = verify_checkpoint(response.text, vkey)
        except ValueError as exc:
            raise Failed(f"the checkpoint does not verify: {exc}") from None
        if checkpoint.origin != origin:
            raise Failed(f"the checkpoint's origin {checkpoint.origin!r} is not {origin!r}")
        if checkpoint.size >= at_least or time.monotonic() > deadline:
            return checkpoint, response.text
        time.sleep(0.25)


def _tile_reader(session: ReceiverSession, size: int) -> tlog.TileHashes:
    prefix = _prefix(advertised_log(session)) + "/"

    def fetch(tile: tlog.Tile) -> bytes:
        path = prefix + tlog.tile_path(tile)
        response = session.signed_get(path)
        if response.status_code != 200:
            raise Failed(f"GET {path} (signed) got {describe(response)}, not 200")
        return response.content

    return tlog.TileHashes(size, fetch)


@checks.add("R-LOG-04", "MUST", LOOKUP, "the lookup finds a receipt's leaf; an unknown leaf -> 404")
def lookup_finds_receipt(session: ReceiverSession) -> str:
    leaf, index = _baseline_entry(session)
    stranger = hashlib.sha256(b"strive conformance: a leaf no log holds " + leaf).digest()
    response = _lookup(session, stranger)
    session.expect_problem(response, 404, "log_entry_unknown")
    return f"the receipt's leaf is at index {index}; an unknown leaf is 404 log_entry_unknown"


@checks.add("R-LOG-05", "MUST", VERIFYING, "the receipt's inclusion proof verifies from the tiles")
def inclusion_proof_verifies(session: ReceiverSession) -> str:
    leaf, index = _baseline_entry(session)
    checkpoint, _ = _fresh_checkpoint(session, at_least=index + 1)
    if checkpoint.size <= index:
        raise Failed(f"the lookup named index {index}; the checkpoint has {checkpoint.size}")
    reader = _tile_reader(session, checkpoint.size)
    try:
        proof = tlog.inclusion_proof(index, checkpoint.size, reader)
        tlog.verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root)
    except LogError as exc:
        raise Failed(f"{exc.code}: {exc.detail}") from None
    return f"leaf {index} is included in the signed tree of {checkpoint.size}"


def _promise(session: ReceiverSession, accepted: Accepted) -> int:
    """Verify an acknowledgement's ``log_promise``; return its include_by."""
    log = advertised_log(session)
    vkey = log.get("vkey")
    if not isinstance(vkey, str):
        raise Failed("/log has no vkey string")
    promise = accepted.body.get("log_promise")
    if not isinstance(promise, str):
        raise Failed("the acknowledgement carries no log_promise string")
    leaf = receipt_leaf(accepted.receipt_envelope)
    try:
        return verify_promise(promise, NoteVerifier.from_vkey(vkey), leaf)
    except (LogError, ValueError) as exc:
        raise Failed(f"the log promise does not verify under /log/vkey: {exc}") from None


@checks.add(
    "R-LOG-06", "MUST", MERGE_DELAY, "the receipt's log promise is signed by the log key, in time"
)
def promise_signed(session: ReceiverSession) -> str:
    accepted = session.baseline()
    include_by = _promise(session, accepted)
    delay = _max_merge_delay(advertised_log(session))
    receipt = accepted.body.get("receipt")
    received = receipt.get("received_at") if isinstance(receipt, dict) else None
    if not isinstance(received, str):
        raise Failed("the receipt has no received_at")
    try:
        received_at = int(datetime.fromisoformat(received.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise Failed(f"received_at {received!r} is not an RFC 3339 time") from None
    if include_by != received_at + delay:
        raise Failed(
            f"include_by is {include_by}, not received_at + max_merge_delay_seconds "
            f"({received_at} + {delay})"
        )
    return f"signed by the log key for this receipt's leaf; include_by = received_at + {delay} s"


@checks.add("R-LOG-07", "MUST", MERGE_DELAY, "a promised entry is in a checkpoint by include_by")
def promise_kept(session: ReceiverSession) -> str:
    advertised_log(session)
    accepted = session.accept()
    include_by = _promise(session, accepted)
    leaf = receipt_leaf(accepted.receipt_envelope)
    left = include_by - time.time()
    wait = min(max(left, 0.0) + 1.0, _MAX_WAIT_SECONDS)
    found = _wait_for_entry(session, leaf, time.monotonic() + wait)
    if found is not None:
        session.shared["log_promised_size"] = found.get("tree_size")
        return f"in the log {max(left, 0.0):.0f} s or more before include_by"
    if time.time() > include_by:
        raise Failed(
            f"the entry is not in the log {time.time() - include_by:.0f} s after include_by"
        )
    raise Skipped(f"not in the log after {wait:.0f} s; include_by is {left:.0f} s away: not waited")


@checks.add("R-LOG-08", "MUST", VERIFYING, "a later checkpoint is consistent with an earlier one")
def checkpoints_consistent(session: ReceiverSession) -> str:
    old = _checkpoint(session)
    promised = session.shared.get("log_promised_size")
    if not isinstance(promised, int) or promised <= old.size:
        session.accept()  # one more entry, so that the tree grows
        promised = old.size + 1
    new, _ = _fresh_checkpoint(session, at_least=promised)
    if new.size <= old.size:
        raise Failed(f"the tree did not grow past {old.size} after a submission was acknowledged")
    reader = _tile_reader(session, new.size)
    try:
        proof = tlog.consistency_proof(old.size, new.size, reader)
        tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
    except LogError as exc:
        raise Failed(f"{exc.code}: {exc.detail}") from None
    return f"the tree of {new.size} extends the tree of {old.size}"


@checks.add("R-LOG-09", "MUST", ACCESS, "entry bundles are refused to an ASW -> 403 forbidden")
def bundles_refused_to_asw(session: ReceiverSession) -> str:
    checkpoint = _checkpoint(session)
    width = min(checkpoint.size, TILE_WIDTH)
    path = f"{_prefix(advertised_log(session))}/tile/{tile_path_entries(width)}"
    return session.expect_problem(session.signed_get(path), 403, "forbidden")


def tile_path_entries(width: int) -> str:
    """The path of the first entry bundle, ``entries/000[.p/W]``."""
    return "entries/000" + (f".p/{width}" if width < TILE_WIDTH else "")


@checks.add("R-LOG-10", "MUST", TILES, "entry bundles hash to the tiles (law-enforcement reader)")
def bundles_match_tiles(session: ReceiverSession) -> str:
    checkpoint = _checkpoint(session)
    if session.analyst_token is None:
        raise Skipped("not tested: needs --analyst-token (entry bundles are not an ASW's)")
    width = min(checkpoint.size, TILE_WIDTH)
    prefix = _prefix(advertised_log(session)) + "/tile/"
    headers = {"Authorization": f"Bearer {session.analyst_token}"}
    response = session.http.get(prefix + tile_path_entries(width), headers=headers)
    if response.status_code != 200:
        raise Failed(f"the first entry bundle got {describe(response)}, not 200")
    try:
        entries = tlog.parse_entry_bundle(response.content)
    except LogError as exc:
        raise Failed(f"the bundle is malformed: {exc.detail}") from None
    if len(entries) != width:
        raise Failed(f"the bundle has {len(entries)} entries, not {width}")
    hashes = session.http.get(prefix + tile_path(0, 0, width), headers=headers)
    if hashes.status_code != 200:
        raise Failed(f"the first hash tile got {describe(hashes)}, not 200")
    leaves = b"".join(tlog.leaf_hash(entry) for entry in entries)
    if leaves != hashes.content:
        raise Failed("the entries do not hash to the leaf hashes of the level-0 tile")
    kinds = {entry.split(b"\n", 1)[0] for entry in entries}
    if not kinds <= {b"receipt", b"record"} or any(len(e) not in (40, 39) for e in entries):
        raise Failed("an entry is not 'receipt' or 'record', a newline and a 32-byte digest")
    return f"{width} entries hash to the first tile's leaves"


@checks.add("R-LOG-11", "MUST", WITNESSES, "a cosignature not signed by a witness -> 401 problem")
def cosignature_needs_witness(session: ReceiverSession) -> str:
    _, note = _fresh_checkpoint(session, at_least=1)
    path = _prefix(advertised_log(session)) + "/cosignature"
    body = note.encode("utf-8")
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    unsigned = session.http.post(path, content=body, headers=headers)
    session.expect_problem(unsigned, 401, "authentication_required")
    as_asw = {**headers, **session.signed_headers("POST", path, body=body)}
    signed = session.http.post(path, content=body, headers=as_asw)
    session.expect_problem(signed, 401, "authentication_required")
    return "unsigned and ASW-signed cosignatures: 401 authentication_required"


@checks.add("R-LOG-12", "MUST", WITNESSES, "a cosignature by a witness not configured -> 401")
def cosignature_unknown_witness(session: ReceiverSession) -> str:
    _, note = _fresh_checkpoint(session, at_least=1)
    path = _prefix(advertised_log(session)) + "/cosignature"
    body = note.encode("utf-8")
    stranger = SigningKey.generate()
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Strive-Witness-Id": "conformance.invalid/unknown-witness",
        **sign_request("POST", session.origin + path, {}, body, stranger),
    }
    response = session.http.post(path, content=body, headers=headers)
    # "anyone else gets 401 authentication_required (or ... a signed-request code)": for a
    # signer the receiver does not know, that code is key_unknown (protocol.md, H9)
    code = (
        "authentication_required"
        if problem_code(response) == "authentication_required"
        else "key_unknown"
    )
    return session.expect_problem(response, 401, code)
