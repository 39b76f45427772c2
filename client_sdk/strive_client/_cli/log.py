"""``strive log witness`` and ``strive log verify``: watch a receiver's transparency log.

A witness (any ASW, an oversight body) keeps its cosigner key and the newest checkpoint it
has seen in a folder; each run it fetches the newest checkpoint, proves from the tiles that
it extends the last one, cosigns it (c2sp.org/tlog-cosignature) and sends the cosignature
back. ``strive log verify`` recomputes the whole tree from the tiles, checks the checkpoint
signature and every cosignature, and reports a fork or a rollback against a state file.

Exit status: 0 when everything verified, 1 when the log was refused (the stable code is
printed), 2 for usage errors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import click
import httpx

from strive_client._auth import RequestSigner
from strive_client._tlog import (
    FileCheckpointStore,
    MemoryCheckpointStore,
    drive,
    recompute_from_tiles,
    trust_from,
)
from strive_schema.errors import LogError
from strive_schema.keys import SigningKey
from strive_schema.note import ALG_COSIGNATURE_V1, NoteSigner, parse_note

__all__ = ["log_group"]

_KEY_FILE = "witness.key"
_LOG_FILE = "log.json"
_CHECKPOINTS = "checkpoints.json"


@click.group("log")
def log_group() -> None:
    """Witness and verify a receiver's transparency log (spec/transparency-log.md)."""


def _fetcher(http: httpx.Client) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        response = http.get(f"/v1/log/{path}")
        if response.status_code != 200:
            try:
                code = response.json().get("code", response.status_code)
            except ValueError:
                code = response.status_code
            raise click.ClickException(f"GET /v1/log/{path}: {code}")
        return response.content

    return fetch


def _log_info(http: httpx.Client, pinned: str | None) -> tuple[str, list[str]]:
    """The log's verifier key (pinned, or the discovery document's: trust on first use) and
    the witness keys the discovery document publishes."""
    response = http.get("/.well-known/strive-configuration")
    log = response.json().get("log") if response.status_code == 200 else None
    published = [str(w) for w in log.get("witnesses", [])] if isinstance(log, dict) else []
    if pinned:
        return pinned, published
    if not isinstance(log, dict) or "vkey" not in log:
        raise click.ClickException("the receiver publishes no transparency log; pass --log-key")
    return str(log["vkey"]), published


def _witness_signer(state: Path, name: str | None) -> NoteSigner:
    path = state / _KEY_FILE
    if path.exists():
        return NoteSigner.from_skey(path.read_text(encoding="utf-8"))
    if not name:
        raise click.UsageError("the first run creates the witness key: give it a --name")
    signer = NoteSigner.generate(name, ALG_COSIGNATURE_V1)
    state.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(signer.skey + "\n", encoding="utf-8")
    click.echo(f"new witness key; give the receiver its verifier key:\n{signer.verifier.vkey}",
               err=True)  # fmt: skip
    return signer


def _witness_auth(signer: NoteSigner) -> RequestSigner:
    """A witness signs its reads with its cosigner key, naming itself in Strive-Witness-Id."""
    return RequestSigner(SigningKey(signer.private_key), signer.name, header="Strive-Witness-Id")


