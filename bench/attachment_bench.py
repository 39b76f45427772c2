"""Evidence files (spec/evidence-files.md): upload throughput, PDQ cost, image look-up.

1. **Upload**: ``strive serve`` (one worker, SQLite, filesystem store) in a subprocess; the
   SDK submits a referral declaring files of 1 MB and 50 MB (random bytes,
   ``application/octet-stream``) and uploads each ``--repeat`` times (fresh referrals, so
   every upload is stored, encrypted, not replayed). Prints MB/s and the server process's
   peak resident memory (``VmHWM``) after each size: flat across 1 MB and 50 MB when the body
   is streamed, not held.
2. **PDQ**: the receiver's PDQ (``strive_server.services.pdq``) on a decoded 1024 x 768 and a
   4000 x 3000 JPEG (decode + hash, per image).
3. **Look-up**: the multi-index look-up of ``services/image_linking.py`` with ``--hashes``
   stored PDQ hashes (default 100,000; 16 index rows each) in SQLite: per query, for a hash
   with a stored near-duplicate (10 bits away) and for an unrelated one.

    .venv/bin/python bench/attachment_bench.py [--repeat 3] [--hashes 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from strive_client import StriveClient
from strive_schema.keys import SigningKey
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin
from strive_server.services.audit import Actor
from strive_server.services.image_linking import _near, chunk_keys
from strive_server.services.pdq import pdq_hash

STRIVE = str(Path(sys.executable).parent / "strive")
ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def referral(asw_id: str, attachment_id: str, data_sha256: str, size: int) -> dict[str, object]:
    import json

    document = json.loads((ROOT / "spec/examples/sandbox-minimal.json").read_text())
    document.update(
        referral_id=str(uuid.uuid4()), is_test=False,
        created_at=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        attachments=[{"id": attachment_id, "sha256": data_sha256, "size_bytes": size,
                      "media_type": "application/octet-stream", "relevance": "bench"}],
    )  # fmt: skip
    document["reporter"]["organisation_id"] = asw_id  # type: ignore[index]
    return document


def upload_bench(workdir: Path, repeat: int) -> None:
    url_db = f"sqlite:///{workdir / 'strive.db'}"
    engine = make_engine(url_db)
    migrate(engine)
    key = SigningKey.generate()
    with make_sessionmaker(engine)() as session, session.begin():
        admin.register_asw(session, asw_id="bench-asw", name="bench", public_key=key.public_key,
                           actor=Actor("admin", "bench"))  # fmt: skip
    engine.dispose()
    port = free_port()
    env = dict(
        os.environ, STRIVE_DATABASE_URL=url_db, STRIVE_SIGNING_KEY_FILE=str(workdir / "r.pem"),
        STRIVE_AUDIT_KEY_FILE=str(workdir / "audit.key"),
        STRIVE_EVIDENCE_DIR=str(workdir / "evidence"),
        STRIVE_EVIDENCE_KEY_FILE=str(workdir / "evidence.key"), STRIVE_LOG_LEVEL="WARNING",
    )  # fmt: skip
    command = [STRIVE, "serve", "--port", str(port), "--workers", "1"]
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((workdir / "server.log").read_text()[-2000:])
            time.sleep(0.1)
        print(f"server started (pid {process.pid}): peak RSS {peak_rss_mb(process.pid):.1f} MB")
        with StriveClient(url, asw_id="bench-asw", key=key, timeout=600) as client:
            for size_mb in (1, 50):
                path = workdir / f"file-{size_mb}mb.bin"
                with path.open("wb") as out:
                    for _ in range(size_mb):
                        out.write(os.urandom(MB))
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                seconds = []
                for _ in range(repeat):
                    # The same bytes would be stored once (content-addressed): append a
                    # byte so that every upload is a new object.
                    with path.open("ab") as out:
                        out.write(b"\0")
                    data_size = path.stat().st_size
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    submitted = client.submit_referral(
                        referral("bench-asw", "file", digest, data_size)
                    )
                    started = time.perf_counter()
                    (done,) = client.upload_attachments(submitted, {"file": path})
                    seconds.append(time.perf_counter() - started)
                    assert not done.replayed
                median = statistics.median(seconds)
                print(
                    f"upload {size_mb:>2} MB: median {median * 1000:8.1f} ms "
                    f"= {size_mb / median:6.1f} MB/s over {repeat} uploads; "
                    f"server peak RSS so far {peak_rss_mb(process.pid):.1f} MB"
                )
    finally:
        log.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    print(f"  server: {' '.join(command[1:])} (STRIVE_DATABASE_URL=sqlite, filesystem store)")


def photo_like(width: int, height: int) -> bytes:
    rng = random.Random(7)
    image = Image.new("RGB", (width, height), (90, 80, 70))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 20, width // 5)
        draw.ellipse((x - r, y - r, x + r, y + r),
                     fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))  # fmt: skip
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def pdq_bench(repeat: int) -> None:
    for width, height in ((1024, 768), (4000, 3000)):
        data = photo_like(width, height)
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            with Image.open(io.BytesIO(data)) as image:
                pdq_hash(image)
            seconds.append(time.perf_counter() - started)
        print(f"PDQ {width} x {height} JPEG ({len(data) // 1024} KB): decode + hash "
              f"median {statistics.median(seconds) * 1000:.1f} ms per image")  # fmt: skip


def lookup_bench(count: int, queries: int) -> None:
    rng = random.Random(11)
    engine = sa.create_engine("sqlite://")  # bare: the index table alone, no foreign keys
    tables.PdqChunk.__table__.create(engine)
    stored = [rng.getrandbits(256) for _ in range(count)]
    started = time.perf_counter()
    with engine.begin() as connection:
        rows = []
        for selector_id, value in enumerate(stored, start=1):
            text = f"{value:064x}"
            rows += [{"selector_id": selector_id, "chunk_no": c, "chunk_key": key,
                      "referral_pk": selector_id, "pdq": text, "quality": 100}
                     for c, key in enumerate(chunk_keys(text))]  # fmt: skip
            if len(rows) >= 160_000:
                connection.execute(sa.insert(tables.PdqChunk), rows)
                rows = []
        if rows:
            connection.execute(sa.insert(tables.PdqChunk), rows)
    print(f"indexed {count} PDQ hashes ({count * 16} index rows) in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    settings = Settings()
    for label, make in (
        ("a stored hash 10 bits away", lambda: _flip(rng.choice(stored), 10, rng)),
        ("an unrelated hash", lambda: rng.getrandbits(256)),
    ):
        seconds, found = [], []
        with Session(engine) as session:
            for _ in range(queries):
                query = f"{make():064x}"
                begin = time.perf_counter()
                matches = _near(session, 0, query, settings)
                seconds.append(time.perf_counter() - begin)
                found.append(len(matches))
        print(f"look-up at {count} hashes, {label}: median "
              f"{statistics.median(seconds) * 1000:.2f} ms, p99 "
              f"{sorted(seconds)[int(0.99 * (len(seconds) - 1))] * 1000:.2f} ms "
              f"({queries} queries, {sum(found)} matches)")  # fmt: skip


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if not args.skip_upload:
        with tempfile.TemporaryDirectory() as folder:
            upload_bench(Path(folder), args.repeat)
    pdq_bench(args.repeat * 3)
    lookup_bench(args.hashes, args.queries)


if __name__ == "__main__":
    main()
