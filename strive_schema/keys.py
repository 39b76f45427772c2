"""Ed25519 keys: the ASW's signing key, registered public keys, and computed key ids.

A key id is never chosen: it is the RFC 7638 JWK thumbprint (SHA-256, base64url without
padding) of the public key written as the OKP JWK ``{"crv":"Ed25519","kty":"OKP","x":"..."}``.
See ``spec/protocol.md``, "Keys and key ids".

Example::

    key = SigningKey.generate()
    pem = key.to_pem(password=b"correct horse")
    same = SigningKey.from_pem(pem, password=b"correct horse")
    assert same.key_id == key.key_id
    public = PublicKey.load(key.public_key.to_pem())

A :class:`SigningKey` never shows its private half: ``repr()`` and ``str()`` give only the
key id, and it refuses to be pickled or copied.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from strive_schema._internal import b64, strict_json
from strive_schema.errors import KeyFormatError

__all__ = ["JWK_ALGORITHM", "PublicKey", "SigningKey", "compute_key_id"]

#: The RFC 9864 fully-specified JOSE algorithm name published in every Strive JWK.
JWK_ALGORITHM = "Ed25519"
_RAW_KEY_LENGTH = 32
_SIGNATURE_LENGTH = 64


def _thumbprint_input(raw: bytes) -> bytes:
    # RFC 7638 section 3.2: the required OKP members (RFC 8037 section 2) in lexicographic
    # order, no whitespace. crv and kty are fixed ASCII and x is base64url, so no escaping
    # is ever needed and this literal is exactly what a JSON serialiser would produce.
    return b'{"crv":"Ed25519","kty":"OKP","x":"' + b64.url_encode(raw).encode("ascii") + b'"}'


def _key_id_of_raw(raw: bytes) -> str:
    return b64.url_encode(hashlib.sha256(_thumbprint_input(raw)).digest())


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _password_bytes(password: bytes | str | None) -> bytes | None:
    if password is None:
        return None
    data = password.encode("utf-8") if isinstance(password, str) else password
    if not data:
        raise KeyFormatError("an empty passphrase is not allowed")
    return data


class PublicKey:
    """An Ed25519 public key, as registered by a receiver for an ASW (or published by a receiver).

    Two instances are equal when they hold the same 32-byte key. Construct with one of the
    ``from_*`` class methods or :meth:`load`; the constructor takes a ``cryptography`` key.

    Raises:
        KeyFormatError: from the constructor, if ``key`` is not an Ed25519 public key.
    """

    __slots__ = ("_key", "_key_id", "_raw")

    def __init__(self, key: Ed25519PublicKey) -> None:
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError(f"expected an Ed25519 public key, got {type(key).__name__}")
        self._key = key
        self._raw = _raw_public(key)
        self._key_id = _key_id_of_raw(self._raw)

    @property
    def key_id(self) -> str:
        """The RFC 7638 JWK thumbprint of this key (43 base64url characters)."""
        return self._key_id

    @property
    def raw(self) -> bytes:
        """The 32-byte RFC 8032 encoding of the key."""
        return self._raw

    @property
    def thumbprint_input(self) -> bytes:
        """The exact bytes hashed to make :attr:`key_id` (RFC 7638 section 3)."""
        return _thumbprint_input(self._raw)

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        """Build from the 32-byte RFC 8032 encoding.

        Raises:
            KeyFormatError: ``raw`` is not 32 bytes.
        """
        if len(raw) != _RAW_KEY_LENGTH:
            raise KeyFormatError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        """Read a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo, RFC 8410).

        Raises:
            KeyFormatError: not a PEM public key, a private key was given, or the key is not
                Ed25519.
        """
        if b"PRIVATE KEY" in data:
            raise KeyFormatError("this is a private key; give the public key instead")
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError("not a PEM-encoded public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError(f"expected an Ed25519 public key, got {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object]) -> PublicKey:
        """Read an OKP JWK (RFC 8037) holding an Ed25519 public key.

        ``kty`` must be ``"OKP"``, ``crv`` ``"Ed25519"`` and ``x`` the unpadded base64url
        encoding of 32 bytes. When present, ``alg`` must be ``"Ed25519"`` (or the older
        ``"EdDSA"``), ``use`` must be ``"sig"``, and ``kid`` must equal the computed key id.

        Raises:
            KeyFormatError: any of the above does not hold, or the JWK holds a private key
                (member ``d``).
        """
        if "d" in jwk:
            raise KeyFormatError("this JWK holds a private key (member d); give the public JWK")
        if jwk.get("kty") != "OKP":
            raise KeyFormatError('expected a JWK with "kty": "OKP"')
        if jwk.get("crv") != "Ed25519":
            raise KeyFormatError('expected a JWK with "crv": "Ed25519"')
        if jwk.get("alg", JWK_ALGORITHM) not in (JWK_ALGORITHM, "EdDSA"):
            raise KeyFormatError('JWK member "alg" must be "Ed25519"')
        if jwk.get("use", "sig") != "sig":
            raise KeyFormatError('JWK member "use" must be "sig"')
        x = jwk.get("x")
        if not isinstance(x, str):
            raise KeyFormatError('JWK member "x" is missing or not a string')
        try:
            raw = b64.url_decode(x)
        except ValueError as exc:
            raise KeyFormatError('JWK member "x" is not canonical unpadded base64url') from exc
        key = cls.from_raw(raw)
        kid = jwk.get("kid")
        if kid is not None and kid != key.key_id:
            raise KeyFormatError('JWK member "kid" is not the RFC 7638 thumbprint of the key')
        return key

    @classmethod
    def load(cls, data: bytes) -> PublicKey:
        """Read a public key given either as PEM or as JWK JSON.

        Raises:
            KeyFormatError: the data is neither, or is not an Ed25519 public key.
        """
        stripped = data.strip()
        if stripped.startswith(b"-----BEGIN"):
            return cls.from_pem(stripped)
        if stripped.startswith(b"{"):
            try:
                value = strict_json.loads(stripped)
            except strict_json.StrictJSONError as exc:
                raise KeyFormatError(f"not a JWK: {exc}") from exc
            if not isinstance(value, dict):
                raise KeyFormatError("not a JWK: expected a JSON object")
            return cls.from_jwk(value)
        raise KeyFormatError("expected a PEM public key or a JWK")

    def to_jwk(self) -> dict[str, str]:
        """The published JWK: ``alg``, ``crv``, ``kid``, ``kty``, ``use`` and ``x``."""
        return {
            "alg": JWK_ALGORITHM,
            "crv": "Ed25519",
            "kid": self._key_id,
            "kty": "OKP",
            "use": "sig",
            "x": b64.url_encode(self._raw),
        }

    def to_jwk_json(self) -> bytes:
        """:meth:`to_jwk` as indented JSON with sorted members and a final newline."""
        return (json.dumps(self.to_jwk(), indent=2, sort_keys=True) + "\n").encode("ascii")

    def to_pem(self) -> bytes:
        """The key as a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Return whether ``signature`` is a valid Ed25519 signature of ``message``.

        Never raises for a wrong or malformed signature; it returns False.
        """
        if len(signature) != _SIGNATURE_LENGTH:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"PublicKey(key_id={self._key_id!r})"


class SigningKey:
    """An Ed25519 private key used to sign envelopes, receipts and HTTP requests.

    The private half never leaves this object except through :meth:`to_pem`: ``repr()`` and
    ``str()`` show only the key id, and pickling or copying raises TypeError.

    Raises:
        KeyFormatError: from the constructor, if ``key`` is not an Ed25519 private key.
    """

    __slots__ = ("_key", "_public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFormatError(f"expected an Ed25519 private key, got {type(key).__name__}")
        self._key = key
        self._public = PublicKey(key.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        """Create a new random key from the operating system's CSPRNG."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | str | None = None) -> SigningKey:
        """Read a PEM ``PRIVATE KEY`` or ``ENCRYPTED PRIVATE KEY`` (PKCS#8).

        Args:
            data: the PEM text.
            password: the passphrase (``str`` is encoded as UTF-8), for an encrypted key.

        Raises:
            KeyFormatError: not a PEM private key; encrypted without a passphrase given, or
                a passphrase given for an unencrypted key; wrong passphrase; not Ed25519.
        """
        secret = _password_bytes(password)
        try:
            key = serialization.load_pem_private_key(data, password=secret)
        except TypeError:  # how cryptography reports a passphrase given or missing wrongly
            if secret is None:
                raise KeyFormatError(
                    "the private key is encrypted; a passphrase is needed"
                ) from None
            raise KeyFormatError(
                "a passphrase was given but the private key is not encrypted"
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFormatError(
                "could not read the private key: not PEM PKCS#8, or the passphrase is wrong"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFormatError(f"expected an Ed25519 private key, got {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], password: bytes | str | None = None
    ) -> SigningKey:
        """Read a PEM private key from a file (see :meth:`from_pem`).

        Raises:
            OSError: the file cannot be read.
            KeyFormatError: as for :meth:`from_pem`.
        """
        with open(path, "rb") as handle:
            return cls.from_pem(handle.read(), password)

    def to_pem(self, password: bytes | str | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with ``password`` when one is given.

        Raises:
            KeyFormatError: the password is empty.
        """
        secret = _password_bytes(password)
        encryption: serialization.KeySerializationEncryption = (
            serialization.NoEncryption()
            if secret is None
            else serialization.BestAvailableEncryption(secret)
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return self._public

    @property
    def key_id(self) -> str:
        """The key id of the public key (see :func:`compute_key_id`)."""
        return self._public.key_id

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SigningKey cannot be pickled; store it with to_pem(password=...)")

    def __copy__(self) -> NoReturn:
        raise TypeError("a SigningKey cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("a SigningKey cannot be copied")


def compute_key_id(public_key: PublicKey | Ed25519PublicKey) -> str:
    """Return the key id of an Ed25519 public key: its RFC 7638 JWK thumbprint.

    Example: the RFC 8037 appendix A key (x = ``11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo``)
    has the key id ``kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k``.

    Raises:
        KeyFormatError: the key is not an Ed25519 public key.
    """
    if isinstance(public_key, PublicKey):
        return public_key.key_id
    return PublicKey(public_key).key_id
