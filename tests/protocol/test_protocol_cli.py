"""``strive keys generate``, ``strive sign`` and ``strive verify``."""

from __future__ import annotations

import json
import stat
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _protocol_support import load_vectors, vector_keys
from click.testing import CliRunner, Result

from strive_client import VerificationError, verify_receipt
from strive_client._cli.main import cli
from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, sign_envelope
from strive_schema.key_validity import KeyValidity
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.receipts import Receipt, ReceiptStatus, envelope_sha256, sign_receipt

REFERRAL = {"referral_id": "0f8e3b5a-3c5d-4e1f-9a0b-7c6d5e4f3a2b", "summary": "test"}


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    out = tmp_path / "keys"
    assert run("keys", "generate", "--out", out).exit_code == 0
    return out


def test_keys_generate_json_prints_one_object_of_paths(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir"
    result = run("keys", "generate", "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"key_id", "private_key", "public_key_pem", "public_key_jwk"}
    assert Path(document["private_key"]) == out / "private_key.pem"
    key = SigningKey.from_file(document["private_key"])
    assert key.key_id == document["key_id"]
    assert PublicKey.load(Path(document["public_key_pem"]).read_bytes()) == key.public_key
    jwk = json.loads(Path(document["public_key_jwk"]).read_text())
    assert jwk["kid"] == document["key_id"]
    assert jwk["alg"] == "Ed25519"
    assert "d" not in jwk


def test_private_key_file_mode_is_0600(key_dir: Path) -> None:
    assert stat.S_IMODE((key_dir / "private_key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((key_dir / "public_key.pem").stat().st_mode) == 0o644


def test_keys_generate_text_prints_the_key_id(tmp_path: Path) -> None:
    result = run("keys", "generate", "--out", tmp_path)
    key = SigningKey.from_file(tmp_path / "private_key.pem")
    assert f"key id: {key.key_id}" in result.stdout
    assert "PRIVATE KEY" not in result.output


def test_keys_generate_refuses_to_overwrite(key_dir: Path) -> None:
    before = (key_dir / "private_key.pem").read_bytes()
    result = run("keys", "generate", "--out", key_dir)
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output
    assert (key_dir / "private_key.pem").read_bytes() == before


def test_keys_generate_with_a_passphrase(tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("open sesame\n")
    result = run("keys", "generate", "--out", tmp_path / "k", "--passphrase-file", passphrase)
    assert result.exit_code == 0
    pem = (tmp_path / "k" / "private_key.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert SigningKey.from_pem(pem, b"open sesame")
    passphrase.write_text("\n")
    result = run("keys", "generate", "--out", tmp_path / "k2", "--passphrase-file", passphrase)
    assert result.exit_code == 2
    assert "empty passphrase" in result.output


def sign(tmp_path: Path, key_dir: Path, *extra: str | Path) -> Path:
    referral = tmp_path / "referral.json"
    referral.write_text(json.dumps(REFERRAL))
    out = tmp_path / "envelope.json"
    result = run(
        "sign", referral, "--key", key_dir / "private_key.pem",
        "--asw-id", "example-asw", "--audience", "receiver.example", "--out", out, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_sign_then_verify(tmp_path: Path, key_dir: Path) -> None:
    envelope = sign(tmp_path, key_dir)
    result = run(
        "verify", envelope, "--public-key", key_dir / "public_key.jwk",
        "--audience", "receiver.example", "--asw-id", "example-asw", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["valid"] is True
    assert document["referral_id"] == REFERRAL["referral_id"]
    assert document["key_id"] == SigningKey.from_file(key_dir / "private_key.pem").key_id
    assert document["envelope_sha256"] == envelope_sha256(envelope.read_bytes())
    text = run("verify", envelope, "--public-key", key_dir / "public_key.pem")
    assert text.exit_code == 0
    assert text.stdout.startswith("valid submission")


def test_sign_to_stdout_prints_the_envelope(tmp_path: Path, key_dir: Path) -> None:
    referral = tmp_path / "referral.json"
    referral.write_text(json.dumps(REFERRAL))
    result = run(
        "sign", referral, "--key", key_dir / "private_key.pem",
        "--asw-id", "a", "--audience", "r",
    )  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout)["payloadType"] == SUBMISSION_PAYLOAD_TYPE


def test_sign_with_an_encrypted_key(tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("pw")
    assert (
        run("keys", "generate", "--out", tmp_path / "k", "--passphrase-file", passphrase).exit_code
        == 0
    )
    referral = tmp_path / "referral.json"
    referral.write_text(json.dumps(REFERRAL))
    base: list[str | Path] = [
        "sign",
        referral,
        "--key",
        tmp_path / "k" / "private_key.pem",
        "--asw-id",
        "a",
    ]
    missing = run(*base, "--audience", "r")
    assert missing.exit_code == 2
    assert "passphrase is needed" in missing.output
    assert run(*base, "--audience", "r", "--passphrase-file", passphrase).exit_code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "not a JSON object"),
        ('{"referral_id": 1, "referral_id": 2}', "duplicate"),
        ('{"summary": "no id"}', "referral_id"),
        ("{", "not a JSON document"),
    ],
)
def test_sign_refuses_bad_referral_files(
    tmp_path: Path, key_dir: Path, content: str, message: str
) -> None:
    referral = tmp_path / "bad.json"
    referral.write_text(content)
    result = run(
        "sign", referral, "--key", key_dir / "private_key.pem", "--asw-id", "a", "--audience", "r"
    )
    assert result.exit_code == 2
    assert message in result.output


def test_verify_invalid_exits_1_with_the_code(tmp_path: Path, key_dir: Path) -> None:
    envelope = sign(tmp_path, key_dir)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(SigningKey.generate().public_key.to_pem())
    result = run("verify", envelope, "--public-key", stranger)
    assert result.exit_code == 1
    assert result.stdout.startswith("invalid: key_unknown")
    wrong_audience = run(
        "verify", envelope, "--public-key", key_dir / "public_key.pem",
        "--audience", "elsewhere", "--format", "json",
    )  # fmt: skip
    assert wrong_audience.exit_code == 1
    assert json.loads(wrong_audience.stdout)["code"] == "audience_mismatch"
    wrong_asw = run(
        "verify", envelope, "--public-key", key_dir / "public_key.pem", "--asw-id", "other"
    )
    assert wrong_asw.exit_code == 1
    assert "asw_mismatch" in wrong_asw.stdout
    tampered = tmp_path / "tampered.json"
    document = json.loads(envelope.read_bytes())
    document["payload"] = document["payload"][:-8] + "AAAAAA=="
    tampered.write_text(json.dumps(document))
    result = run("verify", tampered, "--public-key", key_dir / "public_key.pem")
    assert result.exit_code == 1
    assert "signature_invalid" in result.stdout


def test_verify_usage_errors_exit_2(tmp_path: Path, key_dir: Path) -> None:
    envelope = sign(tmp_path, key_dir)
    public = key_dir / "public_key.pem"
    assert run("verify", tmp_path / "absent.json", "--public-key", public).exit_code == 2
    assert run("verify", envelope).exit_code == 2
    assert run("verify", envelope, "--public-key", tmp_path / "absent.pem").exit_code == 2
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    result = run("verify", envelope, "--public-key", not_a_key)
    assert result.exit_code == 2
    assert "expected a PEM public key or a JWK" in result.output
    assert run("verify", envelope, "--public-key", public, "--at", "yesterday").exit_code == 2
    assert run("verify", envelope, "--public-key", public, "--type", "other").exit_code == 2


def test_verify_freshness_at_a_given_time(tmp_path: Path) -> None:
    vectors = dict(load_vectors("envelope"))
    public = tmp_path / "asw.pem"
    public.write_text(vector_keys()["asw-key-1"]["public_key_pem"])
    for name, code in (("valid-single-signature", 0), ("stale", 1), ("from-the-future", 1)):
        envelope = tmp_path / f"{name}.json"
        envelope.write_text(vectors[name]["envelope"])
        result = run(
            "verify", envelope, "--public-key", public, "--audience", "receiver.example",
            "--at", "2026-11-23T17:02:00Z",
        )  # fmt: skip
        assert result.exit_code == code, (name, result.output)
        if code:
            assert vectors[name]["expected_error"] in result.stdout


def test_verify_a_receipt_for_an_envelope(tmp_path: Path, key_dir: Path) -> None:
    envelope = sign(tmp_path, key_dir)
    receiver = SigningKey.generate()
    receipt = Receipt(
        receiver_id="receiver.example",
        asw_id="example-asw",
        referral_id=str(REFERRAL["referral_id"]),
        envelope_sha256=envelope_sha256(envelope.read_bytes()),
        referral_digest="0" * 64,
        received_at=datetime.now(UTC),
        status=ReceiptStatus.ACCEPTED,
    )
    signed = tmp_path / "receipt.json"
    signed.write_bytes(sign_receipt(receipt, [receiver]).to_json())
    receiver_pem = tmp_path / "receiver.pem"
    receiver_pem.write_bytes(receiver.public_key.to_pem())
    base: list[str | Path] = ["verify", signed, "--type", "receipt", "--public-key", receiver_pem]
    ok = run(*base, "--for-envelope", envelope, "--format", "json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["status"] == "accepted"
    other = tmp_path / "other.json"
    other.write_bytes(
        sign_envelope(b"{}", SUBMISSION_PAYLOAD_TYPE, [SigningKey.generate()]).to_json()
    )
    mismatch = run(*base, "--for-envelope", other)
    assert mismatch.exit_code == 1
    assert "receipt_mismatch" in mismatch.stdout


def test_a_receipt_keys_published_lifecycle_is_judged_at_its_received_at(
    tmp_path: Path, key_dir: Path
) -> None:
    """A receipt key's JWK carrying its lifecycle (spec/protocol.md 9.1): a receipt received
    before the key's compromise stays valid and says so; one received after is refused with
    ``key_revoked``, as the offline SDK call refuses it."""
    envelope = sign(tmp_path, key_dir)
    receiver = SigningKey.generate()
    compromised = datetime(2026, 6, 1, tzinfo=UTC)
    jwk = tmp_path / "receiver.jwk"
    jwk.write_text(
        json.dumps(receiver.public_key.to_jwk() | {"compromised_at": "2026-06-01T00:00:00Z"})
    )
    outcomes = {}
    for label, received_at in (
        ("before", compromised - timedelta(days=1)),
        ("after", compromised + timedelta(seconds=1)),
    ):
        receipt = Receipt(
            receiver_id="receiver.example",
            asw_id="example-asw",
            referral_id=str(REFERRAL["referral_id"]),
            envelope_sha256=envelope_sha256(envelope.read_bytes()),
            referral_digest="0" * 64,
            received_at=received_at,
            status=ReceiptStatus.ACCEPTED,
        )
        signed = tmp_path / f"receipt-{label}.json"
        signed.write_bytes(sign_receipt(receipt, [receiver]).to_json())
        outcomes[label] = run(
            "verify", signed, "--type", "receipt", "--public-key", jwk, "--format", "json"
        )
        with pytest.raises(VerificationError) if label == "after" else nullcontext():
            verify_receipt(
                signed.read_bytes(),
                [receiver.public_key],
                key_validity={receiver.key_id: KeyValidity(compromised_at=compromised)},
            )
    assert outcomes["before"].exit_code == 0, outcomes["before"].output
    before = json.loads(outcomes["before"].stdout)
    assert before["receipt_key"] == receiver.key_id
    assert "before the key's compromise at 2026-06-01T00:00:00Z" in before["receipt_key_rule"]
    assert outcomes["after"].exit_code == 1
    assert json.loads(outcomes["after"].stdout)["code"] == "key_revoked"
