"""Server render times of the console's pages: the triage queue, a referral, a cluster (and
the cluster graph's JSON twin), on the Operation Strive demo data plus N synthetic referrals.

Referrals are stored in process through the real ingestion path (signed envelopes verified,
validated, linked, triaged: ``ingest_envelope``), then a receiver runs in this process on a
loopback port and a signed-in analyst requests each page repeatedly over keep-alive HTTP.
The figures are the time from sending a request to the last byte of the page, on loopback:
the server's render time plus a fraction of a millisecond of transport. Every page read is
audited, so every request also writes its audit rows.

    .venv/bin/python bench/console_bench.py --count 2000 [--repeat 20] [--postgres URL]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linking_bench import untangle
from synthetic import generate_labelled_referrals

from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.keys import SigningKey
from strive_server.api.app import create_app
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin
from strive_server.services.audit import Actor
from strive_server.services.ingestion import ingest_envelope

ROOT = Path(__file__).resolve().parent.parent
RECEIVER = "bench.receiver"
ACTOR = Actor("admin", "console-bench")
OP_STRIVE = sorted((ROOT / "spec" / "examples").glob("op-strive-*.json"))


def load(settings: Settings, count: int) -> str:
    """Store the Operation Strive examples and ``count`` synthetic referrals; return an
    analyst token."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    documents = [json.loads(p.read_text()) for p in OP_STRIVE]
    # As in linking_bench.py: singletons get their own values where the generator's fictional
    # pools are tiny, so clusters are the generator's networks, not an artefact of the pools.
    serial = itertools.count()
    for document, network in generate_labelled_referrals(count, seed=3):
        untangle(document, network, serial)
        documents.append(document)
    keys: dict[str, SigningKey] = {}
    with sessions() as session, session.begin():
        for asw in sorted({d["reporter"]["organisation_id"] for d in documents}):
            keys[asw] = SigningKey.generate()
            admin.register_asw(
                session, asw_id=asw, name=asw, public_key=keys[asw].public_key, actor=ACTOR
            )
        _, token, _ = admin.create_token(
            session, name="bench-analyst", role="analyst",
            lifetime=timedelta(days=1), actor=ACTOR,
        )  # fmt: skip
    started = time.perf_counter()
    for index, document in enumerate(documents):
        asw = document["reporter"]["organisation_id"]
        now = datetime.now(UTC)
        payload = build_submission(document, asw_id=asw, audience=RECEIVER, issued_at=now)
        raw = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [keys[asw]]).to_json()
        ingest_envelope(sessions=sessions, settings=settings, raw=raw, claimed_asw=asw, now=now)
        if (index + 1) % 1000 == 0:
            print(f"  ... {index + 1:,} stored ({time.perf_counter() - started:.0f} s)", flush=True)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return str(token)


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def timed(client: httpx.Client, path: str, repeat: int) -> list[float]:
    client.get(path).raise_for_status()  # warm
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - begin) * 1000)
        response.raise_for_status()
    return times


def measure(label: str, settings: Settings, count: int, repeat: int) -> None:
    print(f"\n{label}: Operation Strive + {count:,} synthetic referrals", flush=True)
    token = load(settings, count)
    app = create_app(settings)
    server, thread, url = serve(app)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            form = client.get("/console/sign-in")
            found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert found
            client.post("/console/sign-in", data={"token": token, "csrf_token": found.group(1)})
            with app.state.sessions() as session:
                strive_id = json.loads(OP_STRIVE[0].read_text())["referral_id"]
                strive = session.scalars(
                    sa.select(tables.Referral).where(tables.Referral.referral_id == strive_id)
                ).one()
                strive_size = session.get(tables.Cluster, strive.cluster_id).referral_count  # type: ignore[union-attr]
                largest = session.scalars(
                    sa.select(tables.Cluster).where(tables.Cluster.merged_into.is_(None))
                    .order_by(tables.Cluster.referral_count.desc()).limit(1)
                ).one()  # fmt: skip
                largest_member = session.scalars(
                    sa.select(tables.Referral).where(tables.Referral.cluster_id == largest.id)
                    .limit(1)
                ).one()  # fmt: skip
            pages = [
                ("queue", "/console/queue"),
                ("queue, filtered (P2, London)", "/console/queue?band=P2&region=TLI"),
                ("referral (Operation Strive 1)",
                 f"/console/referrals/{strive.referral_id}?asw_id={strive.asw_id}"),
                ("referral (in the largest cluster)",
                 f"/console/referrals/{largest_member.referral_id}?asw_id={largest_member.asw_id}"),
                (f"cluster (Operation Strive, {strive_size} referrals)",
                 f"/console/clusters/{strive.cluster_id}"),
                ("cluster graph JSON (Operation Strive)",
                 f"/console/clusters/{strive.cluster_id}/graph.json"),
                (f"cluster (largest, {largest.referral_count:,} referrals)",
                 f"/console/clusters/{largest.id}"),
                (f"cluster graph JSON (largest, {largest.referral_count:,})",
                 f"/console/clusters/{largest.id}/graph.json"),
            ]  # fmt: skip
            print(f"  {'page':<46} {'median ms':>10} {'p95 ms':>8}")
            for name, path in pages:
                times = sorted(timed(client, path, repeat))
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                print(f"  {name:<46} {statistics.median(times):>10.1f} {p95:>8.1f}", flush=True)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        app.state.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (empty database)")
    args = parser.parse_args(argv)
    print(f"command: .venv/bin/python bench/console_bench.py {' '.join(sys.argv[1:])}")
    with tempfile.TemporaryDirectory() as scratch:
        common = {
            "receiver_id": RECEIVER,
            "signing_key_file": Path(scratch) / "key.pem",
            "audit_key_file": Path(scratch) / "audit.key",
            "rate_limit_per_minute": 10_000_000,
        }
        if args.postgres:
            measure("PostgreSQL", Settings(database_url=args.postgres, **common), args.count,
                    args.repeat)  # fmt: skip
        else:
            url = f"sqlite:///{Path(scratch) / 'bench.db'}"
            measure("SQLite", Settings(database_url=url, **common), args.count, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