@log_group.command("witness")
@click.option("--url", required=True, help="The receiver's base URL.")
@click.option(
    "--state",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The witness's folder: its key, the log's key and the newest checkpoint seen.",
)
@click.option("--name", default=None, help="The witness's key name (first run only).")
@click.option("--log-key", default=None, help="The log's verifier key (default: discovery).")
def witness_command(url: str, state: Path, name: str | None, log_key: str | None) -> None:
    """Verify the newest checkpoint extends the last one seen, then cosign it."""
    signer = _witness_signer(state, name)
    with httpx.Client(base_url=url, auth=_witness_auth(signer), timeout=30) as http:
        log_file = state / _LOG_FILE
        if log_file.exists():
            vkey = str(json.loads(log_file.read_text(encoding="utf-8"))["vkey"])
        else:
            vkey = _log_info(http, log_key)[0]
            log_file.write_text(json.dumps({"vkey": vkey}), encoding="utf-8")
        trust = trust_from(vkey)
        store = FileCheckpointStore(state / _CHECKPOINTS)
        try:
            result = drive(_fetcher(http), trust, store, receiver=url.rstrip("/"))
        except LogError as exc:
            raise click.ClickException(f"{exc.code.value}: {exc.detail}") from None
        text = parse_note(result.note).text
        signature = signer.sign(text)
        line = f"\u2014 {signer.name} {base64.b64encode(signature).decode()}\n"
        note = text + "\n" + line
        response = http.post(
            "/v1/log/cosignature",
            content=note.encode(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if response.status_code != 200:
            raise click.ClickException(f"the receiver refused the cosignature: {response.text}")
    checkpoint = result.checkpoint
    since = "" if result.previous_size is None else f", consistent with {result.previous_size}"
    click.echo(f"cosigned {checkpoint.origin} at size {checkpoint.size}{since}")


@log_group.command("verify")
@click.option("--url", required=True, help="The receiver's base URL.")
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A file keeping the newest checkpoint verified (forks, rollbacks).")  # fmt: skip
@click.option("--log-key", default=None, help="The log's verifier key (default: discovery).")
@click.option("--witness", "witnesses", multiple=True, help="A witness's verifier key (repeat).")
@click.option("--quorum", default=0, show_default=True, type=click.IntRange(0, 64),
              help="Distinct witnesses that must have cosigned (needs --witness).")  # fmt: skip
@click.option("--token", default=None, envvar="STRIVE_TOKEN", help="A bearer token.")
@click.option("--asw-id", default=None,
              help="Read as this ASW (with --key); ASWs are not served entry bundles.")  # fmt: skip
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The ASW's private key (PEM).")  # fmt: skip
@click.option("--witness-state", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Read as the witness whose folder this is.")  # fmt: skip
def verify_command(
    url: str,
    state: Path | None,
    log_key: str | None,
    witnesses: tuple[str, ...],
    quorum: int,
    token: str | None,
    asw_id: str | None,
    key_file: Path | None,
    witness_state: Path | None,
) -> None:
    """Recompute the tree from the tiles; check the checkpoint, cosignatures and history."""
    if quorum and not witnesses:
        # The receiver's discovery document names witnesses the operator chose: a quorum
        # of those proves nothing against the operator.
        raise click.UsageError("--quorum needs --witness keys obtained out of band")
    auth: httpx.Auth | None = None
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif asw_id and key_file:
        auth = RequestSigner(SigningKey.from_file(key_file), asw_id)
    elif witness_state:
        signer = _witness_signer(witness_state, None)
        auth = RequestSigner(
            SigningKey(signer.private_key), signer.name, header="Strive-Witness-Id"
        )
    else:
        raise click.UsageError("read with --token, --asw-id and --key, or --witness-state")
    with httpx.Client(base_url=url, auth=auth, headers=headers, timeout=60) as http:
        vkey, published = _log_info(http, log_key)
        trust = trust_from(vkey, witnesses or published, quorum)
        store = FileCheckpointStore(state) if state else MemoryCheckpointStore()
        fetch = _fetcher(http)
        try:
            result = drive(fetch, trust, store, receiver=url.rstrip("/"))
            checked = recompute_from_tiles(result.checkpoint, fetch)
            known = {(w.name, w.key_id) for w in trust.witnesses}
            cosigned = sum(
                1 for s in parse_note(result.note).signatures if (s.name, s.key_id) in known
            )
        except LogError as exc:
            click.echo(f"FAIL {exc.code.value}: {exc.detail}")
            raise SystemExit(1) from None
    checkpoint = result.checkpoint
    click.echo(
        f"ok {checkpoint.origin} size {checkpoint.size} root {checkpoint.root.hex()}: "
        f"{checked} tiles and bundles recomputed, {cosigned} cosignature(s) verified"
        + ("" if result.previous_size is None else f", consistent with {result.previous_size}")
    )
