"""Keys: key ids, PEM and JWK formats, and keeping private keys out of sight."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from strive_schema._internal import b64
from strive_schema.errors import KeyFormatError, StriveError
from strive_schema.keys import PublicKey, SigningKey, compute_key_id

# RFC 8037 appendix A.1 (key) and A.3 (its RFC 7638 thumbprint).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def rfc8037_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.from_private_bytes(b64.url_decode(RFC8037_D)))


def test_key_id_is_the_rfc7638_thumbprint_from_rfc8037() -> None:
    public = PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X})
    assert public.key_id == RFC8037_THUMBPRINT
    assert rfc8037_key().key_id == RFC8037_THUMBPRINT
    assert public.thumbprint_input == (
        b'{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}'
    )


def test_compute_key_id_accepts_wrapped_and_cryptography_keys(asw_key: SigningKey) -> None:
    raw = Ed25519PrivateKey.generate().public_key()
    assert compute_key_id(raw) == PublicKey(raw).key_id
    assert compute_key_id(asw_key.public_key) == asw_key.key_id


def test_published_jwk_carries_alg_use_and_kid() -> None:
    jwk = rfc8037_key().public_key.to_jwk()
    assert jwk == {
        "alg": "Ed25519",
        "crv": "Ed25519",
        "kid": RFC8037_THUMBPRINT,
        "kty": "OKP",
        "use": "sig",
        "x": RFC8037_X,
    }
    assert PublicKey.from_jwk(jwk) == rfc8037_key().public_key


def test_signing_key_repr_and_str_show_only_the_key_id(asw_key: SigningKey) -> None:
    pem = asw_key.to_pem().decode()
    body = "".join(pem.splitlines()[1:-1])
    der = b64.std_decode(body)
    seed = der[-32:]
    for text in (repr(asw_key), str(asw_key), f"{asw_key}", f"{asw_key!r}"):
        assert asw_key.key_id in text
        assert body not in text
        assert seed.hex() not in text
        assert b64.url_encode(seed) not in text
        assert b64.std_encode(seed) not in text


def test_signing_key_cannot_be_pickled_or_copied(asw_key: SigningKey) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(asw_key)
    with pytest.raises(TypeError):
        copy.copy(asw_key)
    with pytest.raises(TypeError):
        copy.deepcopy(asw_key)


@pytest.mark.parametrize("passphrase", [b"correct horse battery", "correct horse \u00e9"])
def test_pem_passphrase_round_trip(asw_key: SigningKey, passphrase: bytes | str) -> None:
    pem = asw_key.to_pem(passphrase)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert SigningKey.from_pem(pem, passphrase).key_id == asw_key.key_id


def test_unencrypted_pem_round_trip(asw_key: SigningKey) -> None:
    pem = asw_key.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SigningKey.from_pem(pem).key_id == asw_key.key_id


def test_wrong_or_missing_passphrase_is_a_key_format_error(asw_key: SigningKey) -> None:
    pem = asw_key.to_pem(b"right")
    with pytest.raises(KeyFormatError, match="passphrase") as wrong:
        SigningKey.from_pem(pem, b"wrong-passphrase-123")
    assert "wrong-passphrase-123" not in str(wrong.value)
    assert isinstance(wrong.value, StriveError)
    with pytest.raises(KeyFormatError, match="passphrase is needed"):
        SigningKey.from_pem(pem)
    with pytest.raises(KeyFormatError, match="not encrypted"):
        SigningKey.from_pem(asw_key.to_pem(), b"unneeded")
    with pytest.raises(KeyFormatError, match="empty passphrase"):
        asw_key.to_pem(b"")


def test_from_file_reads_a_pem(asw_key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(asw_key.to_pem("secret"))
    assert SigningKey.from_file(path, "secret").key_id == asw_key.key_id
    with pytest.raises(FileNotFoundError):
        SigningKey.from_file(tmp_path / "absent.pem")


OTHER_PRIVATE_KEYS: dict[str, Callable[[], PrivateKeyTypes]] = {
    "P-256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "Ed448": ed448.Ed448PrivateKey.generate,
    "X25519": x25519.X25519PrivateKey.generate,
}


@pytest.mark.parametrize("kind", sorted(OTHER_PRIVATE_KEYS))
def test_non_ed25519_keys_are_refused_clearly(kind: str) -> None:
    private = OTHER_PRIVATE_KEYS[kind]()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError, match="expected an Ed25519 private key"):
        SigningKey.from_pem(private_pem)
    with pytest.raises(KeyFormatError, match="expected an Ed25519 public key"):
        PublicKey.from_pem(public_pem)
    with pytest.raises(KeyFormatError, match="expected an Ed25519"):
        SigningKey(private)  # type: ignore[arg-type]


def test_public_key_load_accepts_pem_and_jwk(asw_key: SigningKey) -> None:
    public = asw_key.public_key
    assert PublicKey.load(public.to_pem()) == public
    assert PublicKey.load(b"\n  " + public.to_jwk_json()) == public
    assert (
        PublicKey.load(
            json.dumps({"kty": "OKP", "crv": "Ed25519", "x": public.to_jwk()["x"]}).encode()
        )
        == public
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a key", "expected a PEM public key or a JWK"),
        (b"{not json", "not a JWK"),
        (b"[1, 2]", "expected a PEM public key or a JWK"),
        (b'{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"AA"}', "not a JWK"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM"),
    ],
)
def test_public_key_load_refuses_garbage(data: bytes, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        PublicKey.load(data)


def test_a_private_key_given_as_public_is_refused(asw_key: SigningKey) -> None:
    with pytest.raises(KeyFormatError, match="this is a private key"):
        PublicKey.load(asw_key.to_pem())


def _jwk(**changes: object) -> dict[str, object]:
    jwk: dict[str, object] = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}
    jwk.update(changes)
    return {name: value for name, value in jwk.items() if value is not None}


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        (_jwk(d=RFC8037_D), "holds a private key"),
        (_jwk(kty="EC"), '"kty": "OKP"'),
        (_jwk(crv="X25519"), '"crv": "Ed25519"'),
        (_jwk(crv=None), '"crv": "Ed25519"'),
        (_jwk(alg="ES256"), '"alg"'),
        (_jwk(use="enc"), '"use"'),
        (_jwk(x=None), '"x" is missing'),
        (_jwk(x=12), '"x" is missing'),
        (_jwk(x=RFC8037_X + "="), "base64url"),
        (_jwk(x=RFC8037_X.replace("_", "/")), "base64url"),
        (_jwk(x=RFC8037_X[:-2]), "base64url|32 bytes"),
        (_jwk(x=b64.url_encode(bytes(31))), "32 bytes"),
        (_jwk(kid="chosen-by-hand"), "thumbprint"),
    ],
)
def test_bad_jwks_are_refused(jwk: dict[str, object], message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        PublicKey.from_jwk(jwk)


def test_legacy_eddsa_alg_is_accepted() -> None:
    assert PublicKey.from_jwk(_jwk(alg="EdDSA")).key_id == RFC8037_THUMBPRINT


def test_public_keys_compare_by_value(asw_key: SigningKey, other_key: SigningKey) -> None:
    again = PublicKey.from_raw(asw_key.public_key.raw)
    assert again == asw_key.public_key
    assert hash(again) == hash(asw_key.public_key)
    assert again != other_key.public_key
    assert repr(again) == f"PublicKey(key_id={asw_key.key_id!r})"


def test_verify_is_false_for_bad_signatures(asw_key: SigningKey) -> None:
    signature = asw_key.sign(b"message")
    public = asw_key.public_key
    assert public.verify(signature, b"message")
    assert not public.verify(signature, b"messagE")
    assert not public.verify(signature[:-1], b"message")
    assert not public.verify(signature + b"\0", b"message")
    assert not public.verify(bytes(64), b"message")
