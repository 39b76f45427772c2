"""Registered ASWs and their public keys, cached in each process.

Every submission needs the claimed ASW and its keys; reading and parsing them per request was
a large share of the request path. They change rarely (an ASW registered, a key added,
retired or revoked), and every change raises ``cache_versions.version`` for ``asw_keys`` in the same
transaction (database triggers on ``asws`` and ``asw_keys``: migration 0009), whoever makes
it. So a process verifies against its cached snapshot outside any transaction, and the store
transaction reads the version (one primary-key read): if it moved, the snapshot is reloaded
and the submission verified again. A key retired or revoked by another process is therefore
refused by every process from the moment the change commits.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from strive_schema.key_validity import KeyValidity
from strive_schema.keys import PublicKey
from strive_server.db import tables

__all__ = ["CachedKey", "KeySnapshot", "current_version", "snapshot"]

CACHE_NAME = "asw_keys"


@dataclass(frozen=True, slots=True)
class CachedKey:
    key_id: str
    asw_id: str
    public_key: PublicKey
    validity: KeyValidity
    """Its lifecycle (spec/protocol.md, "Key lifecycle"), judged by ingestion."""


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """The ASWs and keys as of ``version``."""

    version: int
    asws: frozenset[str]
    keys: dict[str, tuple[CachedKey, ...]]
    owners: dict[str, str]


_VERSION = sa.select(tables.CacheVersion.version).where(tables.CacheVersion.name == CACHE_NAME)
_ASWS = sa.select(tables.Asw.id)
_KEYS = sa.select(
    tables.AswKey.key_id, tables.AswKey.asw_id, tables.AswKey.public_jwk,
    tables.AswKey.revoked_at, tables.AswKey.not_before, tables.AswKey.not_after,
    tables.AswKey.retired_at, tables.AswKey.compromised_at,
).order_by(tables.AswKey.asw_id, tables.AswKey.key_id)  # fmt: skip

_SNAPSHOTS: weakref.WeakKeyDictionary[Engine, KeySnapshot] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


_VERSION_SHARED = _VERSION.with_for_update(read=True)


def current_version(connection: Connection) -> int:
    """The version in the database, read in the caller's transaction. On PostgreSQL the row
    is share-locked, so a revocation (whose trigger updates it) commits either before this
    transaction reads it or after this transaction ends, never in between; SQLite's one
    writer orders them anyway."""
    return int(connection.execute(_VERSION_SHARED).scalar_one())


def _load(connection: Connection) -> KeySnapshot:
    version = current_version(connection)
    asws = frozenset(connection.execute(_ASWS).scalars())
    keys: dict[str, list[CachedKey]] = {}
    owners: dict[str, str] = {}
    for row in connection.execute(_KEYS):
        cached = CachedKey(
            row.key_id, row.asw_id, PublicKey.from_jwk(row.public_jwk), tables.validity_of(row)
        )
        keys.setdefault(row.asw_id, []).append(cached)
        owners[row.key_id] = row.asw_id
    return KeySnapshot(version, asws, {a: tuple(k) for a, k in keys.items()}, owners)


def snapshot(
    engine: Engine,
    *,
    refresh_from: Connection | None = None,
    guard: AbstractContextManager[object] | None = None,
) -> KeySnapshot:
    """The process's snapshot for ``engine``, loaded on first use (in a transaction of its
    own, under ``guard``: see ``db.engine.write_guard``). With ``refresh_from`` (an open
    transaction), reload it there when its version moved."""
    cached = _SNAPSHOTS.get(engine)
    if refresh_from is not None:
        if cached is None or current_version(refresh_from) != cached.version:
            cached = _load(refresh_from)
            with _LOCK:
                _SNAPSHOTS[engine] = cached
        return cached
    if cached is None:
        with guard or nullcontext(), engine.connect() as connection:
            cached = _load(connection)
        with _LOCK:
            _SNAPSHOTS[engine] = cached
    return cached
