"""The committed vectors: reproducible, verified by this package and by openssl."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _protocol_support import VECTORS, load_vectors, public_keys, vector_keys

from strive_schema import _vectors
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    open_submission,
    pae,
    parse_envelope,
    parse_timestamp,
    referral_digest,
    sign_envelope,
    verify_envelope,
)
from strive_schema.errors import VerificationError
from strive_schema.httpsig import verify_request
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.receipts import verify_receipt

ENVELOPES = load_vectors("envelope")
RECEIPTS = load_vectors("receipt")
HTTPSIG = load_vectors("httpsig")
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command line is not installed"
)


def test_regenerating_reproduces_the_committed_files(tmp_path: Path) -> None:
    files = _vectors.render_vectors()
    _vectors.write_vectors(tmp_path, files)
    # spec/vectors/sealed/ has its own generator (strive_schema/_sealed_vectors.py).
    committed = sorted(
        relative
        for path in VECTORS.rglob("*.json")
        if not (relative := path.relative_to(VECTORS).as_posix()).startswith("sealed/")
    )
    assert sorted(files) == committed
    for relative in committed:
        assert (tmp_path / relative).read_bytes() == (VECTORS / relative).read_bytes(), relative


def test_check_mode_lists_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _vectors.main(["--out", str(tmp_path)]) == 0
    assert _vectors.main(["--check", "--out", str(tmp_path)]) == 0
    edited = tmp_path / "envelope" / "stale.json"
    edited.write_bytes(edited.read_bytes() + b" ")
    (tmp_path / "httpsig" / "leftover.json").write_text("{}")
    (tmp_path / "receipt" / "valid-receipt.json").unlink()
    capsys.readouterr()
    assert _vectors.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "envelope/stale.json" in err
    assert "httpsig/leftover.json" in err
    assert "receipt/valid-receipt.json" in err
    assert edited.read_bytes().endswith(b" ")  # --check never writes


def test_the_generator_takes_the_referral_as_a_parameter() -> None:
    referral = {"referral_id": "11111111-2222-4333-8444-555555555555", "other": True}
    files = _vectors.render_vectors(referral)
    assert b"11111111-2222-4333-8444-555555555555" in files["envelope/valid-single-signature.json"]


def test_keys_are_derived_from_their_documented_seeds() -> None:
    for name, entry in vector_keys().items():
        seed = hashlib.sha256(f"strive test vector key: {name}".encode()).digest()
        assert entry["seed_hex"] == seed.hex()
        key = SigningKey.from_pem(entry["private_key_pem"].encode())
        assert key.key_id == entry["key_id"]
        public = PublicKey.from_jwk(entry["jwk"])
        assert public == key.public_key
        assert public.thumbprint_input.decode() == entry["thumbprint_input"]
        digest = hashlib.sha256(entry["thumbprint_input"].encode()).digest()
        assert entry["thumbprint_sha256_hex"] == digest.hex()
        assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == entry["key_id"]


def run_envelope_vector(vector: dict[str, Any]) -> dict[str, object]:
    """The verification procedure of spec/protocol.md, as a second team would code it."""
    verify = vector["verify"]
    raw = vector["envelope"].encode("utf-8")
    keys = public_keys(verify["public_keys"])
    if verify["payload_type"] != SUBMISSION_PAYLOAD_TYPE:
        receipt = verify_receipt(
            raw,
            keys,
            expected_envelope_sha256=verify["expected_envelope_sha256"],
            expected_asw_id=verify["expected_asw_id"],
            expected_referral_id=verify["expected_referral_id"],
        )
        return {"receipt_status": receipt.status.value}
    verified = verify_envelope(raw, keys, payload_type=verify["payload_type"])
    submission = open_submission(
        verified.payload,
        audience=verify["audience"],
        now=parse_timestamp(verify["now"]),
        expected_asw_id=verify["asw_id"],
    )
    return {
        "key_id": verified.key_id,
        "payload": verified.payload.decode("utf-8"),
        "referral_id": submission.referral_id,
        "referral_digest": submission.referral_digest,
    }


@pytest.mark.parametrize(
    ("name", "vector"), ENVELOPES + RECEIPTS, ids=[n for n, _ in ENVELOPES + RECEIPTS]
)
def test_envelope_and_receipt_vectors(name: str, vector: dict[str, Any]) -> None:
    expected_error = vector["expected_error"]
    if expected_error is not None:
        with pytest.raises(VerificationError) as caught:
            run_envelope_vector(vector)
        assert caught.value.code == expected_error, name
        return
    result = run_envelope_vector(vector)
    expected = vector["expected"]
    if "key_id" in result:
        assert result["key_id"] == expected["key_id"]
        assert result["payload"] == expected["payload"]
        assert result["referral_digest"] == expected["referral_digest"]
        jcs = expected["referral_jcs"].encode("utf-8")
        assert hashlib.sha256(jcs).hexdigest() == expected["referral_digest"]
    else:
        assert result["receipt_status"] == expected["receipt"]["status"]
    assert hashlib.sha256(vector["envelope"].encode()).hexdigest() == vector["envelope_sha256"]


def test_the_vectors_cover_every_case_the_issue_names() -> None:
    errors = {vector["expected_error"] for _, vector in ENVELOPES}
    assert {
        None,
        "signature_invalid",
        "payload_type_unsupported",
        "key_unknown",
        "signature_malformed",
        "envelope_malformed",
        "envelope_stale",
        "envelope_from_future",
        "audience_mismatch",
    } <= errors


def test_pae_hex_is_the_spec_formula() -> None:
    for name, vector in ENVELOPES + RECEIPTS:
        if "pae_hex" not in vector:
            continue
        envelope = parse_envelope(vector["envelope"].encode())
        manual = (
            b"DSSEv1 "
            + str(len(envelope.payload_type.encode())).encode()
            + b" "
            + envelope.payload_type.encode()
            + b" "
            + str(len(envelope.payload)).encode()
            + b" "
            + envelope.payload
        )
        assert (
            bytes.fromhex(vector["pae_hex"])
            == manual
            == pae(envelope.payload_type, envelope.payload)
        ), name


@pytest.mark.parametrize(("name", "vector"), HTTPSIG, ids=[n for n, _ in HTTPSIG])
def test_httpsig_vectors(name: str, vector: dict[str, Any]) -> None:
    request, verify = vector["request"], vector["verify"]
    arguments = {
        "keys": public_keys(verify["public_keys"]),
        "now": parse_timestamp(verify["now"]),
        "max_age": timedelta(seconds=verify["max_age_seconds"]),
        "max_future": timedelta(seconds=verify["max_future_seconds"]),
    }
    body = request["body"].encode("utf-8")
    if vector["expected_error"] is not None:
        with pytest.raises(VerificationError) as caught:
            verify_request(request["method"], request["url"], request["headers"], body, **arguments)
        assert caught.value.code == vector["expected_error"], name
        return
    verified = verify_request(
        request["method"], request["url"], request["headers"], body, **arguments
    )
    assert verified.key_id == vector["expected"]["key_id"]
    assert verified.nonce == vector["expected"]["nonce"]
    assert int(verified.created.timestamp()) == vector["signing"]["created"]


# -- an independent implementation: the openssl command line --------------------------------


def openssl_verify(tmp_path: Path, public_pem: str, message: bytes, signature: bytes) -> bool:
    assert OPENSSL is not None
    (tmp_path / "pub.pem").write_text(public_pem)
    (tmp_path / "msg.bin").write_bytes(message)
    (tmp_path / "sig.bin").write_bytes(signature)
    completed = subprocess.run(
        [
            OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem",
            "-rawin", "-in", "msg.bin", "-sigfile", "sig.bin",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    verified = completed.returncode == 0 and "Signature Verified Successfully" in completed.stdout
    assert verified or completed.returncode != 0, completed
    return verified


POSITIVE = [(name, v) for name, v in ENVELOPES + RECEIPTS if v["expected_error"] is None]


@needs_openssl
@pytest.mark.parametrize(("name", "vector"), POSITIVE, ids=[n for n, _ in POSITIVE])
def test_openssl_verifies_positive_vectors(
    tmp_path: Path, name: str, vector: dict[str, Any]
) -> None:
    key = vector_keys()[vector["expected"]["key"]]
    message = bytes.fromhex(vector["pae_hex"])
    verified = [
        openssl_verify(tmp_path, key["public_key_pem"], message, bytes.fromhex(sig["sig_hex"]))
        for sig in vector["expected"]["signatures"]
    ]
    assert any(verified), name


@needs_openssl
@pytest.mark.parametrize("name", ["tampered-payload", "signature-by-other-key"])
def test_openssl_rejects_negative_vectors(tmp_path: Path, name: str) -> None:
    vector = dict(ENVELOPES)[name]
    envelope = parse_envelope(vector["envelope"].encode())
    key = vector_keys()["asw-key-1"]
    assert not openssl_verify(
        tmp_path, key["public_key_pem"], envelope.pae(), envelope.signatures[0].sig
    )


@needs_openssl
def test_openssl_verifies_the_httpsig_vector(tmp_path: Path) -> None:
    for name, vector in HTTPSIG:
        if vector["expected_error"] is not None:
            continue
        key = vector_keys()[vector["key"]]
        signature = vector["expected"]["signature"].split("=", 1)[1].strip(":")
        base = vector["expected"]["signature_base"].encode("ascii")
        assert openssl_verify(tmp_path, key["public_key_pem"], base, base64.b64decode(signature)), (
            name
        )
        assert not openssl_verify(
            tmp_path, key["public_key_pem"], base + b" ", base64.b64decode(signature)
        )


@needs_openssl
def test_openssl_agrees_on_the_keys(tmp_path: Path) -> None:
    assert OPENSSL is not None
    for name, entry in vector_keys().items():
        (tmp_path / "key.pem").write_text(entry["private_key_pem"])
        public_pem = subprocess.run(
            [OPENSSL, "pkey", "-in", "key.pem", "-pubout"],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert public_pem == entry["public_key_pem"], name
        der = subprocess.run(
            [OPENSSL, "pkey", "-in", "key.pem", "-pubout", "-outform", "DER"],
            cwd=tmp_path, capture_output=True, check=True,
        ).stdout  # fmt: skip
        assert der[-32:].hex() == entry["public_key_hex"], name
        x = base64.urlsafe_b64encode(der[-32:]).rstrip(b"=").decode()
        assert entry["jwk"]["x"] == x, name


def test_the_spec_quotes_the_generated_values() -> None:
    """spec/protocol.md's worked examples must follow the generator's keys and vectors."""
    spec = (VECTORS.parent / "protocol.md").read_text(encoding="utf-8")
    key = vector_keys()["asw-key-1"]
    for value in (
        key["seed_hex"],
        key["public_key_hex"],
        key["jwk"]["x"],
        key["thumbprint_input"],
        key["thumbprint_sha256_hex"],
        key["key_id"],
    ):
        assert value in spec
    signing_key = _vectors.vector_key("asw-key-1")
    example = sign_envelope(b'{"hello":"world"}', SUBMISSION_PAYLOAD_TYPE, [signing_key])
    assert base64.b64encode(example.signatures[0].sig).decode() in spec
    assert 'DSSEv1 41 application/vnd.strive.submission.v1+json 17 {"hello":"world"}' in spec
    httpsig = dict(HTTPSIG)["get-with-query"]["expected"]["signature_base"]
    assert httpsig in spec
    referral = {
        "summary": "caf\u00e9",
        "referral_id": "3f2c8a9e-6b1d-4c7a-9e2f-5d8b0a1c4e7f",
        "score": 1.5,
        "big": 1e21,
    }
    assert referral_digest(referral) in spec
