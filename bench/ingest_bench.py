"""The ingest path beside its essential floor and beside a peer, interleaved in one run.

Each round measures, one after the other (so a busy box slows them all alike):

* **floor**: the essential work of accepting a referral, in this process: parse the envelope,
  verify Ed25519, validate the referral with pydantic, insert the envelope bytes and commit
  (SQLite, WAL, synchronous=FULL, one commit per referral);
* **ingest**: the full in-process request path (``ingestion.ingest_envelope``) into a warm
  database of ``--warm`` referrals, CPU per referral; then the linking worker's CPU per
  referral to link what was stored (``linkworker.drain``);
* **HTTP single**: ``strive serve`` (1 and 2 workers) on a copy of the warm database, and a
  load generator in its own process (pre-signed envelopes, raw HTTP/1.1 keep-alive, 8
  connections) posting one referral per request; referrals/s, median and p99 latency;
* **HTTP batch**: the same server, NDJSON batches of ``--batch`` referrals, 2 connections;
* **medallion** (the OASIS TAXII 2.1 reference server, memory backend, no signatures, no
  validation): the same load generator posting STIX bundles of the same size as a referral
  envelope, into a store of ``--medallion-store`` bundles and into an empty store (restarted
  every ``--restart-every`` POSTs: its fastest). medallion is installed into its own virtual
  environment (``--medallion-venv``), never into the project's.

It prints min/median/max over the rounds and the ratios the issue sets targets for.

    .venv/bin/python bench/ingest_bench.py [--rounds 3] [--count 200] [--warm 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import generate_referrals

from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from strive_schema.keys import SigningKey
from strive_schema.models import Referral as ReferralModel
from strive_server.core.config import Settings
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin
from strive_server.services.audit import Actor
from strive_server.services.ingestion import ingest_envelope

try:  # the linking worker (absent before linking left the request path)
    from strive_server.services.linkworker import drain
except ImportError:  # pragma: no cover - measuring an older checkout
    drain = None  # type: ignore[assignment]

STRIVE = str(Path(sys.executable).parent / "strive")
RECEIVER = "bench.receiver"
ASWS = ("bench-asw-a", "bench-asw-b", "bench-asw-c")
CACHE = Path(tempfile.gettempdir()) / "strive-ingest-bench"
MEDALLION_VENV = CACHE / "medallion-venv"


# --- signed inputs -------------------------------------------------------------------------


def sign_all(
    documents: Sequence[dict[str, Any]], keys: dict[str, SigningKey]
) -> list[tuple[str, bytes]]:
    """Give each referral a fresh id, date it now and sign it for its ASW."""
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    signed = []
    for original in documents:
        document = dict(original, referral_id=str(uuid.uuid4()), created_at=stamp)
        asw = document["reporter"]["organisation_id"]
        payload = build_submission(document, asw_id=asw, audience=RECEIVER, issued_at=now)
        signed.append((asw, sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [keys[asw]]).to_json()))
    return signed


class Corpus:
    """Synthetic referrals dealt out in order, so no two measurements send the same one."""

    def __init__(self, total: int, seed: int) -> None:
        self._documents = list(generate_referrals(total, seed=seed, asw_ids=ASWS))
        self._next = 0

    def take(self, count: int) -> list[dict[str, Any]]:
        if self._next + count > len(self._documents):
            self._next = 0
        taken = self._documents[self._next : self._next + count]
        self._next += count
        return taken


# --- the warm database ---------------------------------------------------------------------


def settings_for(url: str, workdir: Path) -> Settings:
    return Settings(
        database_url=url, receiver_id=RECEIVER, signing_key_file=workdir / "receiver.pem",
        rate_limit_per_minute=10**9, refused_submission_limit_per_minute=10**9,
    )  # fmt: skip


def warm_database(warm: int, seed: int) -> tuple[Path, dict[str, SigningKey]]:
    """A SQLite database holding ``warm`` linked referrals, built once and cached (the
    template is copied for each measurement)."""
    CACHE.mkdir(exist_ok=True)
    # The schema's newest migration names the template: a checkout with another schema
    # builds its own.
    migrations = Path(migrate.__code__.co_filename).parent.parent / "migrations" / "versions"
    head = max(path.name[:4] for path in migrations.glob("0*.py"))
    template = CACHE / f"warm-{warm}-{seed}-{head}.db"
    keys_file = template.with_suffix(".keys")
    if template.exists() and keys_file.exists():
        pems = pickle.loads(keys_file.read_bytes())
        return template, {asw: SigningKey.from_pem(pem) for asw, pem in pems.items()}
    print(f"# building the warm database of {warm} referrals (cached in {CACHE})", flush=True)
    building = template.with_suffix(".building")
    building.unlink(missing_ok=True)
    url = f"sqlite:///{building}"
    engine = make_engine(url)
    migrate(engine)
    keys = {asw: SigningKey.generate() for asw in ASWS}
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        for asw, key in keys.items():
            admin.register_asw(session, asw_id=asw, name=asw, public_key=key.public_key,
                               actor=Actor("admin", "bench"))  # fmt: skip
    settings = settings_for(url, CACHE)
    documents = list(generate_referrals(warm, seed=seed + 1000, asw_ids=ASWS))
    for start in range(0, warm, 500):
        for asw, raw in sign_all(documents[start : start + 500], keys):
            ingest_envelope(sessions=sessions, settings=settings, raw=raw, claimed_asw=asw,
                            now=datetime.now(UTC))  # fmt: skip
        if drain is not None:
            drain(sessions, threshold=settings.over_correlation_threshold)
    engine.dispose()
    building.rename(template)
    keys_file.write_bytes(pickle.dumps({asw: key.to_pem() for asw, key in keys.items()}))
    return template, keys


def copy_database(template: Path, workdir: Path) -> str:
    target = workdir / "strive.db"
    for suffix in ("", "-wal", "-shm"):
        (workdir / f"strive.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


# --- figures -------------------------------------------------------------------------------


@dataclass
class Series:
    """One figure measured once per round."""

    label: str
    unit: str
    values: list[float] = field(default_factory=list)

    def line(self) -> str:
        if not self.values:
            return f"{self.label:<52} (not measured)"
        low, mid, high = min(self.values), statistics.median(self.values), max(self.values)
        return f"{self.label:<52} {mid:9.2f} {self.unit:<13} (min {low:.2f}, max {high:.2f})"

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else 0.0


# --- in-process measurements ---------------------------------------------------------------


def measure_floor(
    items: list[tuple[str, bytes]], keys: dict[str, SigningKey], workdir: Path
) -> float:
    """CPU ms per referral of the essential work (see the module docstring)."""
    engine = make_engine(f"sqlite:///{workdir / 'floor.db'}")
    table = sa.Table(
        "floor", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("envelope", sa.LargeBinary),
    )  # fmt: skip
    table.metadata.create_all(engine)
    public = {asw: [key.public_key] for asw, key in keys.items()}
    insert = table.insert()
    with engine.connect() as connection:
        started = time.process_time()
        for asw, raw in items:
            envelope = parse_envelope(raw)
            verified = verify_envelope(envelope, public[asw], payload_type=SUBMISSION_PAYLOAD_TYPE)
            ReferralModel.model_validate(json.loads(verified.payload)["referral"])
            connection.execute(insert, {"envelope": raw})
            connection.commit()
        elapsed = time.process_time() - started
    engine.dispose()
    return elapsed * 1000 / len(items)


def measure_ingest(
    items: list[tuple[str, bytes]], template: Path, workdir: Path
) -> tuple[float, float]:
    """CPU ms per referral of the full request path, then of linking what it stored."""
    url = copy_database(template, workdir)
    settings = settings_for(url, workdir)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    # One warm-up ingest: connection pool, statement caches.
    warm_asw, warm_raw = items[0]
    ingest_envelope(sessions=sessions, settings=settings, raw=warm_raw, claimed_asw=warm_asw,
                    now=datetime.now(UTC))  # fmt: skip
    started = time.process_time()
    for asw, raw in items[1:]:
        ingest_envelope(sessions=sessions, settings=settings, raw=raw, claimed_asw=asw,
                        now=datetime.now(UTC))  # fmt: skip
    request_path = (time.process_time() - started) * 1000 / (len(items) - 1)
    linking = float("nan")
    if drain is not None:
        started = time.process_time()
        linked = drain(sessions, threshold=settings.over_correlation_threshold)
        linking = (time.process_time() - started) * 1000 / max(1, linked)
    engine.dispose()
    return request_path, linking


# --- HTTP ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, path: str = "/readyz",
               auth: tuple[str, str] | None = None) -> None:  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + path, timeout=1, auth=auth).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def run_loadgen(requests: list[tuple[str, dict[str, str], bytes]], port: int, connections: int,
                workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Send ``requests`` (path, headers, body) from a load generator in its own process."""
    job = workdir / f"load-{uuid.uuid4().hex[:8]}.pickle"
    job.write_bytes(pickle.dumps({"port": port, "connections": connections, "requests": requests}))
    done = subprocess.run(
        [sys.executable, __file__, "--loadgen", str(job)], capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    job.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def _load(port: int, connections: int, requests: list[tuple[str, dict[str, str], bytes]]
                ) -> dict[str, Any]:  # fmt: skip
    queue: asyncio.Queue[tuple[str, dict[str, str], bytes]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            path, headers, body = queue.get_nowait()
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            request = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            begin = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = None
            close = status_line.startswith(b"HTTP/1.0")
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    close = True
            if length is None:
                await reader.read()  # no length: the body ends with the connection
                close = True
            else:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - begin)
            status = status_line.split(b" ")[1].decode() if b" " in status_line else "none"
            statuses[status] = statuses.get(status, 0) + 1
            if close:  # a server without keep-alive (medallion's development server)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return {"seconds": time.perf_counter() - started, "latencies": latencies, "statuses": statuses}


def loadgen_main(job: Path) -> int:
    spec = pickle.loads(job.read_bytes())
    print(json.dumps(asyncio.run(_load(spec["port"], spec["connections"], spec["requests"]))))
    return 0


def serve(url: str, workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(
        os.environ, STRIVE_DATABASE_URL=url, STRIVE_RECEIVER_ID=RECEIVER,
        STRIVE_SIGNING_KEY_FILE=str(workdir / "receiver.pem"),
        STRIVE_RATE_LIMIT_PER_MINUTE=str(10**9),
        STRIVE_REFUSED_SUBMISSION_LIMIT_PER_MINUTE=str(10**9), STRIVE_LOG_LEVEL="WARNING",
        STRIVE_MAX_BATCH_ITEMS="1000",
    )  # fmt: skip
    log = workdir / "serve.log"
    process = subprocess.Popen(
        [STRIVE, "serve", "--port", str(port), "--workers", str(workers)], env=env,
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    wait_ready(f"http://127.0.0.1:{port}", process, log)
    return process, port


ENVELOPE_HEADERS = {"Content-Type": "application/vnd.dsse.envelope.v1+json"}


def measure_http(items: list[tuple[str, bytes]], batch_items: list[tuple[str, bytes]],
                 template: Path, workdir: Path, workers: int, batch: int
                 ) -> tuple[dict[str, float], dict[str, float] | None]:  # fmt: skip
    url = copy_database(template, workdir)
    process, port = serve(url, workdir, workers)
    try:
        singles = [("/v1/referrals", {**ENVELOPE_HEADERS, "Strive-Asw-Id": asw}, raw)
                   for asw, raw in items]  # fmt: skip
        single = run_loadgen(singles, port, 8, workdir)
        batches = None
        if batch_items:
            by_asw: dict[str, list[bytes]] = {}
            for asw, raw in batch_items:
                by_asw.setdefault(asw, []).append(raw)
            requests = [
                ("/v1/referrals/batch",
                 {"Content-Type": "application/x-ndjson", "Strive-Asw-Id": asw},
                 b"\n".join(raws[i : i + batch]))
                for asw, raws in by_asw.items() for i in range(0, len(raws), batch)
            ]  # fmt: skip
            batches = run_loadgen(requests, port, 2, workdir)
            batches["count"] = len(batch_items)
    finally:
        stop(process)
    figures = {
        "rate": len(items) / single["seconds"],
        "median": statistics.median(single["latencies"]) * 1000,
        "p99": p99(single["latencies"]) * 1000,
        "errors": sum(n for s, n in single["statuses"].items() if s not in ("200", "201")),
    }
    batch_figures = None
    if batches is not None:
        batch_figures = {
            "rate": batches["count"] / batches["seconds"],
            "errors": sum(n for s, n in batches["statuses"].items() if s != "200"),
        }
    return figures, batch_figures


# --- medallion -----------------------------------------------------------------------------


def medallion_python(venv: Path) -> Path:
    """medallion in its own virtual environment (installed on first use)."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "medallion").exists():
        print(f"# installing medallion into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "medallion"], check=True)
    return python


MEDALLION_COLLECTION = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"


def medallion_config(workdir: Path) -> Path:
    """A memory backend holding one API root (``api1``) with one writable collection."""
    data = {
        "/discovery": {
            "title": "bench",
            "default": "http://127.0.0.1/api1/",
            "api_roots": ["http://127.0.0.1/api1/"],
        },
        "api1": {
            "information": {
                "title": "bench",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 100 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": MEDALLION_COLLECTION,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (workdir / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(workdir / "medallion-data.json"),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": 100},
    }
    path = workdir / "medallion.json"
    path.write_text(json.dumps(config))
    return path


def stix_bundle(size: int, n: int) -> bytes:
    """A STIX 2.1 bundle of about ``size`` bytes made of objects of about 400 bytes each
    (indicators for phones, e-mail addresses and accounts, and notes), as a referral of that
    size would become: a referral carries dozens of entities, not one large blob."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    objects: list[dict[str, Any]] = []
    bundle: dict[str, Any] = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    i = 0
    while len(json.dumps(bundle)) < size - 400:
        if i % 2 == 0:
            objects.append({
                "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                "created": now, "modified": now, "pattern_type": "stix", "valid_from": now,
                "name": f"selector {n}-{i}",
                "pattern": f"[email-addr:value = 'person{n}.{i}@example.com']",
                "description": "observed in an advert text; " * 4,
            })  # fmt: skip
        else:
            objects.append({
                "type": "note", "spec_version": "2.1", "id": f"note--{uuid.uuid4()}",
                "created": now, "modified": now, "object_refs": [objects[-1]["id"]],
                "content": "an analyst's note on the linked selector, kept with it. " * 3,
            })  # fmt: skip
        i += 1
    return json.dumps(bundle).encode()


def start_medallion(python: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = workdir / "medallion.log"
    process = subprocess.Popen(
        [str(python.parent / "medallion"), "--host", "127.0.0.1", "--port", str(port),
         str(medallion_config(workdir))],
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, log, "/taxii2/", auth=("bench", "bench"))
    except BaseException:
        stop(process)  # never leave a server behind
        raise
    return process, port


def medallion_requests(bundles: list[bytes]) -> list[tuple[str, dict[str, str], bytes]]:
    import base64

    auth = "Basic " + base64.b64encode(b"bench:bench").decode()
    headers = {"Content-Type": "application/taxii+json;version=2.1",
               "Accept": "application/taxii+json;version=2.1", "Authorization": auth}  # fmt: skip
    path = f"/api1/collections/{MEDALLION_COLLECTION}/objects/"
    return [(path, headers, body) for body in bundles]


def measure_medallion(python: Path, workdir: Path, size: int, count: int, store: int,
                      restart_every: int) -> tuple[float, float]:  # fmt: skip
    """Bundles/s into a store of ``store`` bundles, and into an empty store (restarted)."""
    process, port = start_medallion(python, workdir)
    try:
        if store:
            run_loadgen(medallion_requests([stix_bundle(size, i) for i in range(store)]), port, 8,
                        workdir)  # fmt: skip
        full = run_loadgen(medallion_requests([stix_bundle(size, i) for i in range(count)]), port,
                           8, workdir)  # fmt: skip
    finally:
        stop(process)
    seconds = 0.0
    done = 0
    while done < count:
        chunk = min(restart_every, count - done)
        process, port = start_medallion(python, workdir)
        try:
            result = run_loadgen(
                medallion_requests([stix_bundle(size, i) for i in range(chunk)]), port, 8, workdir
            )
        finally:
            stop(process)
        seconds += result["seconds"]
        done += chunk
    return count / full["seconds"], count / seconds


# --- the run -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=150, help="referrals per measurement")
    parser.add_argument("--warm", type=int, default=3000, help="referrals in the warm store")
    parser.add_argument("--batch", type=int, default=50, help="referrals per HTTP batch")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--medallion-venv", type=Path, default=MEDALLION_VENV)
    parser.add_argument("--medallion-store", type=int, default=100)
    parser.add_argument("--restart-every", type=int, default=30)
    parser.add_argument("--no-medallion", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--loadgen", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen:
        return loadgen_main(args.loadgen)
    # A SIGTERM (a timeout, Ctrl-C in a pipeline) unwinds like an exception, so every server
    # this run started is stopped by its ``finally``.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# {os.cpu_count()} cores, Python {sys.version.split()[0]}, SQLite, "
          f"{args.count} referrals of 10-15 KB per measurement, {args.rounds} rounds")  # fmt: skip
    template, keys = warm_database(args.warm, args.seed)
    corpus = Corpus(args.count * 8, args.seed)
    python = None if args.no_medallion or args.no_http else medallion_python(args.medallion_venv)
    series: dict[str, Series] = {}

    def record(key: str, label: str, unit: str, value: float) -> None:
        series.setdefault(key, Series(label, unit)).values.append(value)

    envelope_size = 0
    for round_number in range(1, args.rounds + 1):
        print(f"# round {round_number}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            items = sign_all(corpus.take(args.count), keys)
            envelope_size = int(statistics.mean(len(raw) for _, raw in items))
            record("floor", "floor: parse+verify+validate+insert+commit", "ms CPU/ref",
                   measure_floor(items, keys, workdir))  # fmt: skip
            request_path, linking = measure_ingest(
                sign_all(corpus.take(args.count), keys), template, workdir
            )
            record("ingest", f"full ingest, request path (warm {args.warm})", "ms CPU/ref",
                   request_path)  # fmt: skip
            record("linking", "linking worker, per referral", "ms CPU/ref", linking)
            if args.no_http:
                continue
            for workers in args.workers:
                batch_items = sign_all(corpus.take(args.count * 2), keys) if workers == 1 else []
                single, batched = measure_http(
                    sign_all(corpus.take(args.count), keys), batch_items, template, workdir,
                    workers, args.batch,
                )  # fmt: skip
                record(f"http{workers}", f"HTTP single, {workers} worker(s), 8 connections",
                       "referrals/s", single["rate"])  # fmt: skip
                record(f"http{workers}p50", "    median latency", "ms", single["median"])
                record(f"http{workers}p99", "    p99 latency", "ms", single["p99"])
                record(f"http{workers}err", "    errors", "responses", single["errors"])
                if batched is not None:
                    record("batch", f"HTTP batches of {args.batch}, 1 worker, 2 connections",
                           "referrals/s", batched["rate"])  # fmt: skip
                    record("batcherr", "    errors", "responses", batched["errors"])
            if python is not None:
                full, empty = measure_medallion(python, workdir, envelope_size, args.count,
                                                args.medallion_store, args.restart_every)  # fmt: skip
                record("med_full", f"medallion, store of {args.medallion_store}, 8 connections",
                       "bundles/s", full)  # fmt: skip
                record("med_empty", f"medallion, empty store (restart every {args.restart_every})",
                       "bundles/s", empty)  # fmt: skip
    print(f"\n## figures: median (min, max) over {args.rounds} rounds; "
          f"envelopes and bundles of {envelope_size} bytes")  # fmt: skip
    for item in series.values():
        print(item.line())
    print("\n## ratios (of medians)")
    ratio_lines: list[tuple[str, Callable[[], float]]] = [
        ("request-path CPU / floor (target <= 4)",
         lambda: series["ingest"].median / series["floor"].median),
        ("request path + linking CPU / floor",
         lambda: (series["ingest"].median + series["linking"].median) / series["floor"].median),
        ("HTTP single 1 worker / medallion empty store (target >= 1.5)",
         lambda: series["http1"].median / series["med_empty"].median),
        ("HTTP single 1 worker / medallion store of N",
         lambda: series["http1"].median / series["med_full"].median),
        ("HTTP batches / medallion empty store",
         lambda: series["batch"].median / series["med_empty"].median),
    ]  # fmt: skip
    for label, compute in ratio_lines:
        try:
            print(f"{label:<62} {compute():6.2f}")
        except (KeyError, ZeroDivisionError):
            print(f"{label:<62} (not measured)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
