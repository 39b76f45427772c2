"""Evidence files: receiving, checking, storing and serving the files referrals declare.

An ASW uploads each file its signed referral declared (``attachments[]``: id, SHA-256, size,
media type) with a signed request whose ``Content-Digest`` the signature covers
(spec/evidence-files.md). The checks, in order, each refusal with a stable code and nothing
stored:

before a byte of the body is read
    the referral is the signing ASW's (404 ``not_found`` otherwise, like one that does not
    exist); the attachment id is declared (``attachment_not_declared``); the signed digest is
    the declared one (``attachment_digest_mismatch``); already received: 200, the same answer
    (idempotent); for a referral that suspects a child, anything but text
    (``child_image_refused``); the
    declared size within ``STRIVE_MAX_ATTACHMENT_BYTES`` (413 ``body_too_large``) and, for a
    sandbox referral, its limits (``sandbox_limit_exceeded``); ``Content-Length`` and
    ``Content-Type`` (when sent) agree with the declaration (``attachment_size_mismatch``,
    ``attachment_type_mismatch``);
while the body streams to a temporary file, encrypted and hashed as it goes (no plaintext
on disk)
    no more than the declared size (``attachment_size_mismatch``); the client stays to the
    end (``attachment_incomplete``);
after the body
    size and SHA-256 are the declared ones; the magic bytes do not contradict the declared
    media type (``attachment_type_mismatch``); an image decodes within
    ``STRIVE_MAX_IMAGE_PIXELS`` (``image_too_large``: a decompression bomb is refused from its
    header, undecoded, as is one over ``STRIVE_MAX_IMAGE_DECODED_BYTES``); a child's
    referral's text is UTF-8 to the last byte; then the encrypted file is put in the store,
    and, under the referral's row lock (re-checking erasure, the declaration and pictures of
    children), its row, its hashes as selectors and their links are written in one
    transaction.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

import filetype
import sqlalchemy as sa
from PIL import Image, ImageFilter, ImageMode, UnidentifiedImageError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from strive_schema.codes import ProblemCode
from strive_schema.semantics import Finding
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.engine import write_guard
from strive_server.problems import Problem, parameter_pointer
from strive_server.services.audit import Actor, record_event
from strive_server.services.evidence_store import (
    DecryptingReader,
    EvidenceStore,
    decrypt_stream,
    store_for,
)
from strive_server.services.image_linking import PDQ_VALUE, count_values, link_images, probe_keys
from strive_server.services.linking import StoredSelector
from strive_server.services.pdq import hamming_distance, pdq_hash

__all__ = [
    "Declared",
    "Inspection",
    "UploadTarget",
    "attachment_summaries",
    "blurred_thumbnail",
    "check_before_body",
    "check_received",
    "delete_objects",
    "forget_files",
    "inspect_file",
    "objects_held_only_by",
    "open_content",
    "quarantine_matching_files",
    "record_upload",
    "staging_file",
]

_PEEK: Final = 8192
_GENERIC: Final = "application/octet-stream"
_ALIASES: Final = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}
_DECODED_IMAGES: Final = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}
)
"""Image types the receiver decodes (pixel limit, PDQ). Other ``image/*`` types are stored and
type-checked only."""
_PILLOW_FORMATS: Final = {
    "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
    "image/bmp": "BMP", "image/tiff": "TIFF",
}  # fmt: skip
_DECODING: Final = threading.BoundedSemaphore(2)
"""At most two images decode at once in the process, whatever the thread pool's size: each
may take up to ``STRIVE_MAX_IMAGE_DECODED_BYTES`` of memory."""
CHILD_REFERRAL_TYPES: Final = frozenset({"text/plain", "text/csv", "application/json"})
"""The only files a referral that suspects a child may carry: text, verified as UTF-8 text to
the last byte. An allow-list, because a deny-list of image types is always one format short
(TGA, PPM, PCX, a zip holding a JPEG, a JPEG behind one junk byte)."""
_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/=_-]{1024,}")
"""A run of base64 this long in a child referral's text is refused: a picture can hide there."""


@dataclass(frozen=True, slots=True)
class Declared:
    """An attachment as the signed referral declared it."""

    id: str
    sha256: str
    size_bytes: int
    media_type: str


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """What an upload is checked against, read before its body."""

    referral_pk: int
    referral_id: str
    asw_id: str
    declared: Declared
    replay: dict[str, Any] | None
    """The earlier answer, when this file was already received."""
    child: bool = False
    """The referral suspects a child: no image or video, whatever the file is declared as."""


@dataclass(frozen=True, slots=True)
class Inspection:
    detected_type: str | None
    width: int | None = None
    height: int | None = None
    pdq: str | None = None
    pdq_quality: int | None = None


def _received(
    session: Session, referral_pk: int, attachment_id: str
) -> tables.ReferralAttachment | None:
    """The stored row of a referral's attachment, if the file has arrived."""
    return session.scalars(
        sa.select(tables.ReferralAttachment).where(
            tables.ReferralAttachment.referral_pk == referral_pk,
            tables.ReferralAttachment.attachment_id == attachment_id,
        )
    ).one_or_none()


def _media_type(value: str) -> str:
    bare = value.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def declared_attachments(document: dict[str, Any]) -> list[Declared]:
    return [
        Declared(a["id"], a["sha256"], int(a["size_bytes"]), _media_type(a["media_type"]))
        for a in document.get("attachments", [])
    ]


def _refuse(status: int, code: ProblemCode, detail: str, pointer: str | None = None) -> Problem:
    errors = [Finding(pointer, code, detail)] if pointer else []
    return Problem(status, code, detail, errors=errors)


def _answer(row: tables.ReferralAttachment, referral_id: str, *, replayed: bool) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "attachment_id": row.attachment_id,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "media_type": row.media_type,
        "received_at": row.received_at,
        "replayed": replayed,
    }


def check_before_body(
    session: Session,
    *,
    asw_id: str,
    referral_id: str,
    attachment_id: str,
    signed_sha256: bytes,
    content_length: str | None,
    content_type: str | None,
    settings: Settings,
) -> UploadTarget:
    """Every check that needs no body (see the module docstring), in order."""
    referral = session.scalars(
        sa.select(tables.Referral).where(
            tables.Referral.asw_id == asw_id, tables.Referral.referral_id == referral_id
        )
    ).one_or_none()
    if referral is None:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such referral")
    declared = {a.id: a for a in declared_attachments(referral.document)}.get(attachment_id)
    if declared is None:
        raise _refuse(
            422, ProblemCode.ATTACHMENT_NOT_DECLARED,
            "the referral declares no attachment with this id",
            parameter_pointer("path", "attachment_id"),
        )  # fmt: skip
    index = list(declared_attachments(referral.document)).index(declared)
    if signed_sha256.hex() != declared.sha256:
        raise _refuse(
            422, ProblemCode.ATTACHMENT_DIGEST_MISMATCH,
            "the signed Content-Digest is not the SHA-256 the referral declared",
            parameter_pointer("header", "Content-Digest"),
        )  # fmt: skip
    existing = _received(session, referral.id, attachment_id)
    target = UploadTarget(
        referral.id, referral.referral_id, asw_id, declared, None, child=referral.under_18
    )
    if existing is not None:
        return UploadTarget(
            referral.id, referral.referral_id, asw_id, declared,
            _answer(existing, referral.referral_id, replayed=True),
        )  # fmt: skip
    if referral.under_18 and declared.media_type not in CHILD_REFERRAL_TYPES:
        raise _refuse(
            422, ProblemCode.CHILD_IMAGE_REFUSED,
            "a referral that suspects a child carries image hashes only, never the image, and "
            f"no file but text ({', '.join(sorted(CHILD_REFERRAL_TYPES))}) "
            "(spec/evidence-files.md, 'Children')",
            f"/attachments/{index}/media_type",
        )  # fmt: skip
    if declared.size_bytes > settings.max_attachment_bytes:
        raise Problem(
            413, ProblemCode.BODY_TOO_LARGE,
            f"a file may be at most {settings.max_attachment_bytes} bytes",
        )  # fmt: skip
    if referral.is_test:
        _check_sandbox(session, referral.id, declared, settings)
    if content_length is not None and content_length.strip() != str(declared.size_bytes):
        raise _refuse(
            422, ProblemCode.ATTACHMENT_SIZE_MISMATCH,
            f"the referral declared {declared.size_bytes} bytes",
            parameter_pointer("header", "Content-Length"),
        )  # fmt: skip
    if content_type is not None and _media_type(content_type) not in (
        declared.media_type, "application/octet-stream"
    ):  # fmt: skip
        raise _refuse(
            422, ProblemCode.ATTACHMENT_TYPE_MISMATCH,
            f"the referral declared {declared.media_type}",
            parameter_pointer("header", "Content-Type"),
        )  # fmt: skip
    return target


def _check_sandbox(session: Session, referral_pk: int, declared: Declared, s: Settings) -> None:
    held = session.scalar(
        sa.select(sa.func.count()).where(tables.ReferralAttachment.referral_pk == referral_pk)
    )
    if declared.size_bytes > s.sandbox_max_attachment_bytes or (held or 0) >= (
        s.sandbox_max_attachments
    ):
        raise Problem(
            422, ProblemCode.SANDBOX_LIMIT_EXCEEDED,
            f"a sandbox referral carries at most {s.sandbox_max_attachments} files of at most "
            f"{s.sandbox_max_attachment_bytes} bytes each",
        )  # fmt: skip


def staging_file(settings: Settings) -> tuple[IO[bytes], Path]:
    """A private temporary file (mode 0600) for an incoming body, which is written to it
    already encrypted (``EncryptingWriter``): no plaintext ever touches the disk. Beside the
    filesystem store, so the object is copied into place on the same filesystem."""
    directory: Path | None = None
    if settings.evidence_store == "filesystem":
        directory = settings.evidence_path / ".incoming"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _sweep_once(directory, settings)
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    return os.fdopen(fd, "wb"), Path(name)


_SWEPT: set[Path] = set()


def _sweep_once(directory: Path, settings: Settings) -> None:
    """Remove staging files a crashed process left behind (once per directory and process):
    those older than any upload may last, so another worker's upload in flight is kept."""
    if directory in _SWEPT:
        return
    _SWEPT.add(directory)
    cutoff = time.time() - settings.attachment_read_timeout_seconds - 3600
    for leftover in directory.glob("upload-*"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def check_received(target: UploadTarget, *, size: int, sha256: str) -> None:
    """The body's size and SHA-256 against the declaration."""
    if size != target.declared.size_bytes:
        raise Problem(
            422, ProblemCode.ATTACHMENT_SIZE_MISMATCH,
            f"received {size} bytes; the referral declared {target.declared.size_bytes}",
        )  # fmt: skip
    if sha256 != target.declared.sha256:
        raise Problem(
            422, ProblemCode.ATTACHMENT_DIGEST_MISMATCH,
            "the file's SHA-256 is not the one the referral declared and the request signed",
        )  # fmt: skip


def _type_mismatch(detail: str) -> Problem:
    return Problem(422, ProblemCode.ATTACHMENT_TYPE_MISMATCH, detail)


def inspect_file(
    path: Path,
    declared: Declared,
    settings: Settings,
    *,
    child: bool = False,
    key: bytes | None = None,
) -> Inspection:
    """Magic bytes against the declared type; for an image, its size in pixels (refused over
    the limit from the header alone) and its PDQ hash. For a referral that suspects a child
    (``child``), a file whose bytes are an image or a video is refused, however declared."""

    def plain() -> IO[bytes]:
        """The file's plaintext: ``path`` itself, or (with ``key``) decrypted as read."""
        if key is None:
            return path.open("rb")
        return DecryptingReader(path.open("rb"), key=key, sha256=declared.sha256)  # type: ignore[return-value]

    if child:
        _check_child_text(plain, declared)
    with plain() as stream:
        head = stream.read(_PEEK)
    kind = filetype.guess(head)
    detected = _media_type(kind.mime) if kind is not None else None
    if declared.media_type == _GENERIC:
        return Inspection(detected)  # "some bytes": no type claimed, none to contradict
    if detected is not None and detected != declared.media_type:
        raise _type_mismatch(f"the file is {detected}; the referral declared {declared.media_type}")
    if detected is None and filetype.get_type(mime=declared.media_type) is not None:
        raise _type_mismatch(f"the file is not recognisable as {declared.media_type}")
    if declared.media_type not in _DECODED_IMAGES:
        return Inspection(detected)
    # Opening reads the header only; the size is checked before a pixel is decoded. (Pillow's
    # own bomb check, at 89 M pixels, warns or raises first for the largest: refused alike.)
    formats = [_PILLOW_FORMATS[declared.media_type]]  # never another decoder's parser
    try:
        with _DECODING, plain() as stream, Image.open(stream, formats=formats) as image:
            width, height = image.size
            if width * height > settings.max_image_pixels:
                raise Problem(
                    422, ProblemCode.IMAGE_TOO_LARGE,
                    f"{width} x {height} pixels; at most {settings.max_image_pixels}",
                )  # fmt: skip
            decoded = width * height * _bytes_per_pixel(image.mode)
            if decoded > settings.max_image_decoded_bytes:
                raise Problem(
                    422, ProblemCode.IMAGE_TOO_LARGE,
                    f"{width} x {height} {image.mode} pixels decode to {decoded} bytes; "
                    f"at most {settings.max_image_decoded_bytes}",
                )  # fmt: skip
            computed = pdq_hash(image)  # decodes, a JPEG at a reduced size (draft mode)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Problem(
            422, ProblemCode.IMAGE_TOO_LARGE,
            f"the image has more than {settings.max_image_pixels} pixels",
        ) from None  # fmt: skip
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        raise _type_mismatch(f"the file does not decode as {declared.media_type}") from None
    return Inspection(detected, width, height, computed.hex, computed.quality)


def _bytes_per_pixel(mode: str) -> int:
    """Bands x bytes per band of a Pillow mode (RGBA: 4; I;16: 2; F: 4)."""
    try:
        described = ImageMode.getmode(mode)
    except KeyError:
        return 8  # an unusual mode: assume the widest
    return len(described.bands) * max(1, int(described.typestr[-1]))


def _child_refusal(detail: str) -> Problem:
    return Problem(422, ProblemCode.CHILD_IMAGE_REFUSED, detail)


def _check_child_text(plain: Callable[[], IO[bytes]], declared: Declared) -> None:
    """A child referral's file: an allowed text type, UTF-8 text to the last byte (no NUL),
    not a text-encoded picture (SVG, a Netpbm/XPM/XBM image Pillow recognises, a long run
    of base64)."""
    if declared.media_type not in CHILD_REFERRAL_TYPES:
        raise _child_refusal("a referral that suspects a child carries no file but text")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    tail = ""
    try:
        with plain() as stream:
            while chunk := stream.read(65536):
                text = tail + decoder.decode(chunk)
                _check_child_chunk(text)
                tail = text[-1100:]
            _check_child_chunk(tail + decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raise _child_refusal("the file is not UTF-8 text") from None
    try:
        with plain() as stream:
            Image.open(stream).close()  # is this a picture Pillow knows?
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        return
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        pass
    raise _child_refusal("the file is a picture written as text")


def _check_child_chunk(text: str) -> None:
    if "\x00" in text:
        raise _child_refusal("the file is not text (NUL bytes)")
    if "<svg" in text.lower():
        raise _child_refusal("the file holds an SVG picture")
    if _BASE64_RUN.search(text):
        raise _child_refusal("the file holds a long run of base64, where a picture can hide")


def store_encrypted(store: EvidenceStore, cipher: Path, sha256: str) -> bool:
    """Store the received file, encrypted as it arrived (``cipher``), under its SHA-256;
    ``True`` when this call stored it (``False``: the store held it already, written once)."""
    if store.exists(sha256):
        return False
    return store.put(sha256, cipher)


def record_upload(
    sessions: sessionmaker[Session],
    *,
    target: UploadTarget,
    inspection: Inspection,
    key_id: str,
    settings: Settings,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    """Write the attachment's row, its hashes as selectors and their links, in one
    transaction: (201, answer), or (200, the first answer) when another request stored the
    same file first."""
    declared = target.declared
    received_at = now.replace(microsecond=0)
    try:
        with write_guard(sessions), sessions() as session, session.begin():
            referral = session.get_one(tables.Referral, target.referral_pk, with_for_update=True)
            _refuse_gone(session, referral, declared)
            _refuse_child_pictures(session, referral, declared, inspection, settings)
            row = tables.ReferralAttachment(
                referral_pk=referral.id, attachment_id=declared.id, sha256=declared.sha256,
                size_bytes=declared.size_bytes, media_type=declared.media_type,
                detected_type=inspection.detected_type, received_at=received_at, key_id=key_id,
                width=inspection.width, height=inspection.height, pdq=inspection.pdq,
                pdq_quality=inspection.pdq_quality,
            )  # fmt: skip
            session.add(row)
            session.flush()
            if declared.media_type.startswith("image/"):
                _add_image_selectors(session, referral, declared, inspection, settings, now)
            record_event(
                session, actor=Actor("asw", target.asw_id), action="attachment.received",
                referral_pk=referral.id,
                detail={"referral_id": referral.referral_id, "attachment_id": declared.id,
                        "sha256": declared.sha256, "size_bytes": declared.size_bytes,
                        "key_id": key_id},
                at=received_at,
            )  # fmt: skip
            return 201, _answer(row, referral.referral_id, replayed=False)
    except IntegrityError:
        with sessions() as session:
            existing = _received(session, target.referral_pk, declared.id)
            if existing is None:
                raise
            return 200, _answer(existing, target.referral_id, replayed=True)


def _refuse_gone(session: Session, referral: tables.Referral, declared: Declared) -> None:
    """Under the referral's row lock, so an erasure that committed while the body streamed
    is seen: an erased referral, or one that no longer declares this file, keeps nothing
    (an upload in flight never resurrects erased evidence)."""
    erased = session.get(tables.ReferralErasure, referral.id)
    still = {(a.id, a.sha256) for a in declared_attachments(referral.document or {})}
    if erased is not None or (declared.id, declared.sha256) not in still:
        raise Problem(404, ProblemCode.NOT_FOUND, "no such referral")


def _refuse_child_pictures(
    session: Session,
    referral: tables.Referral,
    declared: Declared,
    inspection: Inspection,
    settings: Settings,
) -> None:
    """No picture of a child is kept, whichever referral it arrives with: a file whose
    SHA-256 or PDQ hash matches (within the match distance, whatever its quality) an image
    hash of a referral that suspects a child is refused, and so is any file but text for a
    referral in a cluster that suspects one."""
    if referral.cluster_id is not None:
        cluster = session.get(tables.Cluster, referral.cluster_id)
        if (
            cluster is not None
            and cluster.under_18
            and (declared.media_type not in CHILD_REFERRAL_TYPES)
        ):
            raise _child_refusal(
                "the referral's cluster suspects a child: no file but text is kept"
            )
    values = [f"sha256:{declared.sha256}"]
    if inspection.pdq is not None:
        values.append(f"pdq:{inspection.pdq}")
    child = tables.Referral.under_18.is_(True)
    exact = session.scalar(
        sa.select(sa.func.count())
        .select_from(tables.Selector)
        .join(tables.Referral, tables.Referral.id == tables.Selector.referral_pk)
        .where(tables.Selector.kind == "image_hash", tables.Selector.value.in_(values), child)
    )
    if exact:
        raise _child_refusal("the file matches a picture of a referral that suspects a child")
    if inspection.pdq is None:
        return
    chunk = tables.PdqChunk
    near = session.scalars(
        sa.select(chunk.pdq)
        .join(tables.Referral, tables.Referral.id == chunk.referral_pk)
        .where(chunk.chunk_key.in_(probe_keys(inspection.pdq)), child)
        .distinct()
    ).all()
    if any(hamming_distance(inspection.pdq, str(o)) <= settings.pdq_match_distance for o in near):
        raise _child_refusal("the file matches a picture of a referral that suspects a child")


def _add_image_selectors(
    session: Session,
    referral: tables.Referral,
    declared: Declared,
    inspection: Inspection,
    settings: Settings,
    now: datetime,
) -> None:
    """The file's SHA-256 and PDQ hash as ``image_hash`` selectors of the referral (unless it
    carries them already), then image linking (services/image_linking.py)."""
    values = [f"sha256:{declared.sha256}"]
    if inspection.pdq is not None:
        values.append(f"pdq:{inspection.pdq}")
    held = set(
        session.scalars(
            sa.select(tables.Selector.value).where(
                tables.Selector.referral_pk == referral.id,
                tables.Selector.kind == "image_hash",
                tables.Selector.value.in_(values),
            )
        )
    )
    new = [v for v in values if v not in held]
    if not new:
        return
    rows = session.execute(
        sa.insert(tables.Selector).returning(
            tables.Selector.id, tables.Selector.value, sort_by_parameter_order=True
        ),
        [{"referral_pk": referral.id, "kind": "image_hash", "value": v, "raw": v,
          "normalised": True, "entity_ref": declared.id} for v in new],
    ).all()  # fmt: skip
    stored = [StoredSelector(int(i), "image_hash", str(v)) for i, v in rows]
    if referral.is_test or referral.cluster_id is None:
        # A sandbox referral never links; one the linking worker has not linked yet gets
        # these selectors linked, counted and PDQ-matched with the rest of its own when it is
        # (services/linkworker.py), so doing it here would count them twice.
        return
    count_values(session, new, settings.over_correlation_threshold)
    link_images(
        session, referral=referral, selectors=stored, settings=settings, now=now,
        qualities={s.id: inspection.pdq_quality for s in stored if s.value.startswith("pdq:")},
        exact=True,
    )  # fmt: skip


def attachment_summaries(session: Session, referral: tables.Referral) -> list[dict[str, Any]]:
    """Each declared attachment and whether (and when) it arrived: the referral view's list."""
    received = {
        row.attachment_id: row
        for row in session.scalars(
            sa.select(tables.ReferralAttachment).where(
                tables.ReferralAttachment.referral_pk == referral.id
            )
        )
    }
    summaries: list[dict[str, Any]] = []
    for declared in declared_attachments(referral.document):
        row = received.get(declared.id)
        summaries.append(
            {
                "attachment_id": declared.id,
                "sha256": declared.sha256,
                "size_bytes": declared.size_bytes,
                "media_type": declared.media_type,
                "received": row is not None,
                "received_at": row.received_at if row is not None else None,
                "pdq": row.pdq if row is not None else None,
                "pdq_quality": row.pdq_quality if row is not None else None,
                "quarantined": row.quarantined if row is not None else False,
            }
        )
    return summaries


def open_content(
    session: Session,
    referral: tables.Referral,
    attachment_id: str,
    *,
    actor: Actor,
    reason: str,
    settings: Settings,
    action: str = "attachment.read",
) -> tuple[tables.ReferralAttachment, Iterator[bytes]]:
    """An audited read of a received file: its row and its decrypted bytes, authenticated
    segment by segment as they are sent (``action``: what the audit trail calls it)."""
    declared = {a.id for a in declared_attachments(referral.document)}
    if attachment_id not in declared:
        raise _refuse(
            404, ProblemCode.ATTACHMENT_NOT_DECLARED,
            "the referral declares no attachment with this id",
            parameter_pointer("path", "attachment_id"),
        )  # fmt: skip
    row = _received(session, referral.id, attachment_id)
    if row is None:
        raise Problem(404, ProblemCode.ATTACHMENT_NOT_RECEIVED, "the ASW has not sent this file")
    if row.quarantined:
        raise Problem(
            403, ProblemCode.ATTACHMENT_QUARANTINED,
            "a referral that suspects a child carries this picture: the file is not served",
        )  # fmt: skip
    record_event(
        session, actor=actor, action=action, referral_pk=referral.id, reason=reason,
        detail={"referral_id": referral.referral_id, "attachment_id": attachment_id,
                "sha256": row.sha256},
    )  # fmt: skip
    store = store_for(settings)
    stream = store.open(row.sha256)

    def chunks() -> Iterator[bytes]:
        digest = hashlib.sha256()
        try:
            for chunk in decrypt_stream(stream, key=settings.evidence_key, sha256=row.sha256):
                digest.update(chunk)
                yield chunk
        finally:
            stream.close()

    return row, chunks()


def objects_held_only_by(session: Session, referral_pk: int) -> list[str]:
    """The stored objects (SHA-256 names) no referral but this one refers to: what erasing
    it removes from the store."""
    mine = set(
        session.scalars(
            sa.select(tables.ReferralAttachment.sha256).where(
                tables.ReferralAttachment.referral_pk == referral_pk
            )
        )
    )
    shared = set(
        session.scalars(
            sa.select(tables.ReferralAttachment.sha256).where(
                tables.ReferralAttachment.sha256.in_(mine),
                tables.ReferralAttachment.referral_pk != referral_pk,
            )
        )
    )
    return sorted(mine - shared)


def forget_files(session: Session, referral_pk: int) -> None:
    """Erasure (services/retention.py): remove the referral's file rows, its PDQ index
    entries and its picture matches; the objects go with :func:`delete_objects`."""
    match = tables.ImageMatch
    session.execute(
        sa.delete(match).where(
            sa.or_(match.referral_pk == referral_pk, match.matched_referral_pk == referral_pk)
        )
    )
    session.execute(sa.delete(tables.PdqChunk).where(tables.PdqChunk.referral_pk == referral_pk))
    session.execute(
        sa.delete(tables.ReferralAttachment).where(
            tables.ReferralAttachment.referral_pk == referral_pk
        )
    )


def delete_objects(settings: Settings, names: list[str]) -> None:
    """Remove erased files from the store (after the erasure committed)."""
    store = store_for(settings)
    for name in names:
        store.delete(name)


THUMBNAIL_PIXELS: Final = 96
"""The longest side of a console thumbnail: enough to recognise a kind of picture, not a person."""


def blurred_thumbnail(
    session: Session, referral: tables.Referral, attachment_id: str, *, actor: Actor,
    settings: Settings,
) -> bytes:  # fmt: skip
    """A small, already-blurred PNG of a received image, made on the server (audited as
    ``attachment.thumbnail``): the console page never receives the original to blur in CSS."""
    row, chunks = open_content(
        session, referral, attachment_id, actor=actor, settings=settings,
        reason="console referral page: blurred thumbnail", action="attachment.thumbnail",
    )  # fmt: skip
    if row.media_type not in _DECODED_IMAGES:
        raise Problem(404, ProblemCode.NOT_FOUND, "the file is not an image with a thumbnail")
    with _DECODING:
        plain = io.BytesIO(b"".join(chunks))  # an accepted image: within the upload limits
        with Image.open(plain, formats=[_PILLOW_FORMATS[row.media_type]]) as image:
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            small = image.convert("RGB").filter(ImageFilter.GaussianBlur(6))
        out = io.BytesIO()
        small.save(out, format="PNG")
    return out.getvalue()


def quarantine_matching_files(
    session: Session, referral: tables.Referral, settings: Settings
) -> int:
    """Flag the stored files whose picture a referral that suspects a child carries (its
    ``sha256:`` image hashes exactly, its PDQ hashes within the match distance whatever
    their quality): they are never served again. Returns how many were flagged."""
    values = session.scalars(
        sa.select(tables.Selector.value).where(
            tables.Selector.referral_pk == referral.id, tables.Selector.kind == "image_hash"
        )
    ).all()
    attachment = tables.ReferralAttachment
    hits: set[int] = set(
        session.scalars(
            sa.select(attachment.id).where(
                attachment.sha256.in_([v[7:] for v in values if v.startswith("sha256:")])
            )
        )
    )
    # Only well-formed PDQ hashes (256 bits): the schema admits other lengths for any
    # algorithm, which no distance is defined for.
    for value in (v[4:] for v in values if PDQ_VALUE.fullmatch(v)):
        chunk = tables.PdqChunk
        rows = session.execute(
            sa.select(chunk.pdq, tables.Selector.referral_pk, tables.Selector.entity_ref)
            .join(tables.Selector, tables.Selector.id == chunk.selector_id)
            .where(chunk.chunk_key.in_(probe_keys(value)), chunk.referral_pk != referral.id)
            .distinct()
        ).all()
        for other, referral_pk, entity_ref in rows:
            if hamming_distance(value, str(other)) <= settings.pdq_match_distance:
                hits.update(
                    session.scalars(
                        sa.select(attachment.id).where(
                            attachment.referral_pk == referral_pk,
                            attachment.attachment_id == entity_ref,
                        )
                    )
                )
    if hits:
        session.execute(
            sa.update(attachment).where(attachment.id.in_(hits)).values(quarantined=True)
        )
    return len(hits)
