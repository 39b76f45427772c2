"""Verifying the receiver's transparency log from the client side (spec/transparency-log.md).

The verification is written once, without I/O: :func:`run_check` computes from the resources
fetched so far and raises :class:`NeedResource` naming the next one it needs; the sync and
async clients (and the ``strive log`` commands) fetch it and run again. Hash computation is
cheap next to a round trip, and the tiles needed are few (two per tile level at most).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from strive_schema.errors import LogCode, LogError
from strive_schema.note import (
    Checkpoint,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    parse_note,
)
from strive_schema.tlog import (
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    MemoryHashes,
    Tile,
    TileHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    parse_entry_bundle,
    receipt_entry,
    tiles_for_size,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "CheckpointStore",
    "FileCheckpointStore",
    "InclusionProof",
    "LogPin",
    "LogTrust",
    "MemoryCheckpointStore",
    "NeedResource",
    "default_state_dir",
    "drive",
    "receipt_leaf_hash",
    "recompute_from_tiles",
    "run_check",
    "trust_from",
    "verified_checkpoint",
]

CHECKPOINT = "checkpoint"


class NeedResource(Exception):
    """Raised by :func:`run_check` for a resource not fetched yet: a path under the log's
    prefix (``checkpoint``, ``tile/...``, ``lookup/<hex>``)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(frozen=True, slots=True)
class LogPin:
    """What a client pinned for one receiver on first use: the log's verifier key, its
    origin and the newest checkpoint verified (a signed note; ``None`` before the first)."""

    vkey: str
    origin: str
    checkpoint: str | None = None


class CheckpointStore(Protocol):
    """Where a client keeps, per receiver URL, the pinned log key and origin and the newest
    checkpoint it has verified. Keyed by the receiver, not by the origin the receiver
    names, so a receiver cannot escape its pin by naming a new log."""

    def load(self, receiver: str) -> LogPin | None:
        """The pin of ``receiver``, or ``None`` (first use)."""
        ...

    def save(self, receiver: str, pin: LogPin) -> None:
        """Keep ``pin`` for ``receiver``."""
        ...


class MemoryCheckpointStore:
    """Keeps pins for the life of the object: for tests and one-off checks only, since a
    rollback, fork or key change is then noticed within one run only."""

    def __init__(self) -> None:
        self._pins: dict[str, LogPin] = {}

    def load(self, receiver: str) -> LogPin | None:
        return self._pins.get(receiver)

    def save(self, receiver: str, pin: LogPin) -> None:
        self._pins[receiver] = pin


STATE_DIR_ENV = "STRIVE_STATE_DIR"


def default_state_dir() -> Path:
    """Where the SDK keeps state across runs: ``$STRIVE_STATE_DIR``, else
    ``$XDG_STATE_HOME/strive``, else ``~/.local/state/strive`` (the XDG default)."""
    if override := os.environ.get(STATE_DIR_ENV):
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "strive"


class FileCheckpointStore:
    """Keeps pins in a JSON file (``{receiver: {vkey, origin, checkpoint}}``), replaced
    atomically, so a key change, rollback or fork is noticed across runs. The default
    store: ``checkpoints.json`` under :func:`default_state_dir`."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_state_dir() / "checkpoints.json"

    def _read(self) -> dict[str, LogPin]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            return {}
        return {
            str(receiver): LogPin(str(pin["vkey"]), str(pin["origin"]), pin.get("checkpoint"))
            for receiver, pin in data.items()
            if isinstance(pin, dict) and "vkey" in pin and "origin" in pin
        }

    def load(self, receiver: str) -> LogPin | None:
        return self._read().get(receiver)

    def save(self, receiver: str, pin: LogPin) -> None:
        pins = {name: dataclasses.asdict(value) for name, value in self._read().items()}
        pins[receiver] = dataclasses.asdict(pin)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(pins, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(self.path)


@dataclass(frozen=True, slots=True)
class LogTrust:
    """What a client trusts: the log's key (named by its origin) and the witnesses' keys.
    With ``witnesses`` given, a cosignature line from any other key is refused
    (``log_cosigner_unknown``): the receiver serves only its configured witnesses' lines."""

    log_key: NoteVerifier
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int = 0
    """How many witnesses must have cosigned (0: cosignatures are checked, not required)."""

    @property
    def origin(self) -> str:
        return self.log_key.name


