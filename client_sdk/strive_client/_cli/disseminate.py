"""``strive disseminate cluster CLUSTER_ID --recipient ID --url URL --token TOKEN --out FILE``
and ``strive package open FILE --recipient-id ID --key decryption_key.json --out DIR``.

The first asks the receiver to seal a cluster's package to a recipient (supervisors; the
receiver refuses without an assessment) and writes the sealed file. The second is what the
recipient runs: it opens the sealed file with its decryption keys, verifies the receiver's
signature (against the receiver's published keys, fetched from ``--url``, or a key file given
with ``--receiver-key``), and writes the package files into DIR. Any tampering, a wrong key or
a wrong suite exits 1 with the stable code (spec/sealed-package.md, "Errors").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import httpx

from strive_schema.errors import KeyFormatError, SealedPackageError
from strive_schema.keys import PublicKey
from strive_schema.sealed import RecipientDecryptionKeys, open_package


@click.group("disseminate")
def disseminate_group() -> None:
    """Disseminate sealed intelligence packages (supervisors)."""


@disseminate_group.command("cluster")
@click.argument("cluster_id", type=int)
@click.option("--recipient", "recipient_id", required=True, help="The recipient's id.")
@click.option("--url", required=True, help="The receiver's base URL.")
@click.option("--token", envvar="STRIVE_TOKEN", required=True, help="Supervisor bearer token.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reason", default="the force covers the area", show_default=True)
@click.option("--grading", default="2/B/P", show_default=True, help="3x5x2, e.g. 1/A/C.")
@click.option("--conditions", default=None, help="Handling conditions (needed with code C).")
@click.option(
    "--format", "formats", multiple=True, default=("json", "md"), show_default=True,
    type=click.Choice(["json", "csv", "graphml", "md"]),
)  # fmt: skip
def disseminate_cluster(
    cluster_id: int, recipient_id: str, url: str, token: str, out: Path, reason: str,
    grading: str, conditions: str | None, formats: tuple[str, ...],
) -> None:  # fmt: skip
    """Seal a cluster's package to a recipient and write the sealed file."""
    parts = grading.split("/")
    if len(parts) != 3:
        raise click.BadParameter("write it as SOURCE/ASSESSMENT/HANDLING, e.g. 2/B/P")
    body = {
        "recipient_id": recipient_id,
        "reason": reason,
        "formats": list(formats),
        "grading": {
            "source_evaluation": parts[0],
            "intelligence_assessment": parts[1],
            "handling_code": parts[2],
            "handling_conditions": conditions,
        },
    }
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/v1/clusters/{cluster_id}/disseminations",
            json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120,
        )  # fmt: skip
    except httpx.TransportError as exc:
        raise click.ClickException(f"could not reach the receiver: {type(exc).__name__}") from None
    if response.status_code != 201:
        click.echo(response.text, err=True)
        raise SystemExit(1)
    out.write_bytes(response.content)
    click.echo(
        f"wrote {out}: dissemination {response.headers.get('strive-dissemination-id')}, "
        f"package sha256 {response.headers.get('strive-package-sha256')}",
        err=True,
    )


@click.group("package")
def package_group() -> None:
    """Open sealed intelligence packages (recipients)."""


def _receiver_keys(url: str | None, key_file: Path | None) -> list[PublicKey]:
    if key_file is not None:
        try:
            return [PublicKey.load(key_file.read_bytes())]
        except (KeyFormatError, OSError) as exc:
            raise click.BadParameter(str(exc), param_hint="--receiver-key") from None
    if url is None:
        raise click.UsageError("give --url (the receiver's published keys) or --receiver-key")
    try:
        response = httpx.get(f"{url.rstrip('/')}/.well-known/strive-configuration", timeout=30)
        response.raise_for_status()
        return [PublicKey.from_jwk(k) for k in response.json()["jwks"]["keys"]]
    except (httpx.HTTPError, KeyError, ValueError, KeyFormatError) as exc:
        raise click.ClickException(f"cannot read the receiver's keys: {exc}") from None


@package_group.command("open")
@click.argument("sealed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key", "key_file", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your decryption_key.json.",
)  # fmt: skip
@click.option(
    "--recipient-id", required=True,
    help="Your own recipient id: a package addressed to anyone else is refused.",
)  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--url", default=None, help="The receiver, for its published signing keys.")
@click.option(
    "--receiver-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="The receiver's signing key (PEM or JWK), obtained out of band.",
)  # fmt: skip
def open_command(
    sealed_file: Path, key_file: Path, recipient_id: str, out_dir: Path, url: str | None,
    receiver_key: Path | None,
) -> None:  # fmt: skip
    """Verify and decrypt a sealed package addressed to RECIPIENT_ID; write its files into
    DIR. The recipient id is asked for, not taken from the file: a package sealed to your key
    but addressed to another recipient (forwarded) is refused."""
    try:
        keys = RecipientDecryptionKeys.from_json(key_file.read_bytes())
    except KeyFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from None
    receiver_keys = _receiver_keys(url, receiver_key)
    try:
        opened = open_package(
            sealed_file.read_bytes(), keys, receiver_keys=receiver_keys,
            expected_recipient_id=recipient_id,
        )  # fmt: skip
    except SealedPackageError as exc:
        click.echo(f"error: {exc.code.value}: {exc.detail}", err=True)
        raise SystemExit(1) from None
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for item in opened.files:
        target = out_dir / item.name  # names are checked: no path separators, no leading dot
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.content)
    manifest = opened.manifest
    summary = {
        "dissemination_id": manifest.dissemination_id,
        "recipient_id": manifest.recipient_id,
        "grading": manifest.grading.to_json(),
        "package_sha256": opened.package_sha256,
        "referrals": [{"asw_id": a, "referral_id": r} for a, r in manifest.referrals],
        "files": [item.name for item in opened.files],
    }
    (out_dir / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    click.echo(
        f"opened {sealed_file}: {len(opened.files)} files in {out_dir}, grading "
        f"{manifest.grading.code}, signed by the receiver's key {opened.signer_key_id}"
    )
