"""C2SP signed notes, checkpoints and cosignatures (c2sp.org/signed-note, tlog-checkpoint,
tlog-cosignature).

A log signs its checkpoint with an Ed25519 note key (signature type ``0x01``); a witness
cosigns it with a timestamped Ed25519 cosignature (type ``0x04``, the ``cosignature/v1``
message). Keys are exchanged as verifier keys (``vkey``): ``name+hex(key id)+base64(type ||
public key)``. Signing keys use Go's ``PRIVATE+KEY+name+hex(key id)+base64(type || seed)``
form so that keys move between this package and the Go tooling.

Written in the project (the formats are a few lines of text each) and checked against the
published vectors of c2sp.org/signed-note and golang.org/x/mod/sumdb/note.

Example::

    signer = NoteSigner.generate("receiver.example/log")
    note = sign_note(Checkpoint("receiver.example/log", 1, root).text(), [signer])
    verified = open_note(note, [signer.verifier])
    checkpoint = parse_checkpoint(verified.text)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from strive_schema.errors import LogCode, LogError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "PROMISE_HEADER",
    "Checkpoint",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "cosignature_message",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "parse_note",
    "promise_text",
    "sign_note",
    "verify_promise",
]

ALG_ED25519 = 0x01
"""Signature type of a log's own Ed25519 note signature."""
ALG_COSIGNATURE_V1 = 0x04
"""Signature type of a timestamped Ed25519 checkpoint cosignature."""
_DASH = "\u2014 "
_MAX_SIGNATURES = 64


