"""Where evidence files are kept: content-addressed, written once, encrypted at rest.

An object's name is the SHA-256 of the file's plaintext (the digest the signed referral
declared), so the same file sent twice, or by two ASWs, is one object, and a stored object is
never overwritten: the filesystem store links a complete file into place (``os.link`` fails
when the name exists), the S3 store writes only a name it does not yet hold.

Encryption (spec/evidence-files.md, "Encryption at rest"): each object has its own random
256-bit data key, wrapped with AES-256-GCM under the receiver's evidence key (a key file,
``STRIVE_EVIDENCE_KEY_FILE``, never the database). The file is encrypted in 1 MiB segments,
each with AES-256-GCM under the data key: nonce = 7 random bytes, a 32-bit segment counter,
and a byte that is 1 on the last segment only (the STREAM construction of Hoang et al.), with
the file's SHA-256 as associated data. So a file is decrypted and authenticated segment by
segment as it is served, without being held in memory, and segments cannot be reordered,
dropped, truncated or swapped between files without failing authentication.

Object layout: ``STRVEF1\\n`` | key id (8 bytes: SHA-256 of the evidence key, first 8 bytes) |
wrap nonce (12) | wrapped data key (48) | stream nonce prefix (7) | segments.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strive_server.core.config import Settings

__all__ = [
    "SEGMENT_BYTES",
    "DecryptingReader",
    "EncryptingWriter",
    "EvidenceIntegrityError",
    "EvidenceStore",
    "FilesystemStore",
    "S3Store",
    "decrypt_stream",
    "encrypt_file",
    "store_for",
]

MAGIC: Final = b"STRVEF1\n"
SEGMENT_BYTES: Final = 1024 * 1024
_TAG: Final = 16
_PREFIX: Final = 7
_WRAP_AAD: Final = b"strive evidence data key"
_HEADER: Final = len(MAGIC) + 8 + 12 + 48 + _PREFIX


class EvidenceIntegrityError(Exception):
    """A stored object failed authentication: it was altered, truncated or is not the file
    its name says, or was encrypted under another key."""


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"strive evidence key id" + key).digest()[:8]


def _nonce(prefix: bytes, counter: int, *, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def encrypt_file(plain: Path, cipher: Path, *, key: bytes, sha256: str) -> None:
    """Encrypt the file ``plain`` into ``cipher`` (see the module docstring), segment by
    segment; ``sha256`` is the plaintext's digest, bound into every segment."""
    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce = secrets.token_bytes(12)
    wrapped = AESGCM(key).encrypt(wrap_nonce, data_key, _WRAP_AAD + bytes.fromhex(sha256))
    prefix = secrets.token_bytes(_PREFIX)
    aead = AESGCM(data_key)
    aad = bytes.fromhex(sha256)
    with plain.open("rb") as source, cipher.open("wb") as target:
        target.write(MAGIC + _key_id(key) + wrap_nonce + wrapped + prefix)
        counter = 0
        segment = source.read(SEGMENT_BYTES)
        while True:
            following = source.read(SEGMENT_BYTES)
            last = not following
            target.write(aead.encrypt(_nonce(prefix, counter, last=last), segment, aad))
            if last:
                break
            segment, counter = following, counter + 1


class EncryptingWriter:
    """Encrypt a file as its bytes arrive, into ``target`` (see the module docstring): the
    same object :func:`encrypt_file` makes, but no plaintext ever touches the disk. A full
    segment is written only once a byte beyond it has arrived, so that the last segment (the
    one that carries the ``last`` flag) is known when :meth:`finish` is called."""

    def __init__(self, target: IO[bytes], *, key: bytes, sha256: str) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce = secrets.token_bytes(12)
        self._aad = bytes.fromhex(sha256)
        wrapped = AESGCM(key).encrypt(wrap_nonce, data_key, _WRAP_AAD + self._aad)
        self._prefix = secrets.token_bytes(_PREFIX)
        self._aead = AESGCM(data_key)
        self._target = target
        self._buffer = bytearray()
        self._counter = 0
        target.write(MAGIC + _key_id(key) + wrap_nonce + wrapped + self._prefix)

    def _segment(self, data: bytes, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._counter, last=last)
        self._target.write(self._aead.encrypt(nonce, data, self._aad))
        self._counter += 1

    def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        while len(self._buffer) > SEGMENT_BYTES:
            self._segment(bytes(self._buffer[:SEGMENT_BYTES]), last=False)
            del self._buffer[:SEGMENT_BYTES]

    def finish(self) -> None:
        self._segment(bytes(self._buffer), last=True)
        self._buffer.clear()


