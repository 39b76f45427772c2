"""``strive conformance receiver``, ``client``, ``witness`` and ``recipient``
(spec/conformance.md).

``receiver --url URL --asw-id ID --key PRIVATE_KEY [--passphrase-file FILE]
[--analyst-token T] [--report FILE]`` runs the receiver suite as the ASW ``ID``, whose key
(a file as ``strive keys generate`` writes it) must be registered at the receiver. It prints
one line per check (id, level, result, reason) and a verdict, writes the JSON report to
``--report``, and exits 1 when a MUST failed, 0 otherwise (2 for usage errors).

``client --port N [--scenarios LIST] [--retry-after S] [--timeout S] [--asw-public-key FILE]
[--report FILE]`` runs a mock receiver on 127.0.0.1:N until the session ends (see
``strive_client.conformance.client``), then prints and writes the report the same way.

``witness --port N [--witness-key VKEY] [--timeout S] [--report FILE]`` runs a mock
transparency log on 127.0.0.1:N that serves a witness one scripted checkpoint per run (see
``strive_client.conformance.witness``), then reports the same way.

``recipient --port N --recipient-id ID --public-key JWKS [--timeout S] [--report FILE]``
runs a mock receiver that serves sealed packages to the recipient's key, good and bad (see
``strive_client.conformance.recipient``), and reports what the recipient made of each.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from strive_client._cli.keys import read_passphrase
from strive_client.conformance import MockReceiver, Report, run_receiver_suite
from strive_client.conformance.client import DEFAULT_SCENARIOS, SCENARIOS
from strive_client.conformance.recipient import RecipientMock, recipient_public_keys
from strive_client.conformance.witness import STAGES, WitnessMock
from strive_schema.errors import KeyFormatError
from strive_schema.keys import PublicKey, SigningKey


@click.group("conformance")
def conformance_group() -> None:
    """Test a receiver or a client against the Strive conformance classes."""


def _finish(report: Report, report_file: Path | None) -> None:
    click.echo(report.table())
    if report_file is not None:
        try:
            report.write(report_file)
        except OSError as exc:
            raise click.ClickException(f"cannot write the report: {exc}") from None
    if not report.conformant:
        raise SystemExit(1)


_REPORT = click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON report to this file.",
)


@conformance_group.command("receiver")
@click.option("--url", required=True, help="The receiver's base URL.")
@click.option("--asw-id", required=True, help="An ASW registered at the receiver.")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="That ASW's private key (PKCS#8 PEM, as `strive keys generate` writes it).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The key's passphrase, if it is encrypted.",
)
@click.option("--analyst-token", help="An analyst token: adds the checks that need one.")
@_REPORT
def receiver_command(
    url: str,
    asw_id: str,
    key_file: Path,
    passphrase_file: Path | None,
    analyst_token: str | None,
    report_file: Path | None,
) -> None:
    """Run every testable MUST of the receiver class against URL (sandbox referrals only)."""
    try:
        key = SigningKey.from_file(key_file, password=read_passphrase(passphrase_file))
    except (KeyFormatError, ValueError, OSError) as exc:
        raise click.BadParameter(f"cannot read the key: {exc}", param_hint="--key") from None
    report = run_receiver_suite(url, asw_id=asw_id, key=key, analyst_token=analyst_token)
    _finish(report, report_file)


def _scenarios(value: str | None) -> tuple[str, ...]:
    if value is None:
        return tuple(DEFAULT_SCENARIOS)
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(SCENARIOS)}", param_hint="--scenarios")
    return names


@conformance_group.command("client")
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1.")
@click.option("--scenarios", help=f"Comma-separated, in order (default: {','.join(SCENARIOS)}).")
@click.option(
    "--retry-after",
    default=1,
    show_default=True,
    type=click.IntRange(0, 120),
    help="Seconds of Retry-After on the scripted 503 and 429.",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="End the session after this many seconds.",
)
@click.option(
    "--asw-public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The client's public key (PEM or JWK): also verify its envelopes' signatures.",
)
@_REPORT
def client_command(
    port: int,
    scenarios: str | None,
    retry_after: int,
    timeout: float,
    asw_public_key: Path | None,
    report_file: Path | None,
) -> None:
    """Run a mock receiver that exercises a client's retries, receipts and replays."""
    public_key = None
    if asw_public_key is not None:
        try:
            public_key = PublicKey.load(asw_public_key.read_bytes())
        except (KeyFormatError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--asw-public-key") from None
    try:
        mock = MockReceiver(
            port, scenarios=_scenarios(scenarios), retry_after=retry_after, timeout=timeout,
            asw_public_key=public_key,
        )  # fmt: skip
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    url = mock.start()
    click.echo(f"mock receiver at {url}; scenarios: {', '.join(mock.record.scenarios)}", err=True)
    click.echo(f"end the session with GET {url}/conformance/report", err=True)
    try:
        report = mock.wait()
    except KeyboardInterrupt:  # the developer ends the session by hand: report what was seen
        report = mock.stop()
    _finish(report, report_file)


@conformance_group.command("witness")
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1.")
@click.option(
    "--witness-key",
    help="The witness's cosigner verifier key (name+keyid+key): also verify its signatures.",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="End the session after this many seconds.",
)
@_REPORT
def witness_command(
    port: int, witness_key: str | None, timeout: float, report_file: Path | None
) -> None:
    """Run a mock transparency log that gives a witness checkpoints to cosign and to refuse."""
    try:
        mock = WitnessMock(port, timeout=timeout, witness_key=witness_key)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--witness-key") from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    url = mock.start()
    click.echo(f"mock log at {url}; run the witness once per stage: {', '.join(STAGES)}", err=True)
    click.echo(f"end the session with GET {url}/conformance/report", err=True)
    try:
        report = mock.wait()
    except KeyboardInterrupt:
        report = mock.stop()
    _finish(report, report_file)


@conformance_group.command("recipient")
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1.")
@click.option("--recipient-id", required=True, help="The recipient's id, as registered.")
@click.option(
    "--public-key",
    "public_key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The recipient's public JWK Set (as `strive keys generate --purpose recipient` "
    "writes it): packages are sealed to its encryption key.",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="End the session after this many seconds.",
)
@_REPORT
def recipient_command(
    port: int, recipient_id: str, public_key_file: Path, timeout: float, report_file: Path | None
) -> None:
    """Run a mock receiver that serves a recipient sealed packages to open and to refuse."""
    try:
        document = json.loads(public_key_file.read_bytes())
        keys = recipient_public_keys(document if isinstance(document, dict) else {})
    except (ValueError, KeyFormatError) as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None
    try:
        mock = RecipientMock(recipient_id, keys, port, timeout=timeout)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    url = mock.start()
    click.echo(f"mock receiver at {url}; packages listed at {url}/conformance/packages", err=True)
    click.echo(f"report each result to POST {url}/conformance/results", err=True)
    try:
        report = mock.wait()
    except KeyboardInterrupt:
        report = mock.stop()
    _finish(report, report_file)


__all__ = ["conformance_group"]
