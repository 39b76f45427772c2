"""Usage errors of `strive conformance` exit 2 and say what is wrong, before anything runs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from strive_client._cli.main import cli


def test_an_unknown_scenario_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["conformance", "client", "--port", "0", "--scenarios", "x"])
    assert result.exit_code == 2
    assert "retry-503" in result.output


def test_a_file_that_is_not_a_key_is_a_usage_error(tmp_path: Path) -> None:
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("not a key\n")
    result = CliRunner().invoke(
        cli,
        ["conformance", "receiver", "--url", "http://127.0.0.1:9", "--asw-id", "a",
         "--key", str(not_a_key)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot read the key" in result.output


def test_the_url_and_the_key_are_required() -> None:
    result = CliRunner().invoke(cli, ["conformance", "receiver", "--url", "http://x"])
    assert result.exit_code == 2


def test_a_witness_key_that_is_not_a_vkey_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        cli, ["conformance", "witness", "--port", "0", "--witness-key", "not-a-vkey"]
    )
    assert result.exit_code == 2
    assert "--witness-key" in result.output


def test_a_recipient_key_set_without_an_encryption_key_is_a_usage_error(tmp_path: Path) -> None:
    jwks = tmp_path / "public_key.jwk"
    jwks.write_text('{"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "x": "AA"}]}')
    result = CliRunner().invoke(
        cli,
        ["conformance", "recipient", "--port", "0", "--recipient-id", "r",
         "--public-key", str(jwks)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no encryption key" in result.output
