"""The receiver's transparency log (spec/transparency-log.md).

Every receipt issued, audit event, lifecycle change, outcome and dissemination adds a
*pending* entry in the same transaction as its row (:func:`append_entry`, :func:`log_row`),
so a crash never separates the two. The sequencer (:func:`sequence`) then appends pending
entries in order, stores the hashes of newly full tiles, and signs a checkpoint; a lock on
the log's one state row makes it run once at a time across processes. An entry holds a
digest of the row, never its content: it reveals nothing to whoever does not hold the row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from strive_schema._internal import timestamps
from strive_schema.errors import LogCode, LogError
from strive_schema.note import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from strive_schema.tlog import (
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    consistency_proof,
    entry_bundle,
    entry_data,
    leaf_hash,
    record_digest,
    root_of_complete,
    tree_hash,
    verify_consistency,
)
from strive_server.db import tables

__all__ = [
    "LOGGED_TABLES",
    "Mismatch",
    "SequencerThread",
    "add_cosignature",
    "append_entry",
    "check_database",
    "checkpoint_note",
    "log_row",
    "log_submission",
    "lookup",
    "read_entries",
    "read_tile",
    "sequence",
]

logger = logging.getLogger("strive.server.tlog")

LOGGED_TABLES: dict[str, str] = {
    "referrals": "receipt",
    "audit_events": "audit",
    "state_transitions": "transition",
    "outcome_events": "outcome",
    "disseminations": "dissemination",
}
"""The tables whose every row has an entry, and the entry kind of each."""
_TABLES = tables.Base.metadata.tables
_ENTRIES = _TABLES["log_entries"]
_TILE_HASHES = _TABLES["log_tile_hashes"]
_CHECKPOINTS = _TABLES["log_checkpoints"]
_COSIGNATURES = _TABLES["log_cosignatures"]
_STATE = _TABLES["log_state"]
_INSERT_ENTRY = sa.insert(_ENTRIES)
"""Built once: constructing the statement per entry costs more than executing it."""
_SALT_BYTES = 16
_SEQUENCE_BATCH = 10_000


# --- Adding entries -----------------------------------------------------------------------------


def append_entry(conn: sa.Connection, kind: str, content: bytes, *, ref: str | None = None) -> int:
    """Add a pending entry committing to ``content``, in the caller's transaction; return its
    id. A receipt commits to ``SHA-256(receipt envelope)`` so the holder can recompute it;
    every other kind to ``SHA-256(salt || content)`` with a fresh 16-byte salt kept here, so
    a guessable row (who read which referral when) cannot be confirmed from the entry."""
    if kind == "receipt":
        salt, data = b"", entry_data(kind, hashlib.sha256(content).digest())
    else:  # the kind is committed inside the digest; the public kind is "record"
        salt = os.urandom(_SALT_BYTES)
        data = entry_data("record", record_digest(kind, salt, content))
    result = conn.execute(
        _INSERT_ENTRY,
        {"kind": kind, "ref": ref, "salt": salt, "data": data, "leaf_hash": leaf_hash(data),
         "leaf_index": None, "created_at": datetime.now(UTC)},
    )  # fmt: skip
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamps.format_utc(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def canonical_row(table: sa.Table, row: Mapping[Any, Any]) -> bytes:
    """What an entry commits to for a row: compact JSON, sorted keys, of
    ``{"table": name, "row": {column: value}}`` with times as RFC 3339 UTC whole seconds and
    bytes as base64; for ``referrals`` the receipt envelope's exact bytes instead."""
    if table.name == "referrals":
        return bytes(row["receipt_envelope"])
    document = {
        "table": table.name,
        "row": {column.name: _canonical_value(row[column.name]) for column in table.columns},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _pk_column(table: sa.Table) -> sa.Column[Any]:
    (column,) = table.primary_key.columns
    return column


def log_row(
    conn: sa.Connection,
    table_name: str,
    pk: object,
    *,
    values: Mapping[Any, Any] | None = None,
) -> int:
    """Add the pending entry of one row of a logged table (a name in :data:`LOGGED_TABLES`)
    in the caller's transaction; return the entry's id. ``values`` are the row's column
    values as just written (every column); without them the row is read back through
    ``conn``. Core callers call this after their insert."""
    table = tables.Base.metadata.tables[table_name]
    row = values
    if row is None:
        columns = [table.c.receipt_envelope] if table_name == "referrals" else [table]
        query = sa.select(*columns).where(_pk_column(table) == pk)
        row = conn.execute(query).mappings().one()
    return append_entry(
        conn, LOGGED_TABLES[table_name], canonical_row(table, row), ref=f"{table_name}:{pk}"
    )


def log_submission(
    conn: sa.Connection, referral_pk: int, receipt_envelope: bytes | None = None
) -> int:
    """The entry of the receipt issued for a stored referral (ingestion's one hook); pass the
    receipt envelope's bytes to spare reading them back."""
    values = None if receipt_envelope is None else {"receipt_envelope": receipt_envelope}
    return log_row(conn, "referrals", referral_pk, values=values)


def orm_values(obj: tables.Base) -> dict[str, Any]:
    """A just-flushed ORM row's column values, by column name."""
    mapper = sa.inspect(type(obj))
    return {column.name: getattr(obj, attr.key) for attr in mapper.column_attrs
            for column in attr.columns}  # fmt: skip


_ORM_LOGGED = (tables.StateTransition, tables.OutcomeEvent, tables.Dissemination)


@event.listens_for(Session, "after_flush")
def _log_flushed_rows(session: Session, _context: object) -> None:
    """Lifecycle changes, outcomes and disseminations are added in many places through the
    ORM; each new one gets its entry in the flush that inserts it. (Core inserts call
    :func:`log_row` themselves.)"""
    new = [obj for obj in session.new if isinstance(obj, _ORM_LOGGED)]
    if not new:
        return
    conn = session.connection()
    for obj in sorted(new, key=lambda o: (type(o).__name__, str(o.id))):
        log_row(conn, obj.__tablename__, obj.id, values=orm_values(obj))


# --- Reading the tree ---------------------------------------------------------------------------


class DbHashes:
    """Node hashes of the stored tree: leaf hashes from ``log_entries``, full-tile hashes
    from ``log_tile_hashes``; fetched per tile row and cached."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._rows: dict[tuple[int, int], list[bytes]] = {}

    def level_hashes(self, tile_level: int, start: int, end: int) -> list[bytes]:
        """The hashes at tree level ``8 * tile_level``, positions ``start`` to ``end``."""
        if tile_level == 0:
            entry = tables.LogEntry
            query = (
                sa.select(entry.leaf_hash)
                .where(entry.leaf_index >= start, entry.leaf_index < end)
                .order_by(entry.leaf_index)
            )
        else:
            tile = tables.LogTileHash
            query = (
                sa.select(tile.hash)
                .where(tile.level == tile_level, tile.idx >= start, tile.idx < end)
                .order_by(tile.idx)
            )
        hashes = [bytes(h) for h in self.conn.scalars(query)]
        if len(hashes) != end - start:
            raise RuntimeError("the stored log is missing hashes")
        return hashes

    def node(self, level: int, index: int) -> bytes:
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub
        key = (tile_level, first // TILE_WIDTH)
        cached = self._rows.get(key)
        if cached is None or len(cached) < (first % TILE_WIDTH) + (1 << sub):
            start = key[1] * TILE_WIDTH
            cached = self.level_hashes(tile_level, start, first + (1 << sub))
            self._rows[key] = cached
        offset = first % TILE_WIDTH
        return root_of_complete(cached[offset : offset + (1 << sub)])


def _state(conn: sa.Connection, *, lock: bool) -> tuple[int, bytes]:
    query = sa.select(tables.LogState.size, tables.LogState.root).where(tables.LogState.id == 1)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise RuntimeError("the log_state row is missing: run the migrations")
    return int(row.size), bytes(row.root)


def latest_size(conn: sa.Connection) -> int:
    """The size of the newest signed checkpoint."""
    return _state(conn, lock=False)[0]


def read_tile(conn: sa.Connection, tile: Tile) -> bytes | None:
    """A hash tile's bytes, or ``None`` when the tree has no such tile (yet)."""
    size = latest_size(conn)
    available = size >> (TILE_HEIGHT * tile.level)
    start = tile.index * TILE_WIDTH
    if tile.level > 63 or start + tile.width > available:
        return None
    # A partial tile is a prefix of the tile it grows into, so any width the newest
    # checkpoint covers is served (c2sp.org/tlog-tiles asks for at least the signed ones).
    return b"".join(DbHashes(conn).level_hashes(tile.level, start, start + tile.width))


def read_entries(conn: sa.Connection, index: int, width: int) -> bytes | None:
    """An entry bundle, or ``None`` when the tree has no such bundle (yet)."""
    size = latest_size(conn)
    start = index * TILE_WIDTH
    if start + width > size:
        return None
    entry = tables.LogEntry
    rows = conn.scalars(
        sa.select(entry.data)
        .where(entry.leaf_index >= start, entry.leaf_index < start + width)
        .order_by(entry.leaf_index)
    ).all()
    return entry_bundle([bytes(r) for r in rows])


def lookup(conn: sa.Connection, digest: bytes) -> int | None:
    """The leaf index of the sequenced entry with this leaf hash (within the newest
    checkpoint), or ``None``."""
    entry = tables.LogEntry
    index = conn.scalar(
        sa.select(entry.leaf_index)
        .where(entry.leaf_hash == digest, entry.leaf_index.is_not(None))
        .order_by(entry.leaf_index)
        .limit(1)
    )
    if index is None or index >= latest_size(conn):
        return None
    return int(index)


def checkpoint_note(conn: sa.Connection) -> str | None:
    """The newest checkpoint as a signed note, with the accepted cosignature lines after the
    log's own signature; ``None`` before the first checkpoint."""
    size, _ = _state(conn, lock=False)
    note = conn.scalar(
        sa.select(tables.LogCheckpoint.note).where(tables.LogCheckpoint.size == size)
    )
    if note is None:
        return None
    lines = conn.scalars(
        sa.select(tables.LogCosignature.line)
        .where(tables.LogCosignature.checkpoint_size == size)
        .order_by(tables.LogCosignature.witness)
    ).all()
    return note + "".join(lines)


# --- Sequencing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sequenced:
    """What one sequencer run did."""

    appended: int
    checkpoint: Checkpoint
    note: str


def _store_full_tiles(conn: sa.Connection, hashes: DbHashes, old: int, new: int) -> None:
    """Store the hash of each tile that became full between sizes ``old`` and ``new``,
    level by level (a new level-1 hash can fill a level-1 tile)."""
    level = 0
    while new >> (TILE_HEIGHT * level) >= TILE_WIDTH:
        before = (old >> (TILE_HEIGHT * level)) // TILE_WIDTH
        after = (new >> (TILE_HEIGHT * level)) // TILE_WIDTH
        for n in range(before, after):
            row = hashes.level_hashes(level, n * TILE_WIDTH, (n + 1) * TILE_WIDTH)
            conn.execute(
                sa.insert(_TILE_HASHES).values(level=level + 1, idx=n, hash=root_of_complete(row))
            )
        level += 1


def sequence(
    engine: sa.Engine, signer: NoteSigner, *, limit: int = _SEQUENCE_BATCH
) -> Sequenced | None:
    """Append up to ``limit`` pending entries, oldest first, and sign the new checkpoint.
    ``None`` when nothing was pending. Safe to call from any number of processes at once:
    the log's state row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's single
    writer), so each entry gets exactly one index and every checkpoint extends the last."""
    with engine.begin() as conn:
        size, _root = _state(conn, lock=True)
        entry = tables.LogEntry
        pending = conn.scalars(
            sa.select(entry.id).where(entry.leaf_index.is_(None)).order_by(entry.id).limit(limit)
        ).all()
        if not pending:
            return None
        conn.execute(
            sa.update(_ENTRIES)
            .where(_ENTRIES.c.id == sa.bindparam("entry_id"))
            .values(leaf_index=sa.bindparam("index")),
            [{"entry_id": pk, "index": size + i} for i, pk in enumerate(pending)],
        )
        new_size = size + len(pending)
        hashes = DbHashes(conn)
        _store_full_tiles(conn, hashes, size, new_size)
        root = tree_hash(new_size, DbHashes(conn))
        checkpoint = Checkpoint(signer.name, new_size, root)
        note = sign_note(checkpoint.text(), [signer])
        conn.execute(
            sa.insert(_CHECKPOINTS).values(
                size=new_size, root=root, note=note, created_at=datetime.now(UTC)
            )
        )
        conn.execute(sa.update(_STATE).where(_STATE.c.id == 1).values(size=new_size, root=root))
    logger.info("log sequenced", extra={"event": "log_sequenced", "size": new_size,
                                        "appended": len(pending)})  # fmt: skip
    return Sequenced(len(pending), checkpoint, note)


def sequence_all(engine: sa.Engine, signer: NoteSigner) -> int:
    """Sequence until nothing is pending; return how many entries were appended."""
    total = 0
    while (run := sequence(engine, signer)) is not None:
        total += run.appended
    return total


class SequencerThread(threading.Thread):
    """Runs :func:`sequence` every ``interval`` seconds in a daemon thread (``strive serve``);
    a failed run is logged and retried at the next tick, never ends the thread."""

    def __init__(self, engine: sa.Engine, signer: NoteSigner, interval: float) -> None:
        super().__init__(name="strive-log-sequencer", daemon=True)
        self.engine, self.signer, self.interval = engine, signer, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                sequence_all(self.engine, self.signer)
            except Exception:
                logger.exception("log sequencing failed", extra={"event": "log_sequence_failed"})

    def stop(self) -> None:
        self.stopping.set()


# --- Cosignatures -------------------------------------------------------------------------------


COSIGNATURE_SKEW_SECONDS = 600
"""How far a cosignature's timestamp may be from the receiver's clock (either way)."""


def add_cosignature(
    conn: sa.Connection,
    note: str | bytes,
    witnesses: Sequence[NoteVerifier],
    log: NoteVerifier,
    *,
    sender: str,
    now: datetime | None = None,
) -> list[str]:
    """Accept a cosigned checkpoint from the authenticated witness ``sender``: the note's
    text must be a checkpoint this log signed, and every signature line not the log's own
    must be ``sender``'s valid ``cosignature/v1`` with a timestamp within
    :data:`COSIGNATURE_SKEW_SECONDS` of ``now``. A stored line of that witness and key is
    replaced only by a newer one, so an old line cannot roll a newer one back. Returns the
    names of the witnesses whose lines were stored.

    Raises:
        LogError: ``log_checkpoint_malformed``; ``log_checkpoint_unknown`` (not a checkpoint
            this log signed); ``log_cosigner_unknown`` (a line from an unconfigured key, or
            another witness's); ``log_cosignature_invalid`` (a witness line that does not
            verify, out of the skew, or none).
    """
    parsed = parse_note(note)
    checkpoint = parse_checkpoint(parsed.text)
    stored = conn.scalar(
        sa.select(tables.LogCheckpoint.note).where(tables.LogCheckpoint.size == checkpoint.size)
    )
    if stored is None or parse_note(stored).text != parsed.text:
        raise LogError(LogCode.CHECKPOINT_UNKNOWN, "this log never signed that checkpoint")
    current = int((now or datetime.now(UTC)).timestamp())
    known = {(w.name, w.key_id): w for w in witnesses}
    accepted: dict[tuple[str, int], tuple[int, str]] = {}
    for signature in parsed.signatures:
        signer = (signature.name, signature.key_id)
        if signer == (log.name, log.key_id):
            continue
        witness = known.get(signer)
        if witness is None or witness.name != sender:
            raise LogError(LogCode.COSIGNER_UNKNOWN, f"{signature.name} may not cosign here")
        if signer in accepted:
            raise LogError(LogCode.CHECKPOINT_MALFORMED, f"{signature.name} signed twice")
        if witness.alg != ALG_COSIGNATURE_V1 or not witness.verify(
            parsed.text, signature.signature
        ):
            raise LogError(LogCode.COSIGNATURE_INVALID, f"{signature.name}'s line does not verify")
        signed_at = int.from_bytes(signature.signature[:8], "big")
        if abs(signed_at - current) > COSIGNATURE_SKEW_SECONDS:
            detail = f"the cosignature's time is not within {COSIGNATURE_SKEW_SECONDS} s of now"
            raise LogError(LogCode.COSIGNATURE_INVALID, detail)
        accepted[signer] = (signed_at, signature.line)
    if not accepted:
        raise LogError(LogCode.COSIGNATURE_INVALID, "no cosignature in the note")
    cosignature = _COSIGNATURES
    for (name, key), (signed_at, line) in accepted.items():
        same = (
            (cosignature.c.checkpoint_size == checkpoint.size)
            & (cosignature.c.witness == name)
            & (cosignature.c.key_id == key)
        )
        previous = conn.scalar(sa.select(cosignature.c.signed_at).where(same))
        if previous is not None and previous >= signed_at:
            continue  # the stored line is as new or newer: keep it
        conn.execute(sa.delete(cosignature).where(same))
        conn.execute(
            sa.insert(cosignature).values(
                checkpoint_size=checkpoint.size, witness=name, key_id=key,
                signed_at=signed_at, line=line, received_at=datetime.now(UTC),
            )
        )  # fmt: skip
    return [name for name, _ in accepted]


# --- Checking the database against the log ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One disagreement between the database and the log."""

    problem: str
    """``row_deleted`` (an entry's row is gone), ``row_altered`` (its row no longer hashes
    to the entry), ``row_not_logged`` (a row has no entry), ``entry_altered`` (an entry's
    leaf hash is not the hash of its bytes), ``tile_altered`` (stored hashes do not give
    the signed root), ``entry_deleted``, ``checkpoint_invalid`` (a stored checkpoint not
    signed by the log's key, or the state not the newest checkpoint) and
    ``checkpoint_inconsistent`` (a checkpoint the one before does not extend); for the
    last two ``leaf_index`` is the checkpoint's size."""
    ref: str
    leaf_index: int | None

    def __str__(self) -> str:
        where = "pending" if self.leaf_index is None else f"leaf {self.leaf_index}"
        return f"{self.problem}: {self.ref} ({where})"


def _check_checkpoints(conn: sa.Connection, log_key: NoteVerifier) -> list[Mismatch]:
    """Every stored checkpoint is signed by ``log_key`` for its origin and names the root
    stored beside it; each successive pair is consistent (a consistency proof from the
    stored hashes verifies); the newest is the log's state (whose root the caller checks
    against the tiles)."""
    mismatches: list[Mismatch] = []
    hashes = DbHashes(conn)
    previous: Checkpoint | None = None
    rows = conn.execute(
        sa.select(
            tables.LogCheckpoint.size, tables.LogCheckpoint.root, tables.LogCheckpoint.note
        ).order_by(tables.LogCheckpoint.size)
    )
    for size, root, note in rows:
        try:
            checkpoint = parse_checkpoint(open_note(note, [log_key]).text)
        except LogError:
            mismatches.append(Mismatch("checkpoint_invalid", "checkpoint", int(size)))
            continue
        if (checkpoint.origin, checkpoint.size, checkpoint.root) != (
            log_key.name,
            int(size),
            bytes(root),
        ):
            mismatches.append(Mismatch("checkpoint_invalid", "checkpoint", int(size)))
            continue
        if previous is not None and previous.size:
            try:
                proof = consistency_proof(previous.size, checkpoint.size, hashes)
                verify_consistency(
                    previous.size, checkpoint.size, previous.root, checkpoint.root, proof
                )
            except (LogError, RuntimeError):
                mismatches.append(Mismatch("checkpoint_inconsistent", "checkpoint", int(size)))
        previous = checkpoint
    # The tiles are checked against log_state by the caller (tile_altered); the state must
    # be the newest signed checkpoint, so that check covers the newest checkpoint's root.
    state_size, state_root = _state(conn, lock=False)
    newest = None if previous is None else (previous.size, previous.root)
    if state_size and newest != (state_size, state_root):
        mismatches.append(Mismatch("checkpoint_invalid", "log_state", state_size))
    return mismatches


def check_database(conn: sa.Connection, log_key: NoteVerifier | None = None) -> list[Mismatch]:
    """Every row of a logged table has an entry and every entry's row is there and still
    hashes to it; the stored hashes give the newest checkpoint's root. With ``log_key``,
    also every stored checkpoint (see :func:`_check_checkpoints`). Rows are read in pages,
    so the check runs in bounded memory for the entries' salts and references."""
    mismatches: list[Mismatch] = []
    entry = tables.LogEntry
    seen: dict[str, set[str]] = {name: set() for name in LOGGED_TABLES}
    metadata = tables.Base.metadata
    for kind_table, kind in LOGGED_TABLES.items():
        table = metadata.tables[kind_table]
        prefix = f"{kind_table}:"
        entries = conn.execute(
            sa.select(entry.ref, entry.salt, entry.data, entry.leaf_hash, entry.leaf_index)
            .where(entry.ref.like(prefix + "%"))
            .order_by(entry.id)
        ).all()
        pk_column = _pk_column(table)
        for stored_ref, salt, data, digest, index in entries:
            ref = str(stored_ref)
            key = ref[len(prefix) :]
            seen[kind_table].add(key)
            if leaf_hash(bytes(data)) != bytes(digest):
                mismatches.append(Mismatch("entry_altered", ref, index))
                continue
            pk: object = int(key) if isinstance(pk_column.type, sa.Integer) else key
            row = conn.execute(sa.select(table).where(pk_column == pk)).mappings().one_or_none()
            if row is None:
                mismatches.append(Mismatch("row_deleted", ref, index))
                continue
            content = canonical_row(table, row)
            if kind == "receipt":
                expected = entry_data(kind, hashlib.sha256(content).digest())
            else:
                expected = entry_data("record", record_digest(kind, bytes(salt), content))
            if expected != bytes(data):
                mismatches.append(Mismatch("row_altered", ref, index))
        for pk_value in conn.scalars(sa.select(pk_column).order_by(pk_column)):
            if str(pk_value) not in seen[kind_table]:
                mismatches.append(Mismatch("row_not_logged", f"{prefix}{pk_value}", None))
    size, root = _state(conn, lock=False)
    try:
        if size and tree_hash(size, DbHashes(conn)) != root:
            mismatches.append(Mismatch("tile_altered", "log", size))
    except RuntimeError:  # sequenced entries or tile hashes deleted from the log's tables
        mismatches.append(Mismatch("entry_deleted", "log", size))
    if log_key is not None:
        mismatches.extend(_check_checkpoints(conn, log_key))
    return mismatches


def wait_for_inclusion(engine: sa.Engine, entry_id: int, timeout: float) -> int | None:
    """Poll until entry ``entry_id`` has a leaf index within a checkpoint (benchmarks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            index = conn.scalar(
                sa.select(tables.LogEntry.leaf_index).where(tables.LogEntry.id == entry_id)
            )
            if index is not None and index < latest_size(conn):
                return int(index)
        time.sleep(0.005)
    return None


def entries_of(conn: sa.Connection, refs: Iterable[str]) -> dict[str, int | None]:
    """The leaf index (or ``None`` while pending) of each referenced row's entry."""
    wanted = list(refs)
    rows = conn.execute(
        sa.select(tables.LogEntry.ref, tables.LogEntry.leaf_index).where(
            tables.LogEntry.ref.in_(wanted)
        )
    ).all()
    return {str(ref): index for ref, index in rows}
