"""Signed referrals per second, end to end over HTTP, beside the in-process floor.

For each database (SQLite file; PostgreSQL if ``--postgres URL`` or STRIVE_TEST_POSTGRES_URL is
given) and each worker count (1 and 2):

* **floor**: the same work without HTTP, in this process: verify the envelope, validate the
  referral, store it (``strive_server.services.ingestion.ingest_envelope``), one at a time;
* **HTTP**: ``strive serve --workers N`` in a subprocess, and a lean load generator (asyncio,
  raw HTTP/1.1 on keep-alive connections, requests built before the clock starts) sending
  pre-signed envelopes of realistic 10-15 KB referrals.

It prints referrals per second, median and 99th-percentile latency, the HTTP/floor ratio and
the exact commands behind the figures. The machine has 2 cores: the load generator shares
them with the server, so the 2-worker figures are a lower bound.

    .venv/bin/python bench/server_bench.py --count 1500 [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import generate_referrals

from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.keys import SigningKey
from strive_server.core.config import Settings
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin
from strive_server.services.audit import Actor
from strive_server.services.ingestion import ingest_envelope

STRIVE = str(Path(sys.executable).parent / "strive")
RECEIVER = "bench.receiver"


@dataclass
class Figures:
    label: str
    count: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self) -> str:
        ordered = sorted(self.latencies)
        median = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000
        return (
            f"{self.label:<34} {self.rate:8.1f} referrals/s   median {median:7.1f} ms   "
            f"p99 {p99:7.1f} ms   ({self.count} referrals, {self.errors} errors)"
        )


def envelopes(count: int, keys: dict[str, SigningKey], seed: int) -> list[tuple[str, bytes]]:
    """Sign ``count`` synthetic referrals (fresh ids, dated now) for the registered ASWs."""
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    signed = []
    for document in generate_referrals(count, seed=seed, asw_ids=tuple(keys)):
        document["referral_id"] = str(uuid.uuid4())
        document["created_at"] = stamp
        asw = document["reporter"]["organisation_id"]
        payload = build_submission(document, asw_id=asw, audience=RECEIVER, issued_at=now)
        signed.append((asw, sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [keys[asw]]).to_json()))
    return signed


def prepare_database(url: str, asw_ids: Sequence[str]) -> dict[str, SigningKey]:
    engine = make_engine(url)
    migrate(engine)
    keys = {asw: SigningKey.generate() for asw in asw_ids}
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        for asw, key in keys.items():
            admin.register_asw(
                session,
                asw_id=asw,
                name=asw,
                public_key=key.public_key,
                actor=Actor("admin", "bench"),
            )
    engine.dispose()
    return keys


def floor(url: str, key_file: Path, count: int, seed: int) -> Figures:
    keys = prepare_database(url, ("bench-asw-a", "bench-asw-b", "bench-asw-c"))
    items = envelopes(count, keys, seed)
    settings = Settings(
        database_url=url, receiver_id=RECEIVER, signing_key_file=key_file,
        rate_limit_per_minute=10**9,
    )  # fmt: skip
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    latencies = []
    started = time.perf_counter()
    for asw, raw in items:
        begin = time.perf_counter()
        ingest_envelope(
            sessions=sessions, settings=settings, raw=raw, claimed_asw=asw, now=datetime.now(UTC)
        )
        latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return Figures("in-process floor (no HTTP)", count, elapsed, latencies, 0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def load(
    port: int, items: list[tuple[str, bytes]], concurrency: int
) -> tuple[float, list[float], int]:
    """Send every item once over ``concurrency`` keep-alive connections; return wall time,
    latencies and the number of non-201 answers."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            asw, body = queue.get_nowait()
            request = (
                f"POST /v1/referrals HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/vnd.dsse.envelope.v1+json\r\n"
                f"Strive-Asw-Id: {asw}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            begin = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - begin)
            if b" 201 " not in status_line:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def over_http(
    url: str, workdir: Path, workers: int, count: int, seed: int, concurrency: int
) -> tuple[Figures, str]:
    keys = prepare_database(url, ("bench-asw-a", "bench-asw-b", "bench-asw-c"))
    port = free_port()
    env = dict(
        os.environ,
        STRIVE_DATABASE_URL=url,
        STRIVE_RECEIVER_ID=RECEIVER,
        STRIVE_SIGNING_KEY_FILE=str(workdir / "receiver.pem"),
        STRIVE_RATE_LIMIT_PER_MINUTE=str(10**9),
        STRIVE_LOG_LEVEL="WARNING",
    )
    command = [STRIVE, "serve", "--port", str(port), "--workers", str(workers)]
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                log.flush()
                raise RuntimeError(
                    "strive serve did not start: " + (workdir / "server.log").read_text()[-2000:]
                )
            time.sleep(0.1)
        items = envelopes(count, keys, seed)
        try:
            elapsed, latencies, errors = asyncio.run(load(port, items, concurrency))
        except ConnectionError:
            log.flush()
            print((workdir / "server.log").read_text()[-3000:], file=sys.stderr)
            raise
    finally:
        log.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    label = f"HTTP, {workers} worker{'s' if workers > 1 else ''}, {concurrency} connections"
    shown = f"STRIVE_DATABASE_URL=... {' '.join(command[1:])}"
    return Figures(label, count, elapsed, latencies, errors), shown


def fresh_postgres(base: str) -> tuple[str, sa.Engine]:
    name = f"strive_bench_{uuid.uuid4().hex[:10]}"
    admin_engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return sa.make_url(base).set(database=name).render_as_string(hide_password=False), admin_engine


def drop_postgres(url: str, admin_engine: sa.Engine) -> None:
    name = sa.make_url(url).database
    with admin_engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1500, help="referrals per measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", default=os.environ.get("STRIVE_TEST_POSTGRES_URL"))
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args(argv)
    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"# {os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.count} referrals of 10-15 KB per line\n"
    )
    databases = [
        d for d in ["sqlite"] + (["postgresql"] if args.postgres else []) if args.only in (None, d)
    ]
    for database in databases:
        print(f"## {database}")
        floor_figures = None
        for run in ("floor", 1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                if database == "sqlite":
                    url, admin_engine = f"sqlite:///{workdir / 'bench.db'}", None
                else:
                    url, admin_engine = fresh_postgres(args.postgres)
                try:
                    if run == "floor":
                        floor_figures = floor(url, workdir / "receiver.pem", args.count, args.seed)
                        print(floor_figures.line())
                    else:
                        figures, command = over_http(
                            url, workdir, int(run), args.count, args.seed, args.concurrency
                        )
                        ratio = figures.rate / floor_figures.rate if floor_figures else float("nan")
                        print(f"{figures.line()}   HTTP/floor {ratio:4.2f}")
                        print(f"    server: {command}")
                finally:
                    if admin_engine is not None:
                        drop_postgres(url, admin_engine)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
