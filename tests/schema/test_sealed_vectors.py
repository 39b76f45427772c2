"""The sealed-package vectors, opened two ways: by ``strive_schema.sealed`` and, for the valid
ones, by a second route that follows spec/sealed-package.md with ``cryptography``'s HPKE and
Ed25519 APIs directly, never through the project's helpers."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, MLKEM768X25519PrivateKey, Suite

from strive_schema._sealed_vectors import SEALED_DIR, check_sealed_vectors
from strive_schema.errors import SealedPackageError
from strive_schema.keys import PublicKey
from strive_schema.sealed import RecipientDecryptionKeys, open_package

VECTORS = sorted(SEALED_DIR.glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_committed_vectors_check() -> None:
    assert check_sealed_vectors(SEALED_DIR) == []
    assert len(VECTORS) == 12


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector_opens_or_fails_with_its_code(path: Path) -> None:
    vector = _load(path)
    keys = RecipientDecryptionKeys.from_json(
        json.dumps(vector["recipient_decryption_keys"]).encode()
    )
    receiver = [PublicKey.from_jwk(vector["receiver_public_key_jwk"])]
    sealed = vector["sealed"].encode()
    expected = vector["expected"]
    if expected["opens"]:
        opened = open_package(sealed, keys, receiver_keys=receiver)
        assert opened.package_sha256 == expected["package_sha256"]
        assert opened.payload == expected["payload"].encode()
        assert [(f.name, f.sha256) for f in opened.files] == [
            (f["name"], f["sha256"]) for f in expected["files"]
        ]
    else:
        with pytest.raises(SealedPackageError) as caught:
            open_package(sealed, keys, receiver_keys=receiver)
        assert caught.value.code.value == expected["code"]


# -- the second route: the spec text, cryptography's APIs, nothing of strive_schema -------------


def _spec_open(vector: dict) -> bytes:
    """Open a sealed file as spec/sealed-package.md describes; return the signed payload."""
    document = json.loads(vector["sealed"])
    header = document["header"]
    assert header["sealed_version"] == 1
    assert (header["kdf_id"], header["aead_id"]) == (0x0001, 0x0002)
    info = b"strive-sealed-package-v1\x00" + rfc8785.dumps(header)
    ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    private_jwks = {
        (k["kty"], k.get("alg") or k.get("crv")): k
        for k in vector["recipient_decryption_keys"]["keys"]
    }
    if header["kem_id"] == 0x647A:
        seed = _b64url(private_jwks[("AKP", "MLKEM768-X25519")]["priv"])
        expanded = hashlib.shake_256(seed).digest(96)
        kem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        dh_key = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        key = MLKEM768X25519PrivateKey(kem_key, dh_key)
        public = kem_key.public_key().public_bytes_raw() + dh_key.public_key().public_bytes_raw()
        suite = Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
    else:
        assert header["kem_id"] == 0x0020
        key = x25519.X25519PrivateKey.from_private_bytes(
            _b64url(private_jwks[("OKP", "X25519")]["d"])
        )
        public = key.public_key().public_bytes_raw()
        suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
    key_id = base64.urlsafe_b64encode(hashlib.sha256(public).digest()).rstrip(b"=").decode()
    assert header["recipient_key_id"] == key_id
    envelope = json.loads(suite.decrypt(ciphertext, key, info=info))
    assert envelope["payloadType"] == "application/vnd.strive.package.v1+json"
    payload = base64.b64decode(envelope["payload"])
    type_bytes = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)
    receiver = Ed25519PublicKey.from_public_bytes(_b64url(vector["receiver_public_key_jwk"]["x"]))
    receiver.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae)
    return payload


@pytest.mark.parametrize("name", ["valid-pq-hybrid", "valid-classic-x25519"])
def test_valid_vectors_open_by_the_spec_alone(name: str) -> None:
    vector = _load(SEALED_DIR / f"{name}.json")
    payload = _spec_open(vector)
    assert hashlib.sha256(payload).hexdigest() == vector["expected"]["package_sha256"]
    manifest = json.loads(payload)
    assert manifest["recipient_id"] == json.loads(vector["sealed"])["header"]["recipient_id"]
    for item in manifest["files"]:
        assert hashlib.sha256(base64.b64decode(item["content"])).hexdigest() == item["sha256"]


@pytest.mark.parametrize("name", ["tampered-ciphertext", "tampered-header"])
def test_tampered_vectors_fail_by_the_spec_alone(name: str) -> None:
    # cryptography reports a failed HPKE open as InvalidTag (or ValueError on some backends).
    with pytest.raises((InvalidTag, ValueError)):
        _spec_open(_load(SEALED_DIR / f"{name}.json"))


def test_bad_signature_fails_by_the_spec_alone() -> None:
    with pytest.raises(InvalidSignature):
        _spec_open(_load(SEALED_DIR / "bad-signature.json"))
