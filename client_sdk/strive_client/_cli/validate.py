"""``strive validate PATH... [--format text|json] [--strict]``: the compliance validator.

Exit status: 0 when every document is valid, 1 when any is invalid, 2 for usage errors and
unreadable files. With ``--format json`` each document produces one JSON object on its own
line: ``path``, ``line`` (NDJSON line number, else null), ``valid``, ``errors``, ``warnings``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import click

from strive_schema.normalise import DEFAULT_REGION
from strive_schema.validator import MAX_DOCUMENT_BYTES, ValidationResult, validate_json

NDJSON_SUFFIXES: Final = frozenset({".ndjson", ".jsonl"})
EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _documents(
    path: str, *, ndjson: bool, region: str
) -> Iterator[tuple[int | None, ValidationResult]]:
    """Yield (line or None, result) for each document in ``path``; raise OSError if unreadable."""
    if path == "-":
        stream = sys.stdin.buffer
        if ndjson:
            yield from _ndjson_lines(stream, region)
        else:
            yield None, validate_json(stream.read(MAX_DOCUMENT_BYTES + 1), default_region=region)
        return
    file_path = Path(path)
    if file_path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    with file_path.open("rb") as stream:
        if ndjson or file_path.suffix.lower() in NDJSON_SUFFIXES:
            yield from _ndjson_lines(stream, region)
        else:
            # Read one byte more than the limit so an oversized file is reported as such.
            yield None, validate_json(stream.read(MAX_DOCUMENT_BYTES + 1), default_region=region)


def _ndjson_lines(stream: Any, region: str) -> Iterator[tuple[int | None, ValidationResult]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, validate_json(line, default_region=region)


def _printable(pointer: str) -> str:
    # A member name may hold a newline or U+0000; the text report shows it as an escape.
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in pointer)


def _text_report(path: str, line: int | None, result: ValidationResult, valid: bool) -> str:
    where = f"{path}:{line}" if line is not None else path
    status = "valid" if valid else "invalid"
    counts = []
    if result.errors:
        counts.append(f"{len(result.errors)} error{'s' if len(result.errors) != 1 else ''}")
    if result.warnings:
        counts.append(f"{len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}")
    lines = [f"{where}: {status}" + (f" ({', '.join(counts)})" if counts else "")]
    for severity, findings in (("error", result.errors), ("warning", result.warnings)):
        for finding in findings:
            pointer = _printable(finding.pointer) or "/"
            lines.append(
                f"  {severity} {finding.code} at {pointer}: {finding.message} [{finding.kind}]"
            )
    return "\n".join(lines)


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json for one object per document per line.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--ndjson",
    is_flag=True,
    help="Read every file as NDJSON (one referral per line); implied by .ndjson and .jsonl.",
)
@click.option(
    "--region",
    default=DEFAULT_REGION,
    show_default=True,
    help="Region for phone numbers written in national format (ISO 3166-1 alpha-2).",
)
def validate_command(
    paths: tuple[str, ...], output_format: str, strict: bool, ndjson: bool, region: str
) -> None:
    """Validate referral documents (JSON or NDJSON; '-' reads standard input).

    Reports every error with a JSON Pointer, a stable code and a message; warnings
    separately. Exit 0 when all are valid, 1 when any is invalid, 2 for usage errors or
    unreadable files.
    """
    exit_code = EXIT_VALID
    documents = invalid = 0
    for path in paths:
        try:
            for line, result in _documents(path, ndjson=ndjson, region=region):
                documents += 1
                valid = result.valid and not (strict and result.warnings)
                invalid += not valid
                if not valid and exit_code == EXIT_VALID:
                    exit_code = EXIT_INVALID
                if output_format == "json":
                    report = {"path": path, "line": line, **result.to_dict(), "valid": valid}
                    click.echo(json.dumps(report, ensure_ascii=False))
                else:
                    click.echo(_text_report(path, line, result, valid))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            click.echo(f"strive validate: cannot read {path}: {reason}", err=True)
            exit_code = EXIT_USAGE
    if documents > 1 or exit_code == EXIT_USAGE:
        click.echo(f"{documents} document(s), {invalid} invalid", err=True)
    sys.exit(exit_code)
