"""The linking worker: linking off the request path, exactly once, in arrival order, after
crashes, with several workers (threads and processes) racing (spec/linking.md, "When a
referral is linked")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from typing import Any

import sqlalchemy as sa

from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker
from strive_server.services.linkworker import drain, link_pending

from ..conftest import STRIVE
from .conftest import Receiver, fresh_referral

ASW = "linking-worker-asw"
OP_STRIVE = [
    "op-strive-1-london.json",
    "op-strive-2-south-east.json",
    "op-strive-3-north-east.json",
    "op-strive-4-crossplatform.json",
]


def submit(receiver: Receiver, count: int) -> list[str]:
    """Submit ``count`` live referrals that share selectors (copies of the Operation Strive
    examples under new ids); return their referral ids in submission order."""
    if ASW not in receiver.keys:
        receiver.register_asw(ASW)
    ids = []
    with receiver.client(ASW) as client:
        for i in range(count):
            document = fresh_referral(OP_STRIVE[i % len(OP_STRIVE)], asw_id=ASW)
            client.submit_referral(document)
            ids.append(document["referral_id"])
    return ids


def view(receiver: Receiver, referral_id: str) -> dict[str, Any]:
    with receiver.http("analyst") as http:
        response = http.get(f"/v1/referrals/{referral_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_linked_exactly_once(receiver: Receiver, expected: int) -> None:
    """Every live referral is in a cluster and counted once: a referral linked twice would
    count its values twice in selector_stats and itself twice in its cluster."""
    with receiver.session() as session:
        live = session.scalars(
            sa.select(tables.Referral).where(tables.Referral.is_test.is_(False))
        ).all()
        assert len(live) == expected
        assert all(r.cluster_id is not None for r in live)
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.LinkingQueue)) == 0
        carriers: Counter[tuple[str, str]] = Counter()
        for kind, value, _ in session.execute(
            sa.select(tables.Selector.kind, tables.Selector.value, tables.Selector.referral_pk)
            .join(tables.Referral, tables.Referral.id == tables.Selector.referral_pk)
            .where(tables.Referral.is_test.is_(False))
            .distinct()
        ):
            carriers[(kind, value)] += 1
        stats = {
            (kind, value): count
            for kind, value, count in session.execute(
                sa.select(
                    tables.SelectorStat.kind,
                    tables.SelectorStat.value,
                    tables.SelectorStat.referral_count,
                )
            )
        }
        assert stats == {pair: n for pair, n in carriers.items() if pair in stats}
        assert stats, "linking counted no selector"
        in_clusters = session.scalar(
            sa.select(sa.func.sum(tables.Cluster.referral_count)).where(
                tables.Cluster.merged_into.is_(None)
            )
        )
        assert in_clusters == expected


def test_a_referral_is_pending_until_the_worker_links_it(receiver: Receiver) -> None:
    receiver.auto_link = False
    first, second = submit(receiver, 2)
    sandbox = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(sandbox)
    pending = view(receiver, first)
    assert pending["linking"] == "pending"
    assert pending["cluster_id"] is None
    assert pending["priority_score"] == sum(f["points"] for f in pending["own"])
    assert view(receiver, sandbox["referral_id"])["linking"] == "not_linked"
    with receiver.http() as http:
        ready = http.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["linking_backlog"] == 2
    with receiver.http("auditor") as http:
        metrics = http.get("/metrics").text
    assert "strive_linking_backlog 2.0" in metrics
    assert "strive_linking_oldest_pending_seconds" in metrics

    assert receiver.drain() == 2
    linked = view(receiver, first)
    assert linked["linking"] == "linked"
    assert linked["cluster_id"] is not None
    assert view(receiver, second)["cluster_id"] == linked["cluster_id"]
    assert view(receiver, sandbox["referral_id"])["linking"] == "not_linked"
    with receiver.http() as http:
        assert http.get("/readyz").json()["linking_backlog"] == 0
    assert_linked_exactly_once(receiver, 2)


def test_readiness_is_degraded_when_the_oldest_pending_referral_waits_too_long(
    receiver: Receiver,
) -> None:
    receiver.auto_link = False
    submit(receiver, 1)
    object.__setattr__(
        receiver.app.state,
        "settings",
        receiver.settings.model_copy(update={"linking_degraded_after_seconds": 1}),
    )
    with receiver.session() as session, session.begin():
        row = session.scalars(sa.select(tables.LinkingQueue)).one()
        row.enqueued_at = row.enqueued_at.replace(year=row.enqueued_at.year - 1)
    with receiver.http() as http:
        response = http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    receiver.drain()
    with receiver.http() as http:
        assert http.get("/readyz").json()["status"] == "ready"


def test_referrals_are_linked_in_arrival_order(receiver: Receiver) -> None:
    receiver.auto_link = False
    ids = submit(receiver, 4)
    sessions = make_sessionmaker(receiver.app.state.engine)
    for n in range(1, 5):
        assert link_pending(sessions, threshold=50, batch_size=1) == 1
        states = [view(receiver, referral_id)["linking"] for referral_id in ids]
        assert states == ["linked"] * n + ["pending"] * (4 - n)
    assert link_pending(sessions, threshold=50, batch_size=1) == 0
    assert_linked_exactly_once(receiver, 4)


def test_two_worker_threads_racing_link_each_referral_once(receiver: Receiver) -> None:
    receiver.auto_link = False
    submit(receiver, 24)
    url = receiver.settings.database_url
    # Each thread has its own engine and connections; the database (and on SQLite the
    # process's write lock for the file) keeps them apart.
    engines = [make_engine(url), make_engine(url)]
    linked: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(engine: sa.Engine) -> None:
        try:
            start.wait()
            linked.append(drain(make_sessionmaker(engine), threshold=50, batch_size=3))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for engine in engines:
        engine.dispose()
    assert not errors, errors
    assert sum(linked) == 24
    assert_linked_exactly_once(receiver, 24)


def test_two_worker_processes_racing_link_each_referral_once(
    receiver: Receiver, tmp_path: Any
) -> None:
    receiver.auto_link = False
    submit(receiver, 24)
    env = {**os.environ, "STRIVE_DATABASE_URL": receiver.settings.database_url}
    workers = [
        subprocess.Popen(
            [STRIVE, "worker", "--once", "--batch-size", "2"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    counts = [int(output.split("linked ")[1].split(" ")[0]) for output in outputs]
    assert sum(counts) == 24, outputs
    assert_linked_exactly_once(receiver, 24)


KILLED_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from strive_server.db.engine import make_engine, make_sessionmaker
    from strive_server.services import linkworker

    linked = 0
    original = linkworker.link_referral

    def slow_link(session, **kwargs):
        global linked
        result = original(session, **kwargs)
        session.flush()
        linked += 1
        if linked == 3:  # half the batch is linked, uncommitted
            print("MID-BATCH", flush=True)
            time.sleep(600)
        return result

    linkworker.link_referral = slow_link
    sessions = make_sessionmaker(make_engine(sys.argv[1]))
    linkworker.link_pending(sessions, threshold=50, batch_size=6)
    """
)


