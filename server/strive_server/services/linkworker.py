"""The linking worker: links stored referrals into clusters, off the request path.

Ingestion stores a referral and a row in the linking outbox (``linking_queue``) in one
transaction and returns. This worker takes the oldest queued referrals in batches and, in one
transaction per batch, links each (``linking.link_referral``, which also re-ranks its cluster)
and deletes its queue row. So a referral is linked exactly once: a crash (even kill -9) rolls
the whole batch back, its queue rows are still there, and the next run links it; a referral
already in a cluster is never linked again.

Order and concurrency: batches are taken in arrival order (the referral's row id). On SQLite
the database has one writer at a time; on PostgreSQL each batch first takes a transaction-scoped
advisory lock, so any number of workers, in any number of processes, link one batch at a time,
in order, and a worker that dies releases the lock with its connection. Linking is serial by
nature (a referral may merge clusters the next one joins); what runs in parallel is ingestion.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.engine import write_guard
from strive_server.services.attachments import quarantine_matching_files
from strive_server.services.image_linking import link_images
from strive_server.services.linking import StoredSelector, link_referral, load_exclusions

__all__ = ["Backlog", "LinkingWorker", "backlog", "drain", "link_pending", "linking_state"]

logger = logging.getLogger("strive.server.linking")

ADVISORY_LOCK_KEY = 0x5354_5249_5645  # "STRIVE": one linker at a time on PostgreSQL


@dataclass(frozen=True, slots=True)
class Backlog:
    """Referrals waiting to be linked: how many, and how long the oldest has waited."""

    count: int
    oldest_seconds: float


def backlog(session: Session, now: datetime | None = None) -> Backlog:
    """Count the queue and age its oldest entry (two index reads)."""
    queue = tables.LinkingQueue
    count, oldest = session.execute(
        sa.select(sa.func.count(), sa.func.min(queue.enqueued_at))
    ).one()
    if not count or oldest is None:
        return Backlog(0, 0.0)
    if oldest.tzinfo is None:  # SQLite's aggregate skips the column type
        oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - oldest).total_seconds()
    return Backlog(int(count), max(0.0, age))


def linking_state(session: Session, row: tables.Referral) -> str:
    """``pending`` while queued, ``linked`` once in a cluster, ``not_linked`` for a sandbox
    referral (never linked: spec/linking.md)."""
    if row.cluster_id is not None:
        return "linked"
    if session.get(tables.LinkingQueue, row.id) is not None:
        return "pending"
    return "not_linked"


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))


_DEFAULTS = Settings.model_construct()
"""Settings' defaults without reading the environment: image linking's parameters when the
caller gives none (tests and benchmarks that only set a threshold)."""


def link_pending(
    sessions: sessionmaker[Session],
    *,
    threshold: int,
    batch_size: int = 50,
    now: Callable[[], datetime] | None = None,
    settings: Settings | None = None,
) -> int:
    """Link the oldest ``batch_size`` queued referrals in one transaction; return how many
    were taken from the queue (0: nothing to do). ``settings`` gives image linking its PDQ
    distance and quality (spec/evidence-files.md; default: the defaults); ``threshold``
    overrides its over-correlation threshold, as for every other selector."""
    images = (settings or _DEFAULTS).model_copy(update={"over_correlation_threshold": threshold})
    queue = tables.LinkingQueue
    with write_guard(sessions), sessions() as session, session.begin():
        _lock(session)
        pks = list(
            session.scalars(
                sa.select(queue.referral_pk)
                .order_by(queue.referral_pk)
                .limit(batch_size)
                .with_for_update()
            )
        )
        if not pks:
            return 0
        at = (now or (lambda: datetime.now(UTC)))().replace(microsecond=0)
        # Locked (PostgreSQL), so that an evidence upload to one of them either commits its
        # selectors before they are read here or waits until this batch has linked it (and
        # then links them itself: services/attachments.py).
        referrals = session.scalars(
            sa.select(tables.Referral)
            .where(tables.Referral.id.in_(pks))
            .order_by(tables.Referral.id)
            .with_for_update()
        ).all()
        selectors: dict[int, list[StoredSelector]] = defaultdict(list)
        selector = tables.Selector
        for referral_pk, selector_id, kind, value in session.execute(
            sa.select(selector.referral_pk, selector.id, selector.kind, selector.value)
            .where(selector.referral_pk.in_(pks))
            .order_by(selector.id)
        ):
            selectors[referral_pk].append(StoredSelector(selector_id, kind, value))
        exclusions = load_exclusions(session)
        # PDQ hashes the receiver computed from files uploaded before linking: their quality
        # decides whether they may match near, not only equal (spec/evidence-files.md).
        computed: dict[int, dict[str, int | None]] = defaultdict(dict)
        attachment = tables.ReferralAttachment
        for referral_pk, pdq, quality in session.execute(
            sa.select(attachment.referral_pk, attachment.pdq, attachment.pdq_quality).where(
                attachment.referral_pk.in_(pks), attachment.pdq.is_not(None)
            )
        ):
            computed[referral_pk][f"pdq:{pdq}"] = quality
        for referral in referrals:
            if referral.cluster_id is not None or referral.is_test:
                continue  # never linked twice; sandbox referrals never link
            link_referral(
                session,
                referral=referral,
                selectors=selectors[referral.id],
                now=at,
                threshold=threshold,
                exclusions=exclusions,
            )
            # Evidence files: PDQ hashes also link when near, not only equal (image_linking.py).
            qualities = {
                s.id: computed[referral.id][s.value]
                for s in selectors[referral.id]
                if s.value in computed[referral.id]
            }
            link_images(session, referral=referral, selectors=selectors[referral.id],
                        settings=images, now=at, qualities=qualities)  # fmt: skip
            if referral.under_18:  # stored files carrying this child's picture: never served
                quarantine_matching_files(session, referral, images)
        session.execute(sa.delete(queue).where(queue.referral_pk.in_(pks)))
    return len(pks)


def drain(
    sessions: sessionmaker[Session],
    *,
    threshold: int,
    batch_size: int = 50,
    settings: Settings | None = None,
) -> int:
    """Link until the queue is empty; return how many were linked. Tests call it after
    submitting; ``strive worker --once`` runs it."""
    total = 0
    while linked := link_pending(
        sessions, threshold=threshold, batch_size=batch_size, settings=settings
    ):
        total += linked
    return total


class LinkingWorker(threading.Thread):
    """A background thread that links queued referrals until stopped (``strive serve`` runs
    one unless ``STRIVE_LINKING_IN_PROCESS=false``; ``strive worker`` runs one in front)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        threshold: Callable[[], int],
        batch_size: int,
        poll_seconds: float,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(name="strive-linking-worker", daemon=True)
        self._sessions = sessions
        self._threshold = threshold
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._settings = settings
        self._stop_event = threading.Event()
        self.linked = 0

    def stop(self, timeout: float | None = 30) -> None:
        """Finish the batch in hand (or roll it back) and return."""
        self._stop_event.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                linked = link_pending(
                    self._sessions,
                    threshold=self._threshold(),
                    batch_size=self._batch_size,
                    settings=self._settings,
                )
            except Exception as exc:
                # A deadlock with a supervisor's merge, a lost connection, a bug: the batch
                # rolled back whole; try again after a pause (a batch that keeps failing shows
                # as the backlog's age in readiness and metrics).
                logger.warning(
                    "linking batch failed",
                    extra={"event": "linking_failed", "error": type(exc).__name__},
                )
                self._stop_event.wait(max(self._poll, 1.0))
                continue
            self.linked += linked
            if linked:
                logger.info("linked", extra={"event": "linking_batch", "referrals": linked})
            else:
                self._stop_event.wait(self._poll)
