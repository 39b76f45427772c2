"""Merkle-tree transparency log maths: RFC 9162 hashing and proofs, and C2SP tlog-tiles.

Everything here is pure computation over hashes, so the receiver (which builds the log), the
SDK (which checks inclusion) and the witness and verifier commands (which check consistency)
share one implementation. It is written in the project rather than taken from a library
because no maintained Python package implements the C2SP tile layout, and the code is small
and security-critical; it is checked against the published RFC 6962/9162 vectors of
transparency-dev/merkle and property-tested (``tests/protocol/test_tlog.py``).

Notation follows RFC 9162 section 2.1: ``MTH(D[a:b])`` is the Merkle tree hash of leaves
``a`` (inclusive) to ``b`` (exclusive). A *node* ``(level, index)`` is the complete subtree
of ``2**level`` leaves starting at leaf ``index * 2**level``. Tiles (c2sp.org/tlog-tiles)
have height 8: tile level ``t`` holds the node hashes at tree level ``8 * t``.

Example::

    hashes = [leaf_hash(entry) for entry in entries]
    reader = MemoryHashes(hashes)
    root = tree_hash(len(hashes), reader)
    proof = inclusion_proof(3, len(hashes), reader)
    verify_inclusion(3, len(hashes), hashes[3], proof, root)  # raises LogError on failure
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from strive_schema.errors import LogCode, LogError

__all__ = [
    "EMPTY_ROOT",
    "ENTRY_KINDS",
    "HASH_SIZE",
    "RECORD_KINDS",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "HashReader",
    "MemoryHashes",
    "Tile",
    "TileHashes",
    "consistency_proof",
    "entry_bundle",
    "entry_data",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_entry_bundle",
    "parse_tile_path",
    "receipt_entry",
    "record_digest",
    "root_of_complete",
    "tile_for_node",
    "tile_path",
    "tiles_for_size",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 9162 section 2.1.1)."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of_complete(hashes: Sequence[bytes]) -> bytes:
    """The root of a complete subtree whose bottom row is ``hashes`` (a power of two long)."""
    row = list(hashes)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


class HashReader(Protocol):
    """Somewhere node hashes come from: memory, the receiver's database, or fetched tiles."""

    def node(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree ``(level, index)``; it must exist in the tree."""
        ...


class MemoryHashes:
    """Node hashes computed from all the leaf hashes, kept level by level (tests, the
    verifier command and the tile builder)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(start: int, end: int, reader: HashReader) -> bytes:
    """MTH(D[start:end]) where ``start`` is aligned as RFC 9162's recursion leaves it."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return reader.node(level, start >> level)
    k = _largest_power_below(size)
    return node_hash(_range_hash(start, start + k, reader), _range_hash(start + k, end, reader))


def tree_hash(size: int, reader: HashReader) -> bytes:
    """The root hash of the tree of ``size`` leaves."""
    if size < 0:
        raise ValueError("a tree size is never negative")
    return EMPTY_ROOT if size == 0 else _range_hash(0, size, reader)


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, leaf to root."""
    if not 0 <= index < size:
        raise ValueError("the leaf index is outside the tree")
    return _path(index, 0, size, reader)


def _path(m: int, start: int, end: int, reader: HashReader) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _largest_power_below(n)
    if m < k:
        return [*_path(m, start, start + k, reader), _range_hash(start + k, end, reader)]
    return [*_path(m - k, start + k, end, reader), _range_hash(start, start + k, reader)]


def consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1."""
    if not 0 <= old_size <= new_size:
        raise ValueError("the old size must be between 0 and the new size")
    if old_size in (0, new_size):
        return []
    return _subproof(old_size, 0, new_size, True, reader)


def _subproof(m: int, start: int, end: int, whole: bool, reader: HashReader) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [_range_hash(start, end, reader)]
    k = _largest_power_below(n)
    if m <= k:
        return [*_subproof(m, start, start + k, whole, reader), _range_hash(start + k, end, reader)]
    return [
        *_subproof(m - k, start + k, end, False, reader),
        _range_hash(start, start + k, reader),
    ]


def _check_hash(value: bytes, what: str, code: LogCode) -> None:
    if len(value) != HASH_SIZE:
        raise LogError(code, f"{what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2).

    Raises:
        LogError: ``log_inclusion_proof_invalid`` - the proof does not lead from ``leaf`` at
            ``index`` to ``root`` in a tree of ``size`` leaves.
    """
    code = LogCode.INCLUSION_PROOF_INVALID
    for value in (leaf, root, *proof):
        _check_hash(value, "a proof value", code)
    if not 0 <= index < size:
        raise LogError(code, "the leaf index is outside the tree")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise LogError(code, "the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LogError(code, "the proof is too short")
    if r != root:
        raise LogError(code, "the proof does not lead to the root hash")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 section 2.1.4.2).

    Raises:
        LogError: ``log_rollback`` when ``new_size`` is smaller than ``old_size``;
            ``log_consistency_failed`` when the proof does not show the old tree is a prefix
            of the new one (a fork, or a wrong proof).
    """
    code = LogCode.CONSISTENCY_FAILED
    for value in (old_root, new_root, *proof):
        _check_hash(value, "a proof value", code)
    if new_size < old_size:
        raise LogError(LogCode.ROLLBACK, "the newer tree is smaller than the older one")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise LogError(code, "two trees of one size have different roots")
        return
    if old_size == 0:
        if proof:
            raise LogError(code, "a proof from the empty tree must be empty")
        return
    if not proof:
        raise LogError(code, "the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise LogError(code, "the proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LogError(code, "the proof is too short")
    if fr != old_root:
        raise LogError(code, "the proof does not lead to the older root: a fork")
    if sr != new_root:
        raise LogError(code, "the proof does not lead to the newer root")


# --- Tiles (c2sp.org/tlog-tiles) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Tile:
    """One tile: ``level`` -1 names an entry bundle; ``width`` is 256 for a full tile."""

    level: int
    index: int
    width: int

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self)


def _encode_index(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(tile: Tile) -> str:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``, relative to the log prefix."""
    level = "entries" if tile.level < 0 else str(tile.level)
    suffix = "" if tile.full else f".p/{tile.width}"
    return f"tile/{level}/{_encode_index(tile.index)}{suffix}"


_TILE_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> Tile:
    """The tile a path names. Refuses what the spec does not allow (leading zeroes, level
    above 63, width 256 or more on a partial tile).

    Raises:
        ValueError: the path is not a tile path.
    """
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        raise ValueError("not a tile path")
    level = -1 if match["level"] == "entries" else int(match["level"])
    if level > 63:
        raise ValueError("tile level above 63")
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if width >= TILE_WIDTH and match["width"]:
        raise ValueError("a partial tile is narrower than 256")
    return Tile(level, index, width)


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile (level 0 and up) of a tree of ``size`` leaves, full and partial."""
    tiles: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        full, rest = divmod(hashes, TILE_WIDTH)
        tiles.extend(Tile(level, n, TILE_WIDTH) for n in range(full))
        if rest:
            tiles.append(Tile(level, full, rest))
        level += 1
    return tiles


def tile_for_node(size: int, tile_level: int, position: int) -> Tile:
    """The tile of a tree of ``size`` leaves holding hash ``position`` at ``tile_level``."""
    hashes = size >> (TILE_HEIGHT * tile_level)
    n = position // TILE_WIDTH
    return Tile(tile_level, n, min(TILE_WIDTH, hashes - n * TILE_WIDTH))


class TileHashes:
    """A :class:`HashReader` over the tiles of one tree size, fetched on demand by
    ``fetch(tile) -> bytes`` and kept. Every fetched tile must have exactly its width in
    hashes; anything else is ``log_tile_mismatch``."""

    def __init__(self, size: int, fetch: Callable[[Tile], bytes]) -> None:
        self.size = size
        self._fetch = fetch
        self.tiles: dict[Tile, bytes] = {}

    def tile(self, tile: Tile) -> bytes:
        data = self.tiles.get(tile)
        if data is None:
            data = self._fetch(tile)
            if len(data) != tile.width * HASH_SIZE:
                raise LogError(LogCode.TILE_MISMATCH, f"{tile.path} has the wrong length")
            self.tiles[tile] = data
        return data

    def node(self, level: int, index: int) -> bytes:
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub
        tile = tile_for_node(self.size, tile_level, first)
        data = self.tile(tile)
        offset = first - tile.index * TILE_WIDTH
        row = [
            data[(offset + i) * HASH_SIZE : (offset + i + 1) * HASH_SIZE] for i in range(1 << sub)
        ]
        return root_of_complete(row)


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed with its big-endian uint16 length."""
    out = bytearray()
    for entry in entries:
        if len(entry) > 0xFFFF:
            raise ValueError("an entry is at most 65535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle.

    Raises:
        LogError: ``log_tile_mismatch`` - the bundle is truncated.
    """
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise LogError(LogCode.TILE_MISMATCH, "the entry bundle is truncated")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise LogError(LogCode.TILE_MISMATCH, "the entry bundle is truncated")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


# --- Strive entries (spec/transparency-log.md, "Entries") ---------------------------------------

ENTRY_KINDS = ("receipt", "record")
"""The public kinds: a receipt issued (computable by its holder), and any other record."""

RECORD_KINDS = ("audit", "transition", "outcome", "dissemination")
"""What a ``record`` entry commits to (an audit event, a lifecycle change, an outcome, a
dissemination): committed inside its salted digest, never shown, so readers learn neither
the kind nor its timing."""


def record_digest(kind: str, salt: bytes, content: bytes) -> bytes:
    """The digest of a ``record`` entry: ``SHA-256(salt || kind || 0x0A || content)``."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"a record is one of {RECORD_KINDS}")
    return hashlib.sha256(salt + kind.encode("ascii") + b"\n" + content).digest()


def entry_data(kind: str, digest: bytes) -> bytes:
    """The bytes of one log entry: the kind in ASCII, a newline (0x0A), then the 32-byte
    SHA-256 commitment."""
    if kind not in ENTRY_KINDS or len(digest) != HASH_SIZE:
        raise ValueError("an entry is a known kind and a 32-byte digest")
    return kind.encode("ascii") + b"\n" + digest


def receipt_entry(receipt_envelope: bytes) -> bytes:
    """The entry of a receipt, computable by whoever holds the receipt envelope's exact bytes:
    ``receipt\\n || SHA-256(receipt envelope)``."""
    return entry_data("receipt", hashlib.sha256(receipt_envelope).digest())
