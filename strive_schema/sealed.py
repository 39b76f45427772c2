"""Sealed intelligence packages: signed by the receiver, sealed to one recipient with HPKE.

A package leaves the receiver as a *sealed file*: a small JSON document whose ``header``
names the suite and the recipient and whose ``ciphertext`` is the HPKE (RFC 9180, base mode,
single shot) encryption of a DSSE envelope signed by the receiver. Signing happens first, so
only the recipient learns the content, and the receiver's signature is checked after
opening. The header is bound into HPKE's ``info``, so a changed header fails to open. The
normative description is ``spec/sealed-package.md``.

Receiver side::

    payload = build_package_payload(manifest)
    sealed = seal_package(payload, receiver_keys=[receiver_key], recipient_key=public_key,
                          recipient_id="met-sexual-exploitation", receiver_id="receiver.example")

Recipient side::

    opened = open_package(sealed, decryption_keys, receiver_keys=published_receiver_keys)
    for item in opened.files: ...

Every failure to open raises :class:`~strive_schema.errors.SealedPackageError` with one
stable :class:`~strive_schema.errors.SealedCode`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, unique
from typing import Final, NoReturn

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.hpke import (
    AEAD,
    KDF,
    KEM,
    MLKEM768X25519PrivateKey,
    MLKEM768X25519PublicKey,
)
from cryptography.hazmat.primitives.hpke import Suite as HpkeSuite

from strive_schema._internal import b64, strict_json, timestamps
from strive_schema.envelope import sign_envelope, verify_envelope
from strive_schema.errors import (
    KeyFormatError,
    SealedCode,
    SealedPackageError,
    VerificationError,
)
from strive_schema.keys import PublicKey, SigningKey

__all__ = [
    "INFO_PREFIX",
    "PACKAGE_PAYLOAD_TYPE",
    "SEALED_VERSION",
    "Grading",
    "OpenedPackage",
    "PackageFile",
    "PackageManifest",
    "RecipientDecryptionKeys",
    "RecipientPublicKey",
    "SealSuite",
    "SealedHeader",
    "build_package_payload",
    "open_package",
    "parse_manifest",
    "read_header",
    "recipient_key_id",
    "seal_package",
]

#: The only sealed-file version this module writes and reads.
SEALED_VERSION: Final = 1
#: The payload type of the receiver's signed package (the HPKE plaintext is a DSSE envelope).
PACKAGE_PAYLOAD_TYPE: Final = "application/vnd.strive.package.v1+json"
#: HPKE ``info`` is this prefix followed by the RFC 8785 form of the header.
INFO_PREFIX: Final = b"strive-sealed-package-v1\x00"

_TAG_LENGTH = 16
_XWING_SEED_LENGTH = 32
_X25519_LENGTH = 32
_MLKEM768_PUBLIC_LENGTH = 1184
_HEADER_MEMBERS = frozenset(
    {
        "sealed_version",
        "suite",
        "kem_id",
        "kdf_id",
        "aead_id",
        "recipient_id",
        "recipient_key_id",
        "receiver_id",
        "content_type",
    }
)
_FILE_MEMBERS = frozenset({"header", "ciphertext"})
_MANIFEST_MEMBERS = frozenset(
    {
        "package_version",
        "dissemination_id",
        "receiver_id",
        "recipient_id",
        "issued_at",
        "reason",
        "grading",
        "referrals",
        "files",
    }
)
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _fail(code: SealedCode, detail: str) -> SealedPackageError:
    return SealedPackageError(code, detail)


@unique
class SealSuite(StrEnum):
    """The two HPKE suites a sealed file may state."""

    PQ_HYBRID = "MLKEM768-X25519/HKDF-SHA256/AES-256-GCM"
    """Post-quantum hybrid: KEM 0x647A (MLKEM768-X25519, the X-Wing combiner)."""
    CLASSIC = "X25519/HKDF-SHA256/AES-256-GCM"
    """Classical, for recipients that cannot yet use the hybrid: KEM 0x0020
    DHKEM(X25519, HKDF-SHA256)."""


@dataclass(frozen=True)
class _SuiteParameters:
    kem_id: int
    kdf_id: int
    aead_id: int
    enc_length: int
    kem: KEM


_SUITES: Final[dict[SealSuite, _SuiteParameters]] = {
    SealSuite.PQ_HYBRID: _SuiteParameters(0x647A, 0x0001, 0x0002, 1120, KEM.MLKEM768_X25519),
    SealSuite.CLASSIC: _SuiteParameters(0x0020, 0x0001, 0x0002, 32, KEM.X25519),
}


def _hpke(suite: SealSuite) -> HpkeSuite:
    return HpkeSuite(_SUITES[suite].kem, KDF.HKDF_SHA256, AEAD.AES_256_GCM)


def recipient_key_id(public_bytes: bytes) -> str:
    """A recipient encryption key's id: base64url (unpadded) of SHA-256 of its public bytes
    (``pk_M || pk_X`` for the hybrid, the 32 raw bytes for X25519)."""
    return b64.url_encode(hashlib.sha256(public_bytes).digest())


def _xwing_components(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    # draft-connolly-cfrg-xwing-kem: expand the 32-byte seed with SHAKE256 to 96 bytes; the
    # first 64 are the ML-KEM-768 seed (d || z), the last 32 the X25519 private key.
    expanded = hashlib.shake_256(seed).digest(96)
    return (
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


class RecipientPublicKey:
    """A recipient's public encryption key for one suite.

    Raises:
        KeyFormatError: from the constructor, if the bytes have the wrong length or are not a
            valid key for the suite.
    """

    __slots__ = ("_key", "key_id", "raw", "suite")

    def __init__(self, suite: SealSuite, raw: bytes) -> None:
        self.suite = SealSuite(suite)
        self.raw = bytes(raw)
        self.key_id = recipient_key_id(self.raw)
        try:
            if self.suite is SealSuite.PQ_HYBRID:
                if len(raw) != _MLKEM768_PUBLIC_LENGTH + _X25519_LENGTH:
                    raise KeyFormatError("an MLKEM768-X25519 public key is 1216 bytes")
                self._key: MLKEM768X25519PublicKey | x25519.X25519PublicKey = (
                    MLKEM768X25519PublicKey(
                        mlkem.MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUBLIC_LENGTH]),
                        x25519.X25519PublicKey.from_public_bytes(raw[_MLKEM768_PUBLIC_LENGTH:]),
                    )
                )
            else:
                if len(raw) != _X25519_LENGTH:
                    raise KeyFormatError("an X25519 public key is 32 bytes")
                self._key = x25519.X25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise KeyFormatError(f"not a valid {self.suite.value} public key") from exc

    @property
    def hpke_key(self) -> MLKEM768X25519PublicKey | x25519.X25519PublicKey:
        """The ``cryptography`` key HPKE encrypts to."""
        return self._key

    def to_jwk(self) -> dict[str, str]:
        """The published JWK: ``AKP`` / ``MLKEM768-X25519`` for the hybrid, ``OKP`` / ``X25519``
        for the classical key, both with ``use`` ``enc`` and ``kid`` the key id."""
        if self.suite is SealSuite.PQ_HYBRID:
            return {
                "alg": "MLKEM768-X25519",
                "kid": self.key_id,
                "kty": "AKP",
                "pub": b64.url_encode(self.raw),
                "use": "enc",
            }
        return {
            "crv": "X25519",
            "kid": self.key_id,
            "kty": "OKP",
            "use": "enc",
            "x": b64.url_encode(self.raw),
        }

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object]) -> RecipientPublicKey:
        """Read a recipient encryption JWK (see :meth:`to_jwk`).

        Raises:
            KeyFormatError: not one of the two forms, a private member present, or a ``kid``
                that is not the key id.
        """
        if "d" in jwk or "priv" in jwk:
            raise KeyFormatError("this JWK holds a private key; give the public JWK")
        if jwk.get("use", "enc") != "enc":
            raise KeyFormatError('an encryption JWK has "use": "enc"')
        if jwk.get("kty") == "AKP" and jwk.get("alg") == "MLKEM768-X25519":
            suite, member = SealSuite.PQ_HYBRID, "pub"
        elif jwk.get("kty") == "OKP" and jwk.get("crv") == "X25519":
            suite, member = SealSuite.CLASSIC, "x"
        else:
            raise KeyFormatError("expected an MLKEM768-X25519 (AKP) or X25519 (OKP) JWK")
        text = jwk.get(member)
        if not isinstance(text, str):
            raise KeyFormatError(f'JWK member "{member}" is missing or not a string')
        try:
            raw = b64.url_decode(text)
        except ValueError as exc:
            raise KeyFormatError(f'JWK member "{member}" is not canonical base64url') from exc
        key = cls(suite, raw)
        if jwk.get("kid", key.key_id) != key.key_id:
            raise KeyFormatError('JWK member "kid" is not the key id of the key')
        return key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecipientPublicKey):
            return NotImplemented
        return (self.suite, self.raw) == (other.suite, other.raw)

    def __hash__(self) -> int:
        return hash((self.suite, self.raw))

    def __repr__(self) -> str:
        return f"RecipientPublicKey(suite={self.suite.value!r}, key_id={self.key_id!r})"


class RecipientDecryptionKeys:
    """A recipient's private decryption keys: an X-Wing seed for the hybrid suite and/or an
    X25519 private key for the classical suite. ``repr()`` never shows them.

    Raises:
        KeyFormatError: from the constructor, if neither key is given or one has the wrong
            length.
    """

    __slots__ = ("_classic", "_hybrid", "_x25519", "_xwing_seed")

    def __init__(self, *, xwing_seed: bytes | None, x25519_private: bytes | None) -> None:
        if xwing_seed is None and x25519_private is None:
            raise KeyFormatError("a decryption key file holds at least one key")
        if xwing_seed is not None and len(xwing_seed) != _XWING_SEED_LENGTH:
            raise KeyFormatError("an MLKEM768-X25519 private key is a 32-byte seed")
        if x25519_private is not None and len(x25519_private) != _X25519_LENGTH:
            raise KeyFormatError("an X25519 private key is 32 bytes")
        self._xwing_seed = xwing_seed
        self._x25519 = x25519_private
        self._hybrid: tuple[MLKEM768X25519PrivateKey, RecipientPublicKey] | None = None
        self._classic: tuple[x25519.X25519PrivateKey, RecipientPublicKey] | None = None
        if xwing_seed is not None:
            kem_key, dh_key = _xwing_components(xwing_seed)
            public = (
                kem_key.public_key().public_bytes_raw() + dh_key.public_key().public_bytes_raw()
            )
            self._hybrid = (
                MLKEM768X25519PrivateKey(kem_key, dh_key),
                RecipientPublicKey(SealSuite.PQ_HYBRID, public),
            )
        if x25519_private is not None:
            key = x25519.X25519PrivateKey.from_private_bytes(x25519_private)
            self._classic = (
                key,
                RecipientPublicKey(SealSuite.CLASSIC, key.public_key().public_bytes_raw()),
            )

    @classmethod
    def generate(cls) -> RecipientDecryptionKeys:
        """New hybrid and classical keys from the operating system's CSPRNG."""
        return cls(
            xwing_seed=secrets.token_bytes(_XWING_SEED_LENGTH),
            x25519_private=x25519.X25519PrivateKey.generate().private_bytes_raw(),
        )

    def public_keys(self) -> list[RecipientPublicKey]:
        """The public halves, hybrid first."""
        return [pair[1] for pair in (self._hybrid, self._classic) if pair is not None]

    def for_suite(
        self, suite: SealSuite
    ) -> tuple[MLKEM768X25519PrivateKey | x25519.X25519PrivateKey, RecipientPublicKey] | None:
        """The private key and its public half for ``suite``, or None when this file has none."""
        return self._hybrid if suite is SealSuite.PQ_HYBRID else self._classic

    def to_json(self) -> bytes:
        """The decryption key file: a JWK Set of private JWKs (keep it secret)."""
        keys: list[dict[str, str]] = []
        if self._hybrid is not None and self._xwing_seed is not None:
            keys.append({**self._hybrid[1].to_jwk(), "priv": b64.url_encode(self._xwing_seed)})
        if self._classic is not None and self._x25519 is not None:
            keys.append({**self._classic[1].to_jwk(), "d": b64.url_encode(self._x25519)})
        return strict_json.dumps_compact({"keys": keys}) + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> RecipientDecryptionKeys:
        """Read a decryption key file (see :meth:`to_json`).

        Raises:
            KeyFormatError: not such a file, or a public member that does not match the
                private key beside it.
        """
        try:
            document = strict_json.loads(data.strip())
        except strict_json.StrictJSONError as exc:
            raise KeyFormatError(f"not a decryption key file: {exc}") from None
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not entries:
            raise KeyFormatError('a decryption key file is a JWK Set with "keys"')
        seed: bytes | None = None
        dh: bytes | None = None
        declared: set[RecipientPublicKey] = set()
        for entry in entries:
            if not isinstance(entry, dict):
                raise KeyFormatError("each key is a JSON object")
            private_member = "priv" if entry.get("kty") == "AKP" else "d"
            text = entry.get(private_member)
            if not isinstance(text, str):
                raise KeyFormatError(f'a private JWK needs member "{private_member}"')
            try:
                secret = b64.url_decode(text)
            except ValueError as exc:
                raise KeyFormatError("a private member is not canonical base64url") from exc
            public = RecipientPublicKey.from_jwk(
                {k: v for k, v in entry.items() if k != private_member}
            )
            declared.add(public)
            if public.suite is SealSuite.PQ_HYBRID:
                seed = secret
            else:
                dh = secret
        keys = cls(xwing_seed=seed, x25519_private=dh)
        if declared != set(keys.public_keys()):
            raise KeyFormatError("a public member does not match its private key")
        return keys

    def __repr__(self) -> str:
        return f"RecipientDecryptionKeys(key_ids={[k.key_id for k in self.public_keys()]!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("decryption keys cannot be pickled")


