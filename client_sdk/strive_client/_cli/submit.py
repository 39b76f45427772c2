"""``strive submit FILE... --url URL --asw-id ID --key KEYFILE``: submit referrals.

Standard output: one JSON object per acknowledged referral, with the receipt's fields and the
signed receipt envelope, and one per evidence file uploaded. Standard error: the problem
document of each rejected referral or file, a progress bar for many referrals or a large
file, and a summary.

Evidence files (``--attachments DIR``, spec/evidence-files.md): after a referral is
acknowledged, each file its ``attachments[]`` declares is uploaded from ``DIR``, found by its
attachment id: ``DIR/<referral_id>/<attachment id>`` when that exists (several referrals in
one run), else ``DIR/<attachment id>``, either also with any one extension
(``DIR/photo-1.jpg``). Exit 0 when every referral was acknowledged,
1 when any was rejected or could not be delivered, 2 for usage errors and unreadable files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from strive_client._cli.keys import read_passphrase
from strive_client._cli.validate import NDJSON_SUFFIXES
from strive_client._client import StriveClient
from strive_client._exceptions import (
    APIError,
    ReferralInvalid,
    SandboxViolation,
    StriveClientError,
    TransportError,
)
from strive_client._models import SubmissionResult
from strive_schema.codes import ProblemCode
from strive_schema.errors import KeyFormatError
from strive_schema.semantics import Finding

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _referrals(paths: tuple[Path, ...]) -> Iterator[tuple[str, int | None, bytes]]:
    for path in paths:
        if path.suffix.lower() in NDJSON_SUFFIXES:
            with path.open("rb") as stream:
                for number, line in enumerate(stream, start=1):
                    if line.strip():
                        yield str(path), number, line
        else:
            yield str(path), None, path.read_bytes()


def _receipt_line(path: str, line: int | None, result: SubmissionResult) -> dict[str, Any]:
    receipt = result.receipt
    return {
        "path": path,
        "line": line,
        "status": "replayed" if result.replayed else "accepted",
        "referral_id": receipt.referral_id,
        "asw_id": receipt.asw_id,
        "receiver_id": receipt.receiver_id,
        "received_at": receipt.received_at.isoformat().replace("+00:00", "Z"),
        "envelope_sha256": receipt.envelope_sha256,
        "referral_digest": receipt.referral_digest,
        "receipt_envelope": result.receipt_envelope.decode("utf-8"),
    }


def _findings_problem(errors: tuple[Finding, ...]) -> dict[str, Any]:
    return {
        "type": f"urn:strive:problem:{ProblemCode.REFERRAL_INVALID}",
        "title": "The referral is invalid; it was not sent",
        "status": None,
        "code": ProblemCode.REFERRAL_INVALID.value,
        "errors": [{"pointer": f.pointer, "code": f.code, "message": f.message} for f in errors],
    }


@click.command("submit")
@click.argument("files", nargs=-1, required=True, type=_FILE, metavar="FILE...")
@click.option("--url", required=True, help="The receiver's base URL.")
@click.option("--asw-id", required=True, help="Your organisation id at the receiver.")
@click.option("--key", "key_file", required=True, type=_FILE, help="Your private key (PEM).")
@click.option("--passphrase-file", type=_FILE, help="Passphrase of an encrypted private key.")
@click.option("--sandbox", is_flag=True, help="Refuse to send referrals that are not is_test.")
@click.option(
    "--attachments",
    "attachments_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Upload the evidence files each referral declares from this directory, named by "
    "attachment id (DIR/<attachment id>[.ext] or DIR/<referral id>/<attachment id>[.ext]).",
)
def submit_command(
    files: tuple[Path, ...],
    url: str,
    asw_id: str,
    key_file: Path,
    passphrase_file: Path | None,
    sandbox: bool,
    attachments_dir: Path | None,
) -> None:
    """Validate, sign and submit referrals (JSON files, or NDJSON with one per line)."""
    try:
        client = StriveClient(
            url,
            asw_id=asw_id,
            key=key_file,
            key_password=read_passphrase(passphrase_file),
            sandbox=sandbox,
        )
    except (KeyFormatError, OSError) as exc:
        raise click.UsageError(f"cannot use the key: {exc}") from None
    try:
        items = list(_referrals(files))
    except OSError as exc:
        raise click.UsageError(f"cannot read: {exc}") from None
    counts = {"accepted": 0, "replayed": 0, "rejected": 0, "failed": 0}
    uploads = {"uploaded": 0, "already held": 0, "refused": 0}
    show_progress = len(items) > 1
    err = sys.stderr
    with (
        client,
        click.progressbar(
            items, label="submitting", file=err, hidden=not show_progress
        ) as progress,
    ):
        for path, line, raw in progress:
            where = f"{path}:{line}" if line is not None else path
            try:
                result = client.submit_referral(raw)
            except ReferralInvalid as exc:
                counts["rejected"] += 1
                problem: dict[str, Any] = _findings_problem(exc.errors)
            except APIError as exc:
                counts["rejected"] += 1
                problem = exc.problem
            except (TransportError, SandboxViolation, StriveClientError) as exc:
                counts["failed"] += 1
                problem = {"code": type(exc).__name__, "detail": str(exc)}
            else:
                counts["accepted" if not result.replayed else "replayed"] += 1
                click.echo(json.dumps(_receipt_line(path, line, result)))
                if attachments_dir is not None:
                    _upload_files(client, result, raw, attachments_dir, uploads)
                continue
            click.echo(
                f"\n{where}: " + json.dumps({"path": path, "line": line, **problem}), err=True
            )
    if show_progress or counts["rejected"] or counts["failed"]:
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        click.echo(f"{len(items)} referral(s): {summary}", err=True)
    if any(uploads.values()):
        summary = ", ".join(f"{n} {k}" for k, n in uploads.items() if n)
        click.echo(f"evidence files: {summary}", err=True)
    if counts["rejected"] or counts["failed"] or uploads["refused"]:
        raise SystemExit(1)


_SHOW_PROGRESS_FROM = 4 * 1024 * 1024
"""Files at least this large get a progress bar on standard error."""


class _Advance:
    """Moves a progress bar as the SDK reports bytes sent."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.sent = 0

    def __call__(self, _attachment_id: str, done: int, _size: int) -> None:
        self.bar.update(done - self.sent)
        self.sent = done