def verified_checkpoint(note: str | bytes, trust: LogTrust) -> Checkpoint:
    """Verify a checkpoint note: the log's signature, its origin, every cosignature.

    Raises:
        LogError: ``log_checkpoint_malformed``, ``log_checkpoint_signature_invalid``,
            ``log_origin_mismatch``, ``log_cosigner_unknown``, ``log_cosignature_invalid``.
    """
    opened = open_note(note, [trust.log_key])
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != trust.origin:
        raise LogError(LogCode.ORIGIN_MISMATCH, "the checkpoint names another log")
    known = {(w.name, w.key_id): w for w in trust.witnesses}
    seen: set[tuple[str, int]] = set()
    cosigned: set[tuple[str, int]] = set()
    for signature in opened.note.signatures:
        signer = (signature.name, signature.key_id)
        if signer in seen:
            # Two lines for one key (the same line twice, or two timestamps) would let one
            # witness count twice toward the quorum; c2sp.org/signed-note allows refusing.
            raise LogError(LogCode.CHECKPOINT_MALFORMED, f"{signature.name} signed twice")
        seen.add(signer)
        if signer == (trust.log_key.name, trust.log_key.key_id):
            continue
        witness = known.get((signature.name, signature.key_id))
        if witness is None:
            if trust.witnesses:
                raise LogError(LogCode.COSIGNER_UNKNOWN, f"{signature.name} is not a witness")
            continue
        if not witness.verify(opened.text, signature.signature):
            raise LogError(LogCode.COSIGNATURE_INVALID, f"{signature.name}'s cosignature fails")
        cosigned.add(signer)
    if len(cosigned) < trust.quorum:
        raise LogError(
            LogCode.COSIGNATURE_INVALID,
            f"{len(cosigned)} of the {trust.quorum} distinct witnesses needed",
        )
    return checkpoint


def receipt_leaf_hash(receipt_envelope: bytes) -> bytes:
    """The leaf hash of a receipt's log entry, from the receipt envelope's exact bytes."""
    return leaf_hash(receipt_entry(receipt_envelope))


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """A verified result: the checkpoint (and its note), and for an entry its leaf index and
    the inclusion proof that was checked."""

    checkpoint: Checkpoint
    note: str
    leaf_index: int | None = None
    proof: tuple[bytes, ...] = ()
    previous_size: int | None = None
    """The size of the checkpoint consistency was proven from (``None``: none was stored)."""


def _tiles(size: int, fetched: dict[str, bytes]) -> TileHashes:
    def fetch(tile: Tile) -> bytes:
        data = fetched.get(tile.path)
        if data is None:
            raise NeedResource(tile.path)
        return data

    return TileHashes(size, fetch)


def _pinned(store: CheckpointStore, receiver: str, trust: LogTrust) -> LogPin | None:
    """The receiver's pin, refusing a log key or origin other than the pinned one."""
    pin = store.load(receiver)
    if pin is not None and (pin.vkey != trust.log_key.vkey or pin.origin != trust.origin):
        raise LogError(
            LogCode.KEY_CHANGED,
            f"{receiver} was pinned to log {pin.origin} key {pin.vkey}; it now shows "
            f"{trust.origin} key {trust.log_key.vkey}",
        )
    return pin