# -- the package inside ---------------------------------------------------------------------


@dataclass(frozen=True)
class Grading:
    """3x5x2 intelligence grading (College of Policing APP, intelligence management).

    Raises:
        ValueError: from the constructor - a value outside 1/2/3, A-E or P/C; handling code
            C without conditions; conditions with handling code P.
    """

    source_evaluation: str
    """1 reliable, 2 untested, 3 not reliable."""
    intelligence_assessment: str
    """A known directly, B known indirectly but corroborated, C known indirectly, D not
    known, E suspected to be false."""
    handling_code: str
    """P lawful sharing permitted; C lawful sharing permitted with conditions."""
    handling_conditions: str | None = None

    def __post_init__(self) -> None:
        if self.source_evaluation not in ("1", "2", "3"):
            raise ValueError("source_evaluation is 1, 2 or 3")
        if self.intelligence_assessment not in ("A", "B", "C", "D", "E"):
            raise ValueError("intelligence_assessment is A, B, C, D or E")
        if self.handling_code not in ("P", "C"):
            raise ValueError("handling_code is P or C")
        conditions = (self.handling_conditions or "").strip()
        if self.handling_code == "C" and not conditions:
            raise ValueError("handling code C needs the handling conditions")
        if self.handling_code == "P" and conditions:
            raise ValueError("handling conditions are given only with handling code C")

    @property
    def code(self) -> str:
        """The grading as written on a package, e.g. ``1/B/P`` or ``2/C/C``."""
        return f"{self.source_evaluation}/{self.intelligence_assessment}/{self.handling_code}"

    def to_json(self) -> dict[str, str | None]:
        return {
            "handling_code": self.handling_code,
            "handling_conditions": self.handling_conditions,
            "intelligence_assessment": self.intelligence_assessment,
            "source_evaluation": self.source_evaluation,
        }