def key_id(name: str, alg: int, public: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The message a ``cosignature/v1`` signs: header, time line, then the note text."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A public note key: Ed25519 (``0x01``) or an Ed25519 cosigner (``0x04``)."""

    name: str
    alg: int
    public: bytes

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise ValueError("a key name is non-empty with no spaces or plus signs")
        if self.alg not in (ALG_ED25519, ALG_COSIGNATURE_V1) or len(self.public) != 32:
            raise ValueError("only Ed25519 note keys (type 0x01 or 0x04) are supported")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public)

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.alg]) + self.public).decode()
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``name+hex(key id)+base64(type || key)``.

        Raises:
            ValueError: malformed, another algorithm, or a key id that does not match.
        """
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise ValueError("a verifier key is name+keyid+key")
        name, hex_id, material = parts
        try:
            raw = base64.b64decode(material, validate=True)
            claimed = int(hex_id, 16)
        except (binascii.Error, ValueError):
            raise ValueError("a verifier key's id or key is not well formed") from None
        if hex_id != hex_id.lower() or not raw:
            raise ValueError("a verifier key's id or key is not well formed")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.key_id != claimed:
            raise ValueError("the verifier key's id does not match its name and key")
        return verifier

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether ``signature`` (without the 4-byte key id) signs ``text``."""
        key = Ed25519PublicKey.from_public_bytes(self.public)
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != 72:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp >= 1 << 63:
                return False
            message, raw = cosignature_message(text, timestamp), signature[8:]
        else:
            message, raw = text.encode(), signature
        try:
            key.verify(raw, message)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """A private note key. Never shows its seed in ``repr()``."""

    def __init__(self, name: str, seed: bytes, alg: int = ALG_ED25519) -> None:
        private = Ed25519PrivateKey.from_private_bytes(seed)
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.verifier = NoteVerifier(name, alg, public)
        self._private = private
        self._seed = seed

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> NoteSigner:
        seed = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(name, seed, alg)

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+hex(key id)+base64(type || seed)`` (Go's form).

        Raises:
            ValueError: malformed, or the key id does not match.
        """
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("a signing key is PRIVATE+KEY+name+keyid+key")
        try:
            raw = base64.b64decode(parts[4], validate=True)
            claimed = int(parts[3], 16)
        except (binascii.Error, ValueError):
            raise ValueError("the signing key is not well formed") from None
        if len(raw) != 33:
            raise ValueError("the signing key is not an Ed25519 seed")
        signer = cls(parts[2], raw[1:], raw[0])
        if signer.verifier.key_id != claimed:
            raise ValueError("the signing key's id does not match")
        return signer

    @property
    def skey(self) -> str:
        v = self.verifier
        material = base64.b64encode(bytes([v.alg]) + self._seed).decode()
        return f"PRIVATE+KEY+{v.name}+{v.key_id:08x}+{material}"

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key itself (a witness signs its HTTP reads with it too)."""
        return self._private

    def sign(self, text: str, *, timestamp: int | None = None) -> bytes:
        """The signature bytes (key id first) over ``text``; cosigners sign at ``timestamp``
        (now by default)."""
        prefix = self.verifier.key_id.to_bytes(4, "big")
        if self.verifier.alg == ALG_COSIGNATURE_V1:
            moment = int(time.time()) if timestamp is None else timestamp
            message = cosignature_message(text, moment)
            return prefix + moment.to_bytes(8, "big") + self._private.sign(message)
        return prefix + self._private.sign(text.encode())

    def __repr__(self) -> str:
        return f"NoteSigner({self.verifier.vkey!r})"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key name, the key id and the signature bytes after it."""

    name: str
    key_id: int
    signature: bytes

    @property
    def line(self) -> str:
        encoded = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode()
        return f"{_DASH}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line for s in self.signatures)


def _malformed(detail: str) -> LogError:
    return LogError(LogCode.CHECKPOINT_MALFORMED, detail)


def parse_note(data: str | bytes) -> Note:
    """Split a signed note into text and signature lines (no signature is checked).

    Raises:
        LogError: ``log_checkpoint_malformed``.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("a note is UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise _malformed("a note holds no control characters but newlines")
    cut = data.rfind("\n\n")
    if cut < 0 or not data.endswith("\n"):
        raise _malformed("a note is text, a blank line and signature lines")
    text, block = data[: cut + 1], data[cut + 2 :]
    signatures: list[NoteSignature] = []
    # Split on "\n" only, as Go's note package does: str.splitlines() would also split on
    # U+2028, U+0085 and the like, so two parsers would see different signature lines.
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise _malformed("a signature line starts with an em dash and a space")
        name, _, encoded = line[len(_DASH) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:  # binascii.Error, or a non-ASCII character
            raise _malformed("a signature is not base64") from None
        if not _valid_name(name) or len(raw) < 5 or " " in encoded:
            raise _malformed("a signature line is name, space, base64(key id || signature)")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    if not signatures or len(signatures) > _MAX_SIGNATURES:
        raise _malformed(f"a note carries 1 to {_MAX_SIGNATURES} signatures")
    return Note(text, tuple(signatures))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: ``text`` (ending in a newline), a blank line, a line per signer."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text ends with one newline and has no blank line")
    signatures = []
    for signer in signers:
        raw = signer.sign(text)
        signatures.append(NoteSignature(signer.name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(signatures)).to_text()


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note with at least one good signature by a known key, and which keys signed it."""

    note: Note
    verified: tuple[tuple[NoteVerifier, NoteSignature], ...]

    @property
    def text(self) -> str:
        return self.note.text


def open_note(
    data: str | bytes,
    verifiers: Sequence[NoteVerifier],
    *,
    code: LogCode = LogCode.CHECKPOINT_SIGNATURE_INVALID,
) -> VerifiedNote:
    """Verify a note as c2sp.org/signed-note says: signatures by unknown keys are ignored,
    one by a known key that fails rejects the note, and at least one must verify.

    Raises:
        LogError: ``log_checkpoint_malformed``, or ``code`` (by default
            ``log_checkpoint_signature_invalid``) for a bad or missing signature.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[tuple[NoteVerifier, NoteSignature]] = []
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.text, signature.signature):
            raise LogError(code, f"the signature of {signature.name} does not verify")
        verified.append((verifier, signature))
    if not verified:
        raise LogError(code, "no signature by a known key")
    return VerifiedNote(note, tuple(verified))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head (c2sp.org/tlog-checkpoint): origin, size, root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text. Extension lines are refused: this log writes none.

    Raises:
        LogError: ``log_checkpoint_malformed``.
    """
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise _malformed("a checkpoint is origin, size and root hash lines")
    origin, size, root = lines[:3]
    if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise _malformed("the checkpoint's origin or size is malformed")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise _malformed("the root hash is not base64") from None
    if len(digest) != 32:
        raise _malformed("the root hash is not 32 bytes")
    return Checkpoint(origin, int(size), digest)


PROMISE_HEADER = "strive-log-promise/v1"
"""The first line of an inclusion promise (spec/transparency-log.md, "Maximum merge
delay"): never an origin, so a promise can never be read as a checkpoint."""


def promise_text(origin: str, leaf: bytes, include_by: int) -> str:
    """A promise's note text: the header, the log's origin, the entry's leaf hash (base64)
    and the POSIX time by which the entry is in a signed checkpoint."""
    if len(leaf) != 32 or include_by < 0:
        raise ValueError("a promise names a 32-byte leaf hash and a time")
    return f"{PROMISE_HEADER}\n{origin}\n{base64.b64encode(leaf).decode()}\n{include_by}\n"


def verify_promise(note: str | bytes, log_key: NoteVerifier, leaf: bytes) -> int:
    """Verify an inclusion promise signed by the log's key for ``leaf``; return its
    ``include_by`` time.

    Raises:
        LogError: ``log_promise_invalid`` - malformed, not signed by the log's key, or for
            another log or entry.
    """
    code = LogCode.PROMISE_INVALID
    try:
        opened = open_note(note, [log_key], code=code)
    except LogError as exc:
        raise LogError(code, exc.detail) from None
    lines = opened.text.split("\n")
    if len(lines) != 5 or lines[0] != PROMISE_HEADER or not lines[3].isdigit():
        raise LogError(code, "not an inclusion promise")
    if lines[1] != log_key.name or lines[2] != base64.b64encode(leaf).decode():
        raise LogError(code, "the promise is for another log or another entry")
    return int(lines[3])
