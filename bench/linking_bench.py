"""The cost of linking, at two database sizes, on SQLite and PostgreSQL.

Loads N synthetic referrals (a few large networks, many singletons, over-correlating values;
see synthetic.py) into a fresh receiver database and reports:

* the added cost of linking per referral (``services.linking.link_referral``, in the same
  transaction as the referral's rows, timed alone): median and 99th percentile, over all
  referrals and over the last 1,000, which shows whether it grows with the database;
* the time to read the largest cluster (summary, then every member page by page);
* the triage query time (first page; page filtered by region and band).

Loading bypasses signatures and validation (measured by server_bench.py) and stores an empty
document per referral to keep the database small; selectors and clusters are real. The
generator deals singleton phones from a pool of 900 fictional numbers that would chain
unrelated singletons together, so here each singleton phone is replaced by a unique raw value
(matched as given, exactly like an unparseable number); network phones and the over-correlating
phone are kept.

    .venv/bin/python bench/linking_bench.py --sizes 10000 100000 [--postgres URL]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import generate_labelled_referrals

from strive_schema.models import SKIP_SEMANTICS
from strive_schema.models import Referral as ReferralModel
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin, intelligence
from strive_server.services.audit import Actor
from strive_server.services.linking import StoredSelector, link_referral
from strive_server.services.selectors import extract_selectors
from strive_server.services.triage import band_for, own_score

ASWS = ("bench-asw-a", "bench-asw-b", "bench-asw-c")
ACTOR = Actor("user", "bench", "analyst")
HOT_PHONE = "7700900000"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def untangle(document: dict[str, Any], network: str | None, serial: itertools.count[int]) -> None:
    """Give a singleton unique values where the generator's fictional pools are tiny (900
    phone numbers, 768 documentation IPv4 addresses, a few hundred names)."""
    if network is not None:
        return
    for phone in document.get("phones", []):
        if HOT_PHONE not in "".join(c for c in phone["raw"] if c.isdigit()):
            phone["raw"] = f"bench singleton line {next(serial)}"
            phone.pop("e164", None)
    for event in document.get("technical_events", []):
        if "ip_address" in event:
            n = next(serial)
            event["ip_address"] = f"2001:db8:{n >> 16 & 0xFFFF:x}:{n & 0xFFFF:x}::1"
    for payment in document.get("payments", []):
        if "payer_name" in payment and payment["payer_name"] != "PREPAID CARDHOLDER":
            payment["payer_name"] = f"{payment['payer_name']} {next(serial)}"
    for person in document.get("persons", []):
        if "payer" in person["roles"]:
            person["names"] = [f"{name} {next(serial)}" for name in person.get("names", [])]


def load(url: str, count: int, seed: int, threshold: int) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        for asw in ASWS:
            from strive_schema.keys import SigningKey

            admin.register_asw(
                session,
                asw_id=asw,
                name=asw,
                public_key=SigningKey.generate().public_key,
                actor=ACTOR,
            )
    key_ids = {}
    with sessions() as session:
        for row in session.scalars(sa.select(tables.AswKey)):
            key_ids[row.asw_id] = row.key_id
    serial = itertools.count()
    link_times: list[float] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    loaded = time.perf_counter()
    for index, (document, network) in enumerate(
        generate_labelled_referrals(count, seed=seed, asw_ids=ASWS)
    ):
        untangle(document, network, serial)
        referral = ReferralModel.model_validate(
            document, strict=False, context={SKIP_SEMANTICS: True}
        )
        asw = referral.reporter.organisation_id
        received = start + timedelta(seconds=index * 30)
        own, breakdown, child = own_score(referral)
        with sessions() as session, session.begin():
            row = tables.Referral(
                asw_id=asw, referral_id=str(uuid.uuid4()), referral_digest="0" * 64,
                envelope=b"", envelope_sha256="0" * 64, key_id=key_ids[asw], issued_at=received,
                received_at=received, receipt_envelope=b"", document={},
                schema_version="1.0", is_test=False, urgency=referral.urgency.level,
                source=referral.source, protective_marking=referral.handling.protective_marking,
                referral_created_at=received, state="received", updated_at=received,
                own_score=own, own_breakdown=breakdown, under_18=child, priority_score=own,
                priority_band=band_for(own),
            )  # fmt: skip
            session.add(row)
            session.flush()
            selectors = extract_selectors(referral, asw_id=asw)
            session.execute(
                sa.insert(tables.Selector),
                [
                    {"referral_pk": row.id, "kind": s.kind, "value": s.value[:400],
                     "raw": s.raw[:400], "normalised": s.normalised, "entity_ref": s.entity_ref}
                    for s in selectors
                ],
            )  # fmt: skip
            stored = [
                StoredSelector(s.id, s.kind, s.value)
                for s in session.scalars(
                    sa.select(tables.Selector).where(tables.Selector.referral_pk == row.id)
                )
            ]
            begin = time.perf_counter()
            link_referral(
                session, referral=row, selectors=stored, now=received, threshold=threshold
            )
            link_times.append(time.perf_counter() - begin)
        if (index + 1) % 10_000 == 0 and index + 1 < count:
            window = [t * 1000 for t in link_times[-1000:]]
            print(
                f"  ... {index + 1:,} loaded; linking, last 1,000: median "
                f"{statistics.median(window):.2f} ms, p99 {percentile(window, 0.99):.2f} ms",
                flush=True,
            )
    load_seconds = time.perf_counter() - loaded
    # Statistics as autovacuum (PostgreSQL) or a periodic ANALYZE (SQLite) keeps them in
    # service: planning on the empty-table statistics of a fresh bulk load is not the steady
    # state a receiver runs in.
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")

    with sessions() as session, session.begin():
        largest = session.scalars(
            sa.select(tables.Cluster).where(tables.Cluster.merged_into.is_(None))
            .order_by(tables.Cluster.referral_count.desc()).limit(1)
        ).one()  # fmt: skip
        clusters = session.scalar(
            sa.select(sa.func.count())
            .select_from(tables.Cluster)
            .where(tables.Cluster.merged_into.is_(None))
        )
        begin = time.perf_counter()
        summary = intelligence.cluster_summary(session, largest, actor=ACTOR)
        members, cursor = 0, None
        while True:
            page = intelligence.cluster_members(
                session, largest, actor=ACTOR, cursor=cursor, limit=200
            )
            members += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        cluster_read = time.perf_counter() - begin
        triage_times = []
        for _ in range(5):
            begin = time.perf_counter()
            intelligence.triage_queue(session, actor=ACTOR, state=None, band=None, region=None,
                                      asw_id=None, include_test=False, cursor=None, limit=50)  # fmt: skip
            triage_times.append(time.perf_counter() - begin)
        filtered = []
        for _ in range(5):
            begin = time.perf_counter()
            intelligence.triage_queue(session, actor=ACTOR, state="received", band="P2", region="TLI",
                                      asw_id=None, include_test=False, cursor=None, limit=50)  # fmt: skip
            filtered.append(time.perf_counter() - begin)
    engine.dispose()
    return {
        "load_seconds": load_seconds,
        "link": link_times,
        "largest": summary["counts"],
        "members_read": members,
        "clusters": clusters,
        "cluster_read": cluster_read,
        "triage": statistics.median(triage_times),
        "triage_filtered": statistics.median(filtered),
    }


def report(label: str, figures: dict[str, Any]) -> None:
    link = [t * 1000 for t in figures["link"]]
    last = link[-1000:]
    print(
        f"{label}: loaded in {figures['load_seconds']:.0f} s; {figures['clusters']} clusters\n"
        f"  linking per referral: median {statistics.median(link):.2f} ms, p99 {percentile(link, 0.99):.2f} ms"
        f"   (last 1,000: median {statistics.median(last):.2f} ms, p99 {percentile(last, 0.99):.2f} ms)\n"
        f"  largest cluster {figures['largest']}: summary and all {figures['members_read']} members read in "
        f"{figures['cluster_read'] * 1000:.1f} ms\n"
        f"  triage first page {figures['triage'] * 1000:.1f} ms; filtered (received, P2, London) "
        f"{figures['triage_filtered'] * 1000:.1f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threshold", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("STRIVE_TEST_POSTGRES_URL"))
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args(argv)
    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"# {os.cpu_count()} cores, Python {sys.version.split()[0]}, over-correlation threshold {args.threshold}\n"
    )
    databases = [d for d in ("sqlite", "postgresql") if args.only in (None, d)]
    for database in databases:
        if database == "postgresql" and not args.postgres:
            print("postgresql: skipped (no --postgres URL or STRIVE_TEST_POSTGRES_URL)")
            continue
        for size in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                if database == "sqlite":
                    figures = load(
                        f"sqlite:///{Path(tmp) / 'link.db'}", size, args.seed, args.threshold
                    )
                else:
                    name = f"strive_link_{uuid.uuid4().hex[:10]}"
                    admin_engine = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
                    with admin_engine.connect() as connection:
                        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
                    url = (
                        sa.make_url(args.postgres)
                        .set(database=name)
                        .render_as_string(hide_password=False)
                    )
                    try:
                        figures = load(url, size, args.seed, args.threshold)
                    finally:
                        with admin_engine.connect() as connection:
                            connection.exec_driver_sql(
                                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                            )
                        admin_engine.dispose()
            report(f"{database}, {size:,} referrals", figures)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