@dataclass(frozen=True, repr=False)
class PackageFile:
    """One file of a package: a safe file name, its media type and its bytes."""

    name: str
    media_type: str
    content: bytes

    def __post_init__(self) -> None:
        if _FILE_NAME.fullmatch(self.name) is None:
            raise ValueError("a package file name is 1-128 of A-Z a-z 0-9 . _ - (no path)")
        if not self.media_type:
            raise ValueError("a package file needs a media type")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def __repr__(self) -> str:
        return f"PackageFile(name={self.name!r}, media_type={self.media_type!r}, sha256=...)"


@dataclass(frozen=True, repr=False)
class PackageManifest:
    """What the receiver signs: who sends what to whom, why, graded how, and the files."""

    dissemination_id: str
    receiver_id: str
    recipient_id: str
    issued_at: datetime
    reason: str
    grading: Grading
    referrals: tuple[tuple[str, str], ...]
    """(asw_id, referral_id) of each referral in the package: what the recipient names when
    it reports an outcome."""
    files: tuple[PackageFile, ...]

    def __post_init__(self) -> None:
        timestamps.require_aware(self.issued_at, "issued_at")
        if not (self.dissemination_id and self.receiver_id and self.recipient_id):
            raise ValueError("dissemination_id, receiver_id and recipient_id are required")
        if len({f.name for f in self.files}) != len(self.files):
            raise ValueError("package file names are unique")

    def __repr__(self) -> str:
        return (
            f"PackageManifest(dissemination_id={self.dissemination_id!r}, "
            f"recipient_id={self.recipient_id!r}, files={[f.name for f in self.files]!r})"
        )


