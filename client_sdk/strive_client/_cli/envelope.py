"""``strive sign`` and ``strive verify``: signed envelopes offline, without a server.

``strive sign FILE --key KEYFILE --asw-id ID --audience AUD [--out FILE]
[--passphrase-file FILE]`` wraps the referral document in FILE in a submission payload
issued now, signs it and prints the envelope (or writes it, byte for byte, to ``--out``).

``strive verify ENVELOPE --public-key FILE... [--type submission|receipt] [--audience AUD]
[--asw-id ID] [--at TIME] [--for-envelope FILE] [--format text|json]`` checks an envelope
against public keys (PEM or JWK). With ``--audience`` a submission also gets the receiver's
replay checks (audience and freshness at ``--at``, default now).

Exit status of ``verify``: 0 valid, 1 invalid (the stable error code is printed), 2 usage
errors and unreadable files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from strive_client._cli.keys import read_passphrase
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    format_timestamp,
    open_submission,
    parse_submission,
    parse_timestamp,
    sign_envelope,
    verify_envelope,
)
from strive_schema.errors import KeyFormatError, ProtocolCode, VerificationError
from strive_schema.key_validity import KeyValidity
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.receipts import check_receipt, envelope_sha256

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {what} {path}: {exc.strerror}") from None


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name in a JSON object")
    return members


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _read_referral(path: Path) -> dict[str, object]:
    try:
        document = json.loads(
            _read(path, "referral").decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise click.BadParameter(f"{path}: not a JSON document: {exc}", param_hint="FILE") from None
    if not isinstance(document, dict):
        raise click.BadParameter(f"{path}: not a JSON object", param_hint="FILE")
    return document


@click.command("sign")
@click.argument("referral_file", metavar="FILE", type=_FILE)
@click.option("--key", "key_file", required=True, type=_FILE, help="PEM private key.")
@click.option("--asw-id", required=True, help="Your organisation id at the receiver.")
@click.option("--audience", required=True, help="The receiver id from its discovery document.")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the envelope here (exact bytes, no newline) instead of standard output.",
)
@click.option("--passphrase-file", type=_FILE, help="Passphrase of an encrypted private key.")
def sign_command(
    *,
    referral_file: Path,
    key_file: Path,
    asw_id: str,
    audience: str,
    out_file: Path | None,
    passphrase_file: Path | None,
) -> None:
    """Sign a referral document into a submission envelope."""
    passphrase = read_passphrase(passphrase_file)
    try:
        key = SigningKey.from_pem(_read(key_file, "key"), passphrase)
    except KeyFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from None
    referral = _read_referral(referral_file)
    try:
        payload = build_submission(
            referral, asw_id=asw_id, audience=audience, issued_at=datetime.now(UTC)
        )
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(f"{referral_file}: {exc}", param_hint="FILE") from None
    envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()
    if out_file is None:
        click.echo(envelope.decode("utf-8"))
        return
    try:
        out_file.write_bytes(envelope)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out_file}: {exc.strerror}") from None


def _load_keys(paths: tuple[Path, ...]) -> tuple[list[PublicKey], dict[str, KeyValidity]]:
    """The keys, and the lifecycle of each JWK that publishes one (``not_before``,
    ``not_after``, ``retired_at``, ``compromised_at``: spec/protocol.md 9.1)."""
    keys, validity = [], {}
    for path in paths:
        data = _read(path, "public key")
        try:
            key = PublicKey.load(data)
            if data.lstrip().startswith(b"{"):
                validity[key.key_id] = KeyValidity.from_members(json.loads(data))
        except KeyFormatError as exc:
            raise click.BadParameter(f"{path}: {exc}", param_hint="--public-key") from None
        keys.append(key)
    return keys, validity


def _check(
    raw: bytes,
    keys: list[PublicKey],
    *,
    validity: dict[str, KeyValidity],
    kind: str,
    audience: str | None,
    asw_id: str | None,
    at: datetime,
    for_envelope: bytes | None,
) -> dict[str, object]:
    if kind == "receipt":
        checked = check_receipt(
            raw,
            keys,
            key_validity=validity,
            expected_asw_id=asw_id,
            expected_envelope_sha256=None
            if for_envelope is None
            else envelope_sha256(for_envelope),
        )
        receipt = checked.receipt
        return {
            "type": "receipt",
            "receiver_id": receipt.receiver_id,
            "asw_id": receipt.asw_id,
            "referral_id": receipt.referral_id,
            "envelope_sha256": receipt.envelope_sha256,
            "referral_digest": receipt.referral_digest,
            "received_at": format_timestamp(receipt.received_at),
            "status": receipt.status.value,
            "receipt_key": checked.key_id,
            "receipt_key_rule": checked.key_judgement.explanation,
        }
    verified = verify_envelope(raw, keys, payload_type=SUBMISSION_PAYLOAD_TYPE)
    if audience is not None:
        submission = open_submission(
            verified.payload, audience=audience, now=at, expected_asw_id=asw_id
        )
    else:
        submission = parse_submission(verified.payload)
        if asw_id is not None and submission.asw_id != asw_id:
            raise VerificationError(
                ProtocolCode.ASW_MISMATCH, "the submission names a different ASW"
            )
    return {
        "type": "submission",
        "key_id": verified.key_id,
        "asw_id": submission.asw_id,
        "audience": submission.audience,
        "issued_at": format_timestamp(submission.issued_at),
        "referral_id": submission.referral_id,
        "referral_digest": submission.referral_digest,
        "envelope_sha256": envelope_sha256(raw),
        "checked_freshness": audience is not None,
    }


@click.command("verify")
@click.argument("envelope_file", metavar="ENVELOPE", type=_FILE)
@click.option(
    "--public-key",
    "public_key_files",
    required=True,
    multiple=True,
    type=_FILE,
    help="A public key registered to the sender (PEM or JWK); repeat for several. A receipt "
    "key's JWK may carry its lifecycle (not_before, not_after, retired_at, compromised_at), "
    "judged at the receipt's received_at.",
)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["submission", "receipt"]),
    default="submission",
    show_default=True,
)
@click.option("--audience", help="Check the submission is addressed here, and is fresh.")
@click.option("--asw-id", help="Check the envelope names this ASW.")
@click.option("--at", "at_text", help="Check freshness at this UTC time (YYYY-MM-DDTHH:MM:SSZ).")
@click.option(
    "--for-envelope",
    type=_FILE,
    help="(receipts) Check the receipt is for exactly this envelope file.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def verify_command(
    *,
    envelope_file: Path,
    public_key_files: tuple[Path, ...],
    kind: str,
    audience: str | None,
    asw_id: str | None,
    at_text: str | None,
    for_envelope: Path | None,
    output_format: str,
) -> None:
    """Verify a signed envelope against public keys; exit 1 with its code if invalid."""
    keys, validity = _load_keys(public_key_files)
    raw = _read(envelope_file, "envelope")
    reference = None if for_envelope is None else _read(for_envelope, "envelope")
    try:
        at = datetime.now(UTC) if at_text is None else parse_timestamp(at_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    try:
        result = _check(
            raw,
            keys,
            validity=validity,
            kind=kind,
            audience=audience,
            asw_id=asw_id,
            at=at,
            for_envelope=reference,
        )
    except VerificationError as exc:
        if output_format == "json":
            document = {"valid": False, "code": exc.code.value, "detail": exc.detail}
            click.echo(json.dumps(document, sort_keys=True))
        else:
            click.echo(f"invalid: {exc.code.value}: {exc.detail}")
        raise SystemExit(EXIT_INVALID) from None
    if output_format == "json":
        click.echo(json.dumps({"valid": True, **result}, sort_keys=True))
        return
    click.echo(f"valid {result['type']}")
    for name, value in result.items():
        if name != "type":
            click.echo(f"  {name}: {value}")