class DecryptingReader(io.RawIOBase):
    """A stored (or staged) object's plaintext as a read-only stream, authenticated segment
    by segment: what the checks after an upload read, so they never need a plaintext file."""

    def __init__(self, source: IO[bytes], *, key: bytes, sha256: str) -> None:
        self._source = source
        self._segments = decrypt_stream(source, key=key, sha256=sha256)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._segments)
            except StopIteration:
                return 0
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._source.close()
        super().close()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def decrypt_stream(stream: IO[bytes], *, key: bytes, sha256: str) -> Iterator[bytes]:
    """Yield the plaintext of an object read from ``stream``, one authenticated segment at a
    time. Raises :class:`EvidenceIntegrityError` at the first segment that fails (the caller
    has then sent only authenticated bytes)."""
    header = _read_exactly(stream, _HEADER)
    if len(header) != _HEADER or not header.startswith(MAGIC):
        raise EvidenceIntegrityError("not an evidence object")
    offset = len(MAGIC)
    key_id, offset = header[offset : offset + 8], offset + 8
    wrap_nonce, offset = header[offset : offset + 12], offset + 12
    wrapped, offset = header[offset : offset + 48], offset + 48
    prefix = header[offset : offset + _PREFIX]
    if key_id != _key_id(key):
        raise EvidenceIntegrityError("the object was encrypted under another evidence key")
    aad = bytes.fromhex(sha256)
    try:
        data_key = AESGCM(key).decrypt(wrap_nonce, wrapped, _WRAP_AAD + aad)
    except InvalidTag:
        raise EvidenceIntegrityError("the object's data key does not authenticate") from None
    aead = AESGCM(data_key)
    counter = 0
    segment = _read_exactly(stream, SEGMENT_BYTES + _TAG)
    while True:
        following = _read_exactly(stream, SEGMENT_BYTES + _TAG)
        last = not following
        try:
            yield aead.decrypt(_nonce(prefix, counter, last=last), segment, aad)
        except InvalidTag:
            raise EvidenceIntegrityError(f"segment {counter} does not authenticate") from None
        if last:
            return
        segment, counter = following, counter + 1


class EvidenceStore(Protocol):
    """A place for encrypted objects, by name (a SHA-256, lower-case hexadecimal)."""

    def exists(self, name: str) -> bool: ...

    def put(self, name: str, source: Path) -> bool:
        """Store the complete file ``source`` under ``name`` unless the name is held;
        ``True`` when this call stored it. Never overwrites."""
        ...

    def open(self, name: str) -> IO[bytes]:
        """The stored object, for reading (raises ``FileNotFoundError`` when absent)."""
        ...

    def delete(self, name: str) -> None:
        """Remove an object no row refers to (a store whose database write then failed)."""
        ...

    def holds_objects(self) -> bool:
        """Whether any object is stored (before a new key is made: see Settings)."""
        ...


@dataclass(frozen=True)
class FilesystemStore:
    """Objects as files under ``root/ab/cd/<name>``, mode 0600."""

    root: Path

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / name[2:4] / name

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def put(self, name: str, source: Path) -> bool:
        target = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as data:
                while chunk := data.read(SEGMENT_BYTES):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(staging, 0o600)
            try:
                os.link(staging, target)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(staging)

    def open(self, name: str) -> IO[bytes]:
        return self._path(name).open("rb")

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def holds_objects(self) -> bool:
        if not self.root.is_dir():
            return False
        return any(
            p.is_file() and not p.name.startswith(".")
            for p in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*")
        )


class S3Store:
    """Objects in an S3-compatible bucket under ``prefix + name`` (boto3)."""

    def __init__(self, settings: Settings) -> None:
        import boto3  # noqa: PLC0415 - only deployments using S3 pay for importing it

        if not settings.s3_bucket:
            raise ValueError("STRIVE_S3_BUCKET is required for the S3 evidence store")
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.client: Any = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region
        )

    def _key(self, name: str) -> str:
        return self.prefix + name

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put(self, name: str, source: Path) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        if self.exists(name):
            return False
        # One conditional PUT, streamed from the file: write-once is enforced by the server
        # (If-None-Match: *), not by the check above, which two writers can both pass.
        try:
            with source.open("rb") as body:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(name), Body=body, IfNoneMatch="*"
                )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False  # another writer stored (or is storing) the same object
            raise
        return True

    def open(self, name: str) -> IO[bytes]:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(name) from None
            raise
        body: IO[bytes] = response["Body"]
        return body

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def holds_objects(self) -> bool:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        return bool(listing.get("KeyCount", 0))


_S3_STORES: dict[tuple[str | None, ...], S3Store] = {}


def store_for(settings: Settings) -> EvidenceStore:
    """The store the settings choose (one S3 client per bucket and endpoint: creating one
    is slow, and boto3 clients are thread-safe)."""
    if settings.evidence_store == "s3":
        place = (settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url,
                 settings.s3_region)  # fmt: skip
        store = _S3_STORES.get(place)
        if store is None:
            store = _S3_STORES[place] = S3Store(settings)
        return store
    return FilesystemStore(settings.evidence_path)