def _find_file(directory: Path, referral_id: str, attachment_id: str) -> Path | None:
    for folder in (directory / referral_id, directory):
        exact = folder / attachment_id
        if exact.is_file():
            return exact
        candidates = sorted(p for p in folder.glob(f"{attachment_id}.*") if p.is_file())
        if len(candidates) == 1:
            return candidates[0]
    return None


def _upload_files(
    client: StriveClient,
    result: SubmissionResult,
    raw: bytes,
    directory: Path,
    uploads: dict[str, int],
) -> None:
    """Upload the files the acknowledged referral declares; report each on stdout/stderr."""
    referral_id = result.receipt.referral_id
    declared = json.loads(raw).get("attachments", [])
    for attachment in declared:
        attachment_id = attachment["id"]
        found = _find_file(directory, referral_id, attachment_id)
        where = {"referral_id": referral_id, "attachment_id": attachment_id}
        if found is None:
            uploads["refused"] += 1
            detail = f"no file {attachment_id}[.ext] in {directory} or {directory / referral_id}"
            click.echo(json.dumps({**where, "code": "attachment_file_missing",
                                   "detail": detail}), err=True)  # fmt: skip
            continue
        size = found.stat().st_size
        try:
            with click.progressbar(
                length=size, label=f"uploading {attachment_id}", file=sys.stderr,
                hidden=size < _SHOW_PROGRESS_FROM,
            ) as bar:  # fmt: skip
                (upload,) = client.upload_attachments(result, {attachment_id: found},
                                                      progress=_Advance(bar))  # fmt: skip
        except APIError as exc:
            uploads["refused"] += 1
            click.echo(json.dumps({**where, "path": str(found), **exc.problem}), err=True)
            continue
        except (TransportError, StriveClientError) as exc:
            uploads["refused"] += 1
            click.echo(json.dumps({**where, "code": type(exc).__name__, "detail": str(exc)}),
                       err=True)  # fmt: skip
            continue
        uploads["already held" if upload.replayed else "uploaded"] += 1
        click.echo(json.dumps({
            "status": "attachment_replayed" if upload.replayed else "attachment_uploaded",
            **where, "path": str(found), "sha256": upload.sha256, "size_bytes": upload.size_bytes,
        }))  # fmt: skip
