"""The transparency log's costs (spec/transparency-log.md).

1. Proofs at 1M synthetic entries: inclusion and consistency proof size and verification
   time, and what a client fetches (tiles) to check one receipt.
2. Sequencing throughput: pending entries appended, tiles stored and checkpoint signed per
   second, in batches, on SQLite (and PostgreSQL with --postgres URL).
3. Receipt-to-inclusion latency: from an entry's commit to its leaf index being in a signed
   checkpoint, with the sequencer thread of ``strive serve`` running every --interval seconds.
4. Extra cost per ingest: the in-process ingest path with the log hooks against the same
   path with them disabled (target: under 5%).

    .venv/bin/python bench/tlog_bench.py [--entries 1000000] [--sequence 20000]
        [--ingest 300] [--interval 1.0] [--postgres URL]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_bench import RECEIVER, envelopes, prepare_database

from strive_schema.tlog import (
    MemoryHashes,
    Tile,
    TileHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from strive_server.core.config import Settings
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import audit, tlog
from strive_server.services.ingestion import ingest_envelope


def proofs(entries: int, samples: int) -> None:
    started = time.perf_counter()
    leaves = [leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(entries)]
    memory = MemoryHashes(leaves)
    root = tree_hash(entries, memory)
    print(f"built a {entries:,}-entry tree in {time.perf_counter() - started:.1f} s")
    rng = random.Random(1)
    sizes, times = [], []
    for _ in range(samples):
        index = rng.randrange(entries)
        proof = inclusion_proof(index, entries, memory)
        begin = time.perf_counter()
        verify_inclusion(index, entries, leaves[index], proof, root)
        times.append(time.perf_counter() - begin)
        sizes.append(len(proof) * 32)
    print(f"inclusion proof at {entries:,}: {statistics.mean(sizes):.0f} bytes "
          f"({max(sizes) // 32} hashes max), verify {statistics.median(times) * 1e6:.0f} us median")  # fmt: skip
    sizes, times = [], []
    for _ in range(samples):
        old = rng.randrange(1, entries)
        proof = consistency_proof(old, entries, memory)
        old_root = tree_hash(old, memory)
        begin = time.perf_counter()
        verify_consistency(old, entries, old_root, root, proof)
        times.append(time.perf_counter() - begin)
        sizes.append(len(proof) * 32)
    print(f"consistency proof to {entries:,}: {statistics.mean(sizes):.0f} bytes, "
          f"verify {statistics.median(times) * 1e6:.0f} us median")  # fmt: skip
    fetched: list[Tile] = []

    def fetch(tile: Tile) -> bytes:
        fetched.append(tile)
        level = tile.level * 8
        return b"".join(memory.node(level, tile.index * 256 + i) for i in range(tile.width))

    index = rng.randrange(entries)
    tiles = TileHashes(entries, fetch)
    begin = time.perf_counter()
    assert tree_hash(entries, tiles) == root
    proof = inclusion_proof(index, entries, tiles)
    verify_inclusion(index, entries, leaves[index], proof, root)
    elapsed = time.perf_counter() - begin
    print(f"a client checking one receipt at {entries:,} from tiles: {len(fetched)} tiles, "
          f"{sum(t.width for t in fetched) * 32:,} bytes, {elapsed * 1e3:.1f} ms of hashing")  # fmt: skip


@contextmanager
def database(postgres: str | None) -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory() as scratch:
        if postgres is None:
            yield f"sqlite:///{Path(scratch) / 'bench.db'}", Path(scratch)
            return
        import sqlalchemy as sa

        name = f"strive_tlog_bench_{int(time.time())}"
        admin_engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = sa.make_url(postgres).set(database=name).render_as_string(hide_password=False)
            yield url, Path(scratch)
        finally:
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin_engine.dispose()


def sequencing(url: str, scratch: Path, count: int, interval: float) -> None:
    settings = Settings(database_url=url, signing_key_file=scratch / "receiver.pem")
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        for i in range(count):
            tlog.append_entry(conn, "audit", f"bench {i}".encode())
    begin = time.perf_counter()
    appended = tlog.sequence_all(engine, settings.log_signer)
    elapsed = time.perf_counter() - begin
    print(f"sequencing ({engine.dialect.name}): {appended:,} pending entries in "
          f"{elapsed:.2f} s = {appended / elapsed:,.0f} entries/s (batches of 10,000)")  # fmt: skip
    sequencer = tlog.SequencerThread(engine, settings.log_signer, interval)
    sequencer.start()
    latencies = []
    try:
        for _ in range(20):
            with engine.begin() as conn:
                entry_id = tlog.append_entry(conn, "audit", b"latency probe")
            committed = time.perf_counter()
            index = tlog.wait_for_inclusion(engine, entry_id, timeout=30)
            assert index is not None
            latencies.append(time.perf_counter() - committed)
            time.sleep(random.random() * interval)
    finally:
        sequencer.stop()
        sequencer.join(timeout=10)
    print(f"commit to inclusion with the sequencer every {interval} s: median "
          f"{statistics.median(latencies) * 1e3:.0f} ms, max {max(latencies) * 1e3:.0f} ms")  # fmt: skip
    engine.dispose()


def ingest_cost(url: str, scratch: Path, count: int, rounds: int = 4) -> None:
    def run(label: str, database_url: str, seed: int) -> float:
        keys = prepare_database(database_url, ("bench-asw-a", "bench-asw-b", "bench-asw-c"))
        items = envelopes(count, keys, seed)
        settings = Settings(database_url=database_url, receiver_id=RECEIVER,
                            signing_key_file=scratch / "receiver.pem", rate_limit_per_minute=10**9)  # fmt: skip
        engine = make_engine(database_url)
        sessions = make_sessionmaker(engine)
        begin, cpu = time.perf_counter(), time.process_time()
        for asw, raw in items:
            ingest_envelope(sessions=sessions, settings=settings, raw=raw, claimed_asw=asw,
                            now=datetime.now(UTC))  # fmt: skip
        elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
        engine.dispose()
        print(f"  {label}: {count} referrals in {elapsed:.2f} s ({elapsed / count * 1e3:.2f} ms "
              f"each, {cpu / count * 1e3:.2f} ms CPU)")  # fmt: skip
        return cpu

    original: Callable[..., Any] = tlog.log_row

    def hooks(enabled: bool) -> None:
        replacement = original if enabled else (lambda *_a, **_k: 0)
        tlog.log_row = replacement  # type: ignore[assignment]
        audit.log_row = replacement  # type: ignore[assignment]

    run("warm-up (discarded)", url.replace("bench.db", "warm.db"), 2)
    timings: dict[bool, list[float]] = {True: [], False: []}
    try:
        for round_ in range(rounds):  # alternate, so drift and caches hit both alike
            for enabled in (False, True) if round_ % 2 == 0 else (True, False):
                hooks(enabled)
                label = "with the log hooks" if enabled else "hooks disabled"
                name = f"r{round_}-{'with' if enabled else 'without'}.db"
                timings[enabled].append(run(label, url.replace("bench.db", name), 1))
    finally:
        hooks(True)
    with_log, without = min(timings[True]), min(timings[False])
    print(f"extra CPU per ingest (best of {rounds} each): "
          f"{(with_log - without) / without * 100:+.1f}% "
          f"({(with_log - without) / count * 1e3:+.2f} ms per referral)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sequence", type=int, default=20_000)
    parser.add_argument("--ingest", type=int, default=300)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--postgres", default=None, help="Also measure on this PostgreSQL.")
    args = parser.parse_args()
    print("command: .venv/bin/python bench/tlog_bench.py " + " ".join(sys.argv[1:]))
    proofs(args.entries, args.samples)
    for postgres in (None, args.postgres) if args.postgres else (None,):
        with database(postgres) as (url, scratch):
            sequencing(url, scratch, args.sequence, args.interval)
    if args.ingest:
        with database(None) as (url, scratch):
            ingest_cost(url, scratch, args.ingest)


if __name__ == "__main__":
    main()
