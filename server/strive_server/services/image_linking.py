"""Image linking: referrals whose pictures are the same picture, across ASWs.

Exact hashes (``image_hash`` selectors ``sha256:...``, ``md5:...``) link through ordinary
linking (services/linking.py). Perceptual hashes do not match exactly: a picture re-encoded,
resized or lightly edited by another ASW's pipeline has a PDQ hash a few bits away. So PDQ
selectors (``image_hash`` ``pdq:<64 hex digits>``, sent in adverts' ``image_hashes`` or
computed by the receiver from an uploaded image) are also matched *near*: two hashes at most
``STRIVE_PDQ_MATCH_DISTANCE`` (default 31, Meta's recommended threshold) bits apart of 256
are the same picture (spec/evidence-files.md, "Perceptual matching").

Look-up is multi-index hashing (Norouzi, Punjani, Fleet 2012): each hash is stored as 16
chunks of 16 bits in ``pdq_chunks`` (indexed). Two hashes at most 31 bits apart differ by at
most one bit in at least one chunk (16 chunks x 2 bits > 31), so probing each chunk's value
and its 16 one-bit neighbours (16 x 17 = 272 index keys) finds every candidate; each is then
checked exactly. With random-looking hashes a probe key matches about n / 65536 rows, so a
look-up reads a few hundred rows at 100,000 hashes (bench/attachment_bench.py).

The noise controls are those of other selectors: an excluded value (``selector_exclusions``,
kind ``image_hash``) neither links nor is linked to; a hash near more than
``STRIVE_OVER_CORRELATION_THRESHOLD`` other referrals (a logo, a stock photo, a blank frame)
links nothing unless a supervisor allowed it (``selector_stats.linking_allowed``); hashes of
computed quality below ``STRIVE_PDQ_MIN_QUALITY`` (near-uniform images) are indexed but never
link. Sandbox referrals are never indexed.

Entry point: :func:`link_images`, called with a stored referral and its image selectors (at
ingestion, after ordinary linking; after an upload, with the hashes of the new file).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.upsert import insert_for
from strive_server.services.linking import StoredSelector, link_found_later
from strive_server.services.pdq import hamming_distance

__all__ = [
    "CHUNKS",
    "PDQ_VALUE",
    "ImageMatch",
    "chunk_keys",
    "count_values",
    "link_images",
    "probe_keys",
]

CHUNKS: Final = 16
_CHUNK_BITS: Final = 16
PDQ_VALUE: Final = re.compile(r"pdq:[0-9a-f]{64}")
"""A PDQ ``image_hash`` selector value the receiver can match: 256 bits."""
_EXACT_IMAGE: Final = re.compile(r"(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})")
_LOCK_KEY: Final = 0x5354_5256_5044_5131 & 0x7FFF_FFFF_FFFF_FFFF
"""The PostgreSQL advisory lock that queues image linking transactions: each indexes its
hashes then searches, so two concurrent near-duplicates must not miss each other."""


@dataclass(frozen=True, slots=True)
class ImageMatch:
    """A referral linked by a picture: which of its selectors, how many bits apart."""

    selector_id: int
    matched_referral_pk: int
    matched_selector_id: int
    distance: int


def chunk_keys(pdq: str) -> list[int]:
    """The 16 index keys of a PDQ hash: ``chunk number * 65536 + chunk value``."""
    return [c * 65536 + int(pdq[4 * c : 4 * c + 4], 16) for c in range(CHUNKS)]


def probe_keys(pdq: str) -> list[int]:
    """The 272 keys a look-up probes: each chunk's value and its 16 one-bit neighbours."""
    keys: list[int] = []
    for c in range(CHUNKS):
        value = int(pdq[4 * c : 4 * c + 4], 16)
        keys.append(c * 65536 + value)
        keys.extend(c * 65536 + (value ^ (1 << b)) for b in range(_CHUNK_BITS))
    return keys