def run_check(
    fetched: dict[str, bytes],
    trust: LogTrust,
    store: CheckpointStore,
    *,
    receiver: str,
    leaf: bytes | None = None,
) -> InclusionProof:
    """Verify the newest checkpoint (signature, cosignatures, that its tiles hash to its
    root, and consistency with the stored checkpoint) and, with ``leaf``, the inclusion of
    that leaf hash. Saves the checkpoint as the newest seen once all passed.

    Raises:
        NeedResource: fetch this path into ``fetched`` and call again.
        LogError: with the stable code of the first check that failed; ``log_key_changed``
            when ``trust`` is not the log key and origin pinned for ``receiver``; ``log_rollback``
            when the log is smaller than the stored checkpoint; ``log_consistency_failed``
            on a fork; ``log_tile_mismatch`` when tiles do not hash to the checkpoint.
    """
    pin = _pinned(store, receiver, trust)
    index: int | None = None
    if leaf is not None:
        lookup_path = f"lookup/{leaf.hex()}"
        if lookup_path not in fetched:
            raise NeedResource(lookup_path)
        index = int(json.loads(fetched[lookup_path])["leaf_index"])
    if CHECKPOINT not in fetched:
        raise NeedResource(CHECKPOINT)
    note = fetched[CHECKPOINT].decode("utf-8", errors="replace")
    checkpoint = verified_checkpoint(note, trust)
    tiles = _tiles(checkpoint.size, fetched)
    if checkpoint.size and tree_hash(checkpoint.size, tiles) != checkpoint.root:
        raise LogError(LogCode.TILE_MISMATCH, "the tiles do not hash to the checkpoint's root")
    previous_size = None
    stored = pin.checkpoint if pin is not None else None
    if stored is not None:
        previous = parse_checkpoint(parse_note(stored).text)
        previous_size = previous.size
        if previous.size > checkpoint.size:
            raise LogError(
                LogCode.ROLLBACK,
                f"the log shows {checkpoint.size} entries after showing {previous.size}",
            )
        proof = consistency_proof(previous.size, checkpoint.size, tiles)
        verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof)
    path: list[bytes] = []
    if leaf is not None and index is not None:
        if index >= checkpoint.size:
            raise LogError(LogCode.ENTRY_UNKNOWN, "the entry is not in the checkpoint served")
        path = inclusion_proof(index, checkpoint.size, tiles)
        verify_inclusion(index, checkpoint.size, leaf, path, checkpoint.root)
    if stored is None or previous_size is None or checkpoint.size >= previous_size:
        store.save(receiver, LogPin(trust.log_key.vkey, trust.origin, note))
    return InclusionProof(checkpoint, note, index, tuple(path), previous_size)


def drive(
    fetch: Callable[[str], bytes],
    trust: LogTrust,
    store: CheckpointStore,
    *,
    receiver: str,
    leaf: bytes | None = None,
) -> InclusionProof:
    """Run :func:`run_check`, fetching what it asks for with ``fetch(path)``."""
    fetched: dict[str, bytes] = {}
    while True:
        try:
            return run_check(fetched, trust, store, receiver=receiver, leaf=leaf)
        except NeedResource as need:
            fetched[need.path] = fetch(need.path)


def trust_from(log_vkey: str, witness_vkeys: Sequence[str] = (), quorum: int = 0) -> LogTrust:
    """A :class:`LogTrust` from verifier keys (c2sp.org/signed-note)."""
    return LogTrust(
        NoteVerifier.from_vkey(log_vkey),
        tuple(NoteVerifier.from_vkey(v) for v in witness_vkeys),
        quorum,
    )


def recompute_from_tiles(checkpoint: Checkpoint, fetch: Callable[[str], bytes]) -> int:
    """Recompute the whole tree from its level-0 tiles and entry bundles and check every
    served tile against it: each entry hashes to its leaf, every higher tile holds the
    hashes of the tiles below, and the root is the checkpoint's. Returns the number of tiles
    checked.

    Raises:
        LogError: ``log_tile_mismatch`` naming the first tile that disagrees.
    """
    leaves: list[bytes] = []
    all_tiles = tiles_for_size(checkpoint.size)
    for tile in (t for t in all_tiles if t.level == 0):
        data = fetch(tile.path)
        if len(data) != tile.width * HASH_SIZE:
            raise LogError(LogCode.TILE_MISMATCH, f"{tile.path} has the wrong length")
        hashes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        bundle = Tile(-1, tile.index, tile.width)
        entries = parse_entry_bundle(fetch(bundle.path))
        if len(entries) != tile.width or any(
            leaf_hash(entry) != expected for entry, expected in zip(entries, hashes, strict=True)
        ):
            raise LogError(LogCode.TILE_MISMATCH, f"{bundle.path} does not hash to {tile.path}")
        leaves.extend(hashes)
    memory = MemoryHashes(leaves or [b""])
    if checkpoint.size and tree_hash(checkpoint.size, memory) != checkpoint.root:
        raise LogError(LogCode.TILE_MISMATCH, "the tiles do not hash to the checkpoint's root")
    for tile in (t for t in all_tiles if t.level > 0):
        data = fetch(tile.path)
        level = tile.level * TILE_HEIGHT
        expected = b"".join(
            memory.node(level, tile.index * TILE_WIDTH + i) for i in range(tile.width)
        )
        if data != expected:
            raise LogError(LogCode.TILE_MISMATCH, f"{tile.path} is not the tiles below it")
    return len(all_tiles) * 2 - sum(1 for t in all_tiles if t.level > 0)