def test_a_worker_killed_mid_batch_leaves_nothing_half_linked_and_a_restart_finishes(
    receiver: Receiver,
) -> None:
    receiver.auto_link = False
    ids = submit(receiver, 6)
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, receiver.settings.database_url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == "MID-BATCH", line + worker.stdout.read()
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        if worker.stdout is not None:
            worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Cluster)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.SelectorStat)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.LinkingQueue)) == 6
    assert [view(receiver, i)["linking"] for i in ids] == ["pending"] * 6
    assert receiver.drain() == 6
    assert [view(receiver, i)["linking"] for i in ids] == ["linked"] * 6
    assert_linked_exactly_once(receiver, 6)


def test_a_malformed_pdq_hash_on_a_child_referral_does_not_stop_linking(
    receiver: Receiver,
) -> None:
    """The schema admits image hashes of 16-128 hex digits for any algorithm; a 64-bit "pdq"
    value on a child's referral once made quarantine raise, and the batch that held it failed
    for ever, stopping all linking behind it."""
    from .evidence_support import live_referral
    from .test_evidence_files import submit

    receiver.auto_link = False
    child = live_referral("asw-b", {})
    child["adverts"] = [{"id": "ad-1", "platform_advert_id": "A-1", "advertised_name": "X",
                         "image_hashes": [{"algorithm": "pdq", "value": "ab" * 8}]}]  # fmt: skip
    child["indicators"].append({"code": "suspected_under_18", "risk": "high"})
    submit(receiver, child)
    submit(receiver, live_referral("asw-a", {}))
    assert receiver.drain() == 2
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.LinkingQueue)) == 0