def _queue_behind_other_image_linking(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    # SQLite: one writer at a time already (db/engine.py write_guard).


def _excluded(session: Session, values: Sequence[str]) -> set[str]:
    if not values:
        return set()
    rows = session.scalars(
        sa.select(tables.SelectorExclusion.value).where(
            tables.SelectorExclusion.kind == "image_hash",
            tables.SelectorExclusion.value.in_(list(values)),
        )
    )
    return set(rows)


def _allowed(session: Session, value: str) -> bool:
    stat = session.get(tables.SelectorStat, ("image_hash", value))
    return stat is not None and stat.linking_allowed


def _near(
    session: Session, referral_pk: int, pdq: str, settings: Settings
) -> list[tuple[int, int, str, int]]:
    """(selector id, referral pk, hash, distance) of other referrals' usable PDQ hashes
    within the match distance. A hash of unknown quality (sent without its file) matches
    only exactly: its quality could not be checked, so a near match could be noise."""
    chunk = tables.PdqChunk
    rows = session.execute(
        sa.select(chunk.selector_id, chunk.referral_pk, chunk.pdq, chunk.quality)
        .where(chunk.chunk_key.in_(probe_keys(pdq)), chunk.referral_pk != referral_pk)
        .distinct()
    ).all()
    found: list[tuple[int, int, str, int]] = []
    for selector_id, other_pk, other, quality in rows:
        if quality is not None and quality < settings.pdq_min_quality:
            continue
        distance = hamming_distance(pdq, other)
        if distance <= (settings.pdq_match_distance if quality is not None else 0):
            found.append((int(selector_id), int(other_pk), str(other), distance))
    return found


def count_values(session: Session, values: Sequence[str], threshold: int) -> None:
    """Count one more referral for ``image_hash`` values added after ingestion (a file's
    hashes), as ordinary linking counts a new referral's values, so that a later referral
    carrying the same exact hash finds this one."""
    stat = tables.SelectorStat
    for value in sorted(set(values)):
        session.execute(
            insert_for(session, stat)
            .values(kind="image_hash", value=value, referral_count=1, over_correlating=False)
            .on_conflict_do_update(
                index_elements=["kind", "value"],
                set_={
                    "referral_count": stat.referral_count + 1,
                    "over_correlating": sa.and_(
                        (stat.referral_count + 1) > threshold, sa.not_(stat.linking_allowed)
                    ),
                },
            )
        )


def _exact(session: Session, referral_pk: int, value: str) -> list[tuple[int, int, str, int]]:
    rows = session.execute(
        sa.select(tables.Selector.id, tables.Selector.referral_pk)
        .join(tables.Referral, tables.Referral.id == tables.Selector.referral_pk)
        .where(
            tables.Selector.kind == "image_hash",
            tables.Selector.value == value,
            tables.Selector.referral_pk != referral_pk,
            tables.Referral.is_test.is_(False),
        )
    ).all()
    return [(int(s), int(r), value, 0) for s, r in rows]


def link_images(
    session: Session,
    *,
    referral: tables.Referral,
    selectors: Sequence[StoredSelector],
    settings: Settings,
    now: datetime,
    qualities: Mapping[int, int | None] | None = None,
    exact: bool = False,
) -> list[ImageMatch]:
    """Index ``referral``'s PDQ selectors and link it to the referrals whose pictures match.

    ``selectors`` are stored ``image_hash`` selector rows of ``referral`` (others are
    ignored); ``qualities`` maps a selector id to its computed PDQ quality (``None``: sent as
    a hash, quality unknown). With ``exact``, exact image hashes (SHA-256, MD5) are matched
    too: for selectors added after ingestion, which ordinary linking never saw.
    """
    if referral.is_test or referral.cluster_id is None:
        return []
    qualities = qualities or {}
    pdq_selectors = [s for s in selectors if PDQ_VALUE.fullmatch(s.value)]
    exact_selectors = [s for s in selectors if exact and _EXACT_IMAGE.fullmatch(s.value)]
    if not pdq_selectors and not exact_selectors:
        return []
    _queue_behind_other_image_linking(session)
    if pdq_selectors:
        session.execute(
            sa.insert(tables.PdqChunk),
            [
                {"selector_id": s.id, "chunk_no": c, "chunk_key": key,
                 "referral_pk": referral.id, "pdq": s.value[4:], "quality": qualities.get(s.id)}
                for s in pdq_selectors
                for c, key in enumerate(chunk_keys(s.value[4:]))
            ],
        )  # fmt: skip
    excluded = _excluded(session, [s.value for s in (*pdq_selectors, *exact_selectors)])
    matches: list[ImageMatch] = []
    for selector in (*exact_selectors, *pdq_selectors):
        quality = qualities.get(selector.id)
        if selector.value in excluded or (
            quality is not None and quality < settings.pdq_min_quality
        ):
            continue
        if selector.value.startswith("pdq:"):
            found = _near(session, referral.id, selector.value[4:], settings)
            if quality is None:  # sent as a hash, its quality unknown: exact matches only
                found = [f for f in found if f[3] == 0]
            prefix = "pdq:"
        else:
            found = _exact(session, referral.id, selector.value)
            prefix = ""
        others = _excluded(session, sorted({prefix + value for _, _, value, _ in found}))
        found = [f for f in found if prefix + f[2] not in others]
        referral_pks = {pk for _, pk, _, _ in found}
        if not referral_pks:
            continue
        if len(referral_pks) > settings.over_correlation_threshold and not _allowed(
            session, selector.value
        ):
            continue  # over-correlating: a picture everyone uses is not a link
        link_found_later(
            session, referral=referral, selector=selector, referral_pks=referral_pks, now=now
        )
        found_matches = [
            ImageMatch(selector.id, pk, other_selector, distance)
            for other_selector, pk, _, distance in found
        ]
        session.execute(
            sa.insert(tables.ImageMatch),
            [{"at": now, "referral_pk": referral.id, "selector_id": m.selector_id,
              "matched_referral_pk": m.matched_referral_pk,
              "matched_selector_id": m.matched_selector_id, "distance": m.distance}
             for m in found_matches],
        )  # fmt: skip
        matches.extend(found_matches)
    return matches