def build_package_payload(manifest: PackageManifest) -> bytes:
    """The signed payload: compact UTF-8 JSON with sorted members (``spec/sealed-package.md``).

    Its SHA-256 is the *package digest* the receiver keeps.
    """
    return strict_json.dumps_compact(
        {
            "dissemination_id": manifest.dissemination_id,
            "files": [
                {
                    "content": b64.std_encode(f.content),
                    "media_type": f.media_type,
                    "name": f.name,
                    "sha256": f.sha256,
                }
                for f in manifest.files
            ],
            "grading": manifest.grading.to_json(),
            "issued_at": timestamps.format_utc(manifest.issued_at),
            "package_version": 1,
            "reason": manifest.reason,
            "receiver_id": manifest.receiver_id,
            "recipient_id": manifest.recipient_id,
            "referrals": [
                {"asw_id": asw_id, "referral_id": referral_id}
                for asw_id, referral_id in manifest.referrals
            ],
        }
    )


def _text(document: Mapping[str, object], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise _fail(SealedCode.SEALED_CONTENT_MALFORMED, f"{name} is not a string")
    return value


def parse_manifest(payload: bytes) -> PackageManifest:
    """Parse a verified package payload strictly, checking every file's digest.

    Raises:
        SealedPackageError: ``sealed_content_malformed``.
    """
    code = SealedCode.SEALED_CONTENT_MALFORMED
    try:
        document = strict_json.loads(payload)
    except strict_json.StrictJSONError as exc:
        raise _fail(code, f"the package is not strict JSON: {exc}") from None
    if not isinstance(document, dict) or set(document) != _MANIFEST_MEMBERS:
        raise _fail(code, "the package members are wrong")
    if document["package_version"] != 1 or type(document["package_version"]) is not int:
        raise _fail(code, "package_version is not 1")
    grading_doc, referral_docs, file_docs = (
        document["grading"], document["referrals"], document["files"]
    )  # fmt: skip
    if not isinstance(grading_doc, dict) or not isinstance(referral_docs, list):
        raise _fail(code, "grading or referrals has the wrong type")
    if not isinstance(file_docs, list):
        raise _fail(code, "files is not an array")
    try:
        conditions = grading_doc.get("handling_conditions")
        grading = Grading(
            source_evaluation=_text(grading_doc, "source_evaluation"),
            intelligence_assessment=_text(grading_doc, "intelligence_assessment"),
            handling_code=_text(grading_doc, "handling_code"),
            handling_conditions=conditions if isinstance(conditions, str) else None,
        )
        referrals = []
        for entry in referral_docs:
            if not isinstance(entry, dict):
                raise _fail(code, "a referral entry is not an object")
            referrals.append((_text(entry, "asw_id"), _text(entry, "referral_id")))
        files = []
        for entry in file_docs:
            if not isinstance(entry, dict) or set(entry) != {"content", "media_type", "name",
                                                              "sha256"}:  # fmt: skip
                raise _fail(code, "a file entry's members are wrong")
            item = PackageFile(
                _text(entry, "name"),
                _text(entry, "media_type"),
                b64.std_decode(_text(entry, "content")),
            )
            if item.sha256 != _text(entry, "sha256"):
                raise _fail(code, f"the digest of {item.name} does not match its content")
            files.append(item)
        return PackageManifest(
            dissemination_id=_text(document, "dissemination_id"),
            receiver_id=_text(document, "receiver_id"),
            recipient_id=_text(document, "recipient_id"),
            issued_at=timestamps.parse_utc(_text(document, "issued_at")),
            reason=_text(document, "reason"),
            grading=grading,
            referrals=tuple(referrals),
            files=tuple(files),
        )
    except ValueError as exc:
        raise _fail(code, f"the package is invalid: {exc}") from None


# -- the sealed file --------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedHeader:
    """The clear header of a sealed file: the suite and to whom it is sealed."""

    suite: SealSuite
    recipient_id: str
    recipient_key_id: str
    receiver_id: str

    def to_json(self) -> dict[str, object]:
        parameters = _SUITES[self.suite]
        return {
            "aead_id": parameters.aead_id,
            "content_type": PACKAGE_PAYLOAD_TYPE,
            "kdf_id": parameters.kdf_id,
            "kem_id": parameters.kem_id,
            "receiver_id": self.receiver_id,
            "recipient_id": self.recipient_id,
            "recipient_key_id": self.recipient_key_id,
            "sealed_version": SEALED_VERSION,
            "suite": self.suite.value,
        }

    def info(self) -> bytes:
        """HPKE ``info``: :data:`INFO_PREFIX` followed by the RFC 8785 form of the header."""
        return INFO_PREFIX + strict_json.canonical(self.to_json())


@dataclass(frozen=True, repr=False)
class OpenedPackage:
    """An opened, verified package."""

    header: SealedHeader
    manifest: PackageManifest
    payload: bytes
    """The exact signed payload bytes."""
    package_sha256: str
    """SHA-256 of :attr:`payload`: the digest the receiver recorded."""
    signer_key_id: str

    @property
    def files(self) -> tuple[PackageFile, ...]:
        return self.manifest.files

    def __repr__(self) -> str:
        return f"OpenedPackage(package_sha256={self.package_sha256!r}, {self.manifest!r})"


def seal_package(
    payload: bytes,
    *,
    receiver_keys: Sequence[SigningKey],
    recipient_key: RecipientPublicKey,
    recipient_id: str,
    receiver_id: str,
) -> bytes:
    """Sign ``payload`` with the receiver's key(s), then seal the envelope to the recipient.

    Returns the sealed file bytes (compact JSON and a final newline).

    Raises:
        ValueError: no signing keys, or an empty recipient or receiver id.
    """
    if not recipient_id or not receiver_id:
        raise ValueError("recipient_id and receiver_id must not be empty")
    envelope = sign_envelope(payload, PACKAGE_PAYLOAD_TYPE, receiver_keys).to_json()
    header = SealedHeader(recipient_key.suite, recipient_id, recipient_key.key_id, receiver_id)
    ciphertext = _hpke(recipient_key.suite).encrypt(
        envelope, recipient_key.hpke_key, info=header.info()
    )
    document = {"ciphertext": b64.std_encode(ciphertext), "header": header.to_json()}
    return strict_json.dumps_compact(document) + b"\n"


def read_header(sealed: bytes) -> tuple[SealedHeader, bytes]:
    """Parse a sealed file without opening it: the header and the HPKE ciphertext.

    Raises:
        SealedPackageError: ``sealed_malformed``, ``sealed_suite_unsupported`` or
            ``sealed_suite_mismatch``.
    """
    malformed = SealedCode.SEALED_MALFORMED
    try:
        document = strict_json.loads(sealed.rstrip(b"\n"))
    except strict_json.StrictJSONError as exc:
        raise _fail(malformed, f"not a sealed file (truncated?): {exc}") from None
    if not isinstance(document, dict) or set(document) != _FILE_MEMBERS:
        raise _fail(malformed, 'a sealed file has exactly "header" and "ciphertext"')
    header, text = document["header"], document["ciphertext"]
    if not isinstance(header, dict) or set(header) != _HEADER_MEMBERS:
        raise _fail(malformed, "the header members are wrong")
    if not isinstance(text, str):
        raise _fail(malformed, "ciphertext is not a string")
    if header["sealed_version"] != SEALED_VERSION or type(header["sealed_version"]) is not int:
        raise _fail(malformed, "sealed_version is not 1")
    strings = ("suite", "recipient_id", "recipient_key_id", "receiver_id", "content_type")
    for name in strings:
        if not isinstance(header[name], str) or not header[name]:
            raise _fail(malformed, f"header {name} is not a non-empty string")
    try:
        suite = SealSuite(str(header["suite"]))
    except ValueError:
        raise _fail(SealedCode.SEALED_SUITE_UNSUPPORTED, "the suite is not supported") from None
    parameters = _SUITES[suite]
    if (header["kem_id"], header["kdf_id"], header["aead_id"]) != (
        parameters.kem_id,
        parameters.kdf_id,
        parameters.aead_id,
    ) or header["content_type"] != PACKAGE_PAYLOAD_TYPE:
        raise _fail(SealedCode.SEALED_SUITE_MISMATCH, "the algorithm ids do not match the suite")
    try:
        ciphertext = b64.std_decode(text)
    except ValueError:
        raise _fail(malformed, "ciphertext is not canonical padded base64") from None
    if len(ciphertext) < parameters.enc_length + _TAG_LENGTH:
        raise _fail(malformed, "the ciphertext is too short (truncated)")
    parsed = SealedHeader(
        suite, str(header["recipient_id"]), str(header["recipient_key_id"]),
        str(header["receiver_id"]),
    )  # fmt: skip
    return parsed, ciphertext


def open_package(
    sealed: bytes,
    decryption_keys: RecipientDecryptionKeys,
    *,
    receiver_keys: Sequence[PublicKey],
    expected_recipient_id: str | None = None,
) -> OpenedPackage:
    """Open a sealed file: check the header, HPKE-open, verify the receiver's signature over
    the exact payload, then parse it.

    Raises:
        SealedPackageError: the codes of :func:`read_header`; then ``sealed_suite_mismatch``
            (the key file has no key for the suite), ``sealed_recipient_mismatch`` (sealed
            to another key, or to another recipient id), ``sealed_decrypt_failed``,
            ``sealed_signature_invalid``, ``sealed_content_malformed``, and
            ``sealed_recipient_mismatch`` when the signed package names another recipient
            or receiver than the header.
    """
    header, ciphertext = read_header(sealed)
    pair = decryption_keys.for_suite(header.suite)
    if pair is None:
        raise _fail(
            SealedCode.SEALED_SUITE_MISMATCH,
            f"the key file has no key for the suite {header.suite.value}",
        )
    private_key, public_key = pair
    if header.recipient_key_id != public_key.key_id:
        raise _fail(SealedCode.SEALED_RECIPIENT_MISMATCH, "the package is sealed to another key")
    if expected_recipient_id is not None and header.recipient_id != expected_recipient_id:
        raise _fail(SealedCode.SEALED_RECIPIENT_MISMATCH, "the package is addressed elsewhere")
    try:
        envelope = _hpke(header.suite).decrypt(ciphertext, private_key, info=header.info())
    except Exception:  # cryptography raises InvalidTag or ValueError; both mean "changed"
        raise _fail(
            SealedCode.SEALED_DECRYPT_FAILED, "HPKE open failed: the file was changed"
        ) from None
    try:
        verified = verify_envelope(envelope, receiver_keys, payload_type=PACKAGE_PAYLOAD_TYPE)
    except VerificationError as exc:
        raise _fail(
            SealedCode.SEALED_SIGNATURE_INVALID,
            f"the package is not signed by the receiver ({exc.code.value})",
        ) from None
    manifest = parse_manifest(verified.payload)
    if manifest.recipient_id != header.recipient_id or manifest.receiver_id != header.receiver_id:
        raise _fail(
            SealedCode.SEALED_RECIPIENT_MISMATCH,
            "the signed package names another recipient or receiver than its header",
        )
    return OpenedPackage(
        header=header,
        manifest=manifest,
        payload=verified.payload,
        package_sha256=hashlib.sha256(verified.payload).hexdigest(),
        signer_key_id=verified.key_id,
    )
