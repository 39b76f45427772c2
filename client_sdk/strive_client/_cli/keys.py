"""``strive keys generate --out DIR [--purpose asw|recipient] [--format text|json]
[--passphrase-file FILE]``.

``--purpose recipient`` (a force or unit receiving sealed packages) also writes
``decryption_key.json`` (mode 0600: the MLKEM768-X25519 and X25519 private keys,
spec/sealed-package.md), and ``public_key.jwk`` is then a JWK Set of the signing key and both
encryption keys, the file ``strive admin register-recipient --public-key`` takes; the JSON
output adds ``decryption_key``.

Writes ``private_key.pem`` (PKCS#8, file mode 0600, encrypted when a passphrase is given),
``public_key.pem`` and ``public_key.jwk`` into DIR, refusing to overwrite any existing file.
Text output names the key id and the files; ``--format json`` prints exactly one JSON object
with ``key_id``, ``private_key``, ``public_key_pem`` and ``public_key_jwk`` (file paths).

Exit status: 0 on success, 1 when a file already exists or cannot be written, 2 for usage
errors and an unreadable or empty passphrase file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from strive_schema._internal import strict_json
from strive_schema.keys import SigningKey
from strive_schema.sealed import RecipientDecryptionKeys

PRIVATE_KEY_FILE = "private_key.pem"
PUBLIC_KEY_PEM_FILE = "public_key.pem"
PUBLIC_KEY_JWK_FILE = "public_key.jwk"
DECRYPTION_KEY_FILE = "decryption_key.json"


def read_passphrase(path: Path | None) -> bytes | None:
    """Read a passphrase file: its bytes without one trailing line ending.

    Raises:
        click.BadParameter: the file cannot be read or the passphrase is empty.
    """
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    for ending in (b"\r\n", b"\n"):
        if data.endswith(ending):
            data = data[: -len(ending)]
            break
    if not data:
        raise click.BadParameter(f"{path} holds an empty passphrase")
    return data


def _write_new(path: Path, content: bytes, mode: int) -> None:
    # O_EXCL: never replace a key that is already there, even if it appeared just now.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # the umask may have removed bits; set what we mean
        handle.write(content)


@click.group("keys")
def keys_group() -> None:
    """Create Ed25519 signing keys."""


@keys_group.command("generate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the key files (created if missing).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--purpose",
    type=click.Choice(["asw", "recipient"]),
    default="asw",
    show_default=True,
    help="recipient: also an HPKE decryption key for sealed packages.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Encrypt the private key with the passphrase in this file.",
)
def generate_command(
    out_dir: Path, output_format: str, purpose: str, passphrase_file: Path | None
) -> None:
    """Generate a new Ed25519 key pair (and, for a recipient, decryption keys)."""
    passphrase = read_passphrase(passphrase_file)
    paths = {
        "private_key": out_dir / PRIVATE_KEY_FILE,
        "public_key_pem": out_dir / PUBLIC_KEY_PEM_FILE,
        "public_key_jwk": out_dir / PUBLIC_KEY_JWK_FILE,
    }
    if purpose == "recipient":
        paths["decryption_key"] = out_dir / DECRYPTION_KEY_FILE
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing:
        raise click.ClickException(f"refusing to overwrite {', '.join(existing)}")
    key = SigningKey.generate()
    public_jwk = key.public_key.to_jwk_json()
    decryption = RecipientDecryptionKeys.generate() if purpose == "recipient" else None
    if decryption is not None:
        jwks = [key.public_key.to_jwk(), *(k.to_jwk() for k in decryption.public_keys())]
        public_jwk = strict_json.dumps_compact({"keys": jwks}) + b"\n"
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new(paths["private_key"], key.to_pem(passphrase), 0o600)
        _write_new(paths["public_key_pem"], key.public_key.to_pem(), 0o644)
        _write_new(paths["public_key_jwk"], public_jwk, 0o644)
        if decryption is not None:
            _write_new(paths["decryption_key"], decryption.to_json(), 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot write the key files: {exc}") from None
    if output_format == "json":
        document = {"key_id": key.key_id, **{name: str(path) for name, path in paths.items()}}
        click.echo(json.dumps(document, sort_keys=True))
        return
    click.echo(f"key id: {key.key_id}")
    click.echo(f"private key: {paths['private_key']} (keep it secret; mode 0600)")
    click.echo(f"public key: {paths['public_key_pem']} and {paths['public_key_jwk']}")
    if decryption is not None:
        click.echo(f"decryption key: {paths['decryption_key']} (keep it secret; mode 0600)")
