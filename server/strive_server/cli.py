"""``strive serve`` and ``strive admin ...``: run and administer the reference receiver.

Contributed to the ``strive`` command through the ``strive.cli`` entry-point group, so the
client package never imports the server.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import sqlalchemy as sa
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from strive_schema.envelope import format_timestamp
from strive_schema.errors import KeyFormatError
from strive_schema.keys import PublicKey, SigningKey
from strive_schema.note import NoteVerifier
from strive_server.core.config import Settings
from strive_server.core.logging import configure_logging
from strive_server.core.security import hash_token
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.problems import Problem
from strive_server.services import admin, dissemination, tlog
from strive_server.services.audit import Actor, record_event
from strive_server.services.linkworker import LinkingWorker, backlog, drain

__all__ = ["admin_group", "serve_command", "worker_command"]

CLI_ACTOR = Actor("admin", "cli")
DEMO_DIR = Path(".strive/demo")
DEMO_EVIDENCE_FILES = Path("spec/examples/files")
"""The demo's evidence files (strive_server/demo_files.py), uploaded with the referrals."""


def _settings(url: str | None) -> Settings:
    return Settings() if url is None else Settings(database_url=url)


def _database(url: str | None) -> sessionmaker[Session]:
    """Open (creating or migrating as needed) the database named by --db or the settings."""
    engine = make_engine(_settings(url).database_url)
    migrate(engine)
    return make_sessionmaker(engine)


def _read_public_key(path: Path) -> PublicKey:
    try:
        return PublicKey.load(path.read_bytes())
    except (KeyFormatError, OSError) as exc:
        raise click.BadParameter(f"cannot use {path}: {exc}", param_hint="--public-key") from None


def _run(sessions: sessionmaker[Session], action: object) -> object:
    """Run ``action`` in one transaction, then close the pool's connections (a command runs a
    few actions; it holds no database connection between them)."""
    try:
        with sessions() as session, session.begin():
            return action(session)  # type: ignore[operator]
    except Problem as problem:
        raise click.ClickException(f"{problem.code}: {problem.detail}") from None
    finally:
        bind = sessions.kw.get("bind")
        if isinstance(bind, Engine):
            bind.dispose()


_DB = click.option(
    "--db", "database_url", default=None, help="Database URL (default: STRIVE_DATABASE_URL)."
)
_PUBLIC_KEY = click.option(
    "--public-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The ASW's Ed25519 public key, PEM or JWK.",
)


@click.group("admin")
def admin_group() -> None:
    """Administer the receiver: ASWs, recipients, their keys, and law-enforcement tokens."""


_REQUESTER = click.option(
    "--requester",
    required=True,
    help="Your name: a different operator approves the request (dual control).",
)


def _operator(name: str) -> admin.Person:
    name = name.strip()
    if not name:
        raise click.BadParameter("name the person", param_hint="--requester/--approver")
    return admin.Person(name, None, Actor("admin", name))


def _ttl(database_url: str | None) -> timedelta:
    return timedelta(hours=_settings(database_url).approval_request_hours)


def _announce(row: tables.ApprovalRequest, what: str) -> None:
    """The request id on standard output; what it asks and how to approve it on standard
    error."""
    click.echo(
        f"approval request {row.id}: {what}; another operator approves it before "
        f"{row.expires_at.isoformat()} with: strive admin approve {row.id} --approver NAME",
        err=True,
    )
    click.echo(row.id)


@admin_group.command("register-asw")
@click.option("--asw-id", required=True)
@click.option("--name", required=True)
@_PUBLIC_KEY
@_REQUESTER
@_DB
def register_asw(
    asw_id: str, name: str, public_key: Path, requester: str, database_url: str | None
) -> None:
    """Ask to register an ASW with its first public key; prints the request id. Another
    operator completes it with `strive admin approve`."""
    key = _read_public_key(public_key)
    person = _operator(requester)
    row = _run(
        _database(database_url),
        lambda s: admin.request_asw_registration(
            s, asw_id=asw_id, name=name, public_key=key, requester=person,
            ttl=_ttl(database_url),
        ),
    )  # fmt: skip
    assert isinstance(row, tables.ApprovalRequest)
    _announce(row, f"register ASW {asw_id} with key {key.key_id}")


def _read_jwks(path: Path) -> dict[str, object]:
    try:
        jwks = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot use {path}: {exc}", param_hint="--public-key") from None
    if not isinstance(jwks, dict):
        raise click.BadParameter("expected a JWK Set", param_hint="--public-key")
    return jwks


@admin_group.command("register-recipient")
@click.option("--recipient-id", required=True)
@click.option("--name", required=True)
@click.option(
    "--public-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The recipient's JWK Set (public_key.jwk from strive keys generate --purpose recipient).",
)
@click.option("--region", "regions", multiple=True, help="ITL1 code it covers (repeatable).")
@_REQUESTER
@_DB
def register_recipient(
    recipient_id: str, name: str, public_key: Path, regions: tuple[str, ...], requester: str,
    database_url: str | None,
) -> None:  # fmt: skip
    """Ask to register a recipient (force, unit, agency) with its keys; prints the request
    id. Another operator completes it with `strive admin approve`, which prints the key ids."""
    jwks = _read_jwks(public_key)
    person = _operator(requester)
    row = _run(
        _database(database_url),
        lambda s: admin.request_recipient_registration(
            s, recipient_id=recipient_id, name=name, regions=regions, jwks=jwks,
            requester=person, ttl=_ttl(database_url),
        ),
    )  # fmt: skip
    assert isinstance(row, tables.ApprovalRequest)
    key_ids = ", ".join(key["kid"] for key in row.parameters["public_keys"]["keys"])
    _announce(row, f"register recipient {recipient_id} with keys {key_ids}")


@admin_group.command("add-recipient-key")
@click.option("--recipient-id", required=True)
@click.option(
    "--public-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JWK Set of the keys to add (signing and/or encryption keys).",
)
@_REQUESTER
@_DB
def add_recipient_key(
    recipient_id: str, public_key: Path, requester: str, database_url: str | None
) -> None:
    """Ask to add keys to a recipient (rotation); prints the request id. Another operator
    completes it with `strive admin approve`."""
    jwks = _read_jwks(public_key)
    person = _operator(requester)
    row = _run(
        _database(database_url),
        lambda s: admin.request_recipient_keys(
            s, recipient_id=recipient_id, jwks=jwks, requester=person, ttl=_ttl(database_url)
        ),
    )
    assert isinstance(row, tables.ApprovalRequest)
    key_ids = ", ".join(key["kid"] for key in row.parameters["public_keys"]["keys"])
    _announce(row, f"add keys {key_ids} to recipient {recipient_id}")


class _Timestamp(click.ParamType[datetime]):
    """An RFC 3339 date-time with an offset (``2026-03-01T12:00:00Z``)."""

    name = "RFC3339"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an RFC 3339 date-time", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no offset (add Z or +00:00)", param, ctx)
        return moment.astimezone(UTC)


_TIMESTAMP = _Timestamp()


@admin_group.command("add-key")
@click.option("--asw-id", required=True)
@_PUBLIC_KEY
@click.option("--not-before", type=_TIMESTAMP, default=None, help="First time the key may sign.")
@click.option("--not-after", type=_TIMESTAMP, default=None, help="Last time the key may sign.")
@_REQUESTER
@_DB
def add_key(
    asw_id: str, public_key: Path, not_before: datetime | None, not_after: datetime | None,
    requester: str, database_url: str | None,
) -> None:  # fmt: skip
    """Ask to add a public key to an ASW (rotation), with an optional validity period;
    prints the request id. Another operator completes it with `strive admin approve`."""
    key = _read_public_key(public_key)
    person = _operator(requester)
    row = _run(
        _database(database_url),
        lambda s: admin.request_key(
            s, asw_id=asw_id, public_key=key, requester=person, ttl=_ttl(database_url),
            not_before=not_before, not_after=not_after,
        ),
    )  # fmt: skip
    assert isinstance(row, tables.ApprovalRequest)
    _announce(row, f"add key {key.key_id} to ASW {asw_id}")


@admin_group.command("retire-key")
@click.option("--asw-id", required=True)
@click.option("--key-id", required=True)
@click.option(
    "--at", "retired_at", type=_TIMESTAMP, default=None,
    help="When it stops signing (default: now; never in the past).",
)  # fmt: skip
@_DB
def retire_key(
    asw_id: str, key_id: str, retired_at: datetime | None, database_url: str | None
) -> None:
    """Retire an ASW's key after a rotation: nothing it signs from then on is accepted, and
    everything received before stays valid evidence."""
    when = _run(
        _database(database_url),
        lambda s: admin.retire_key(s, asw_id=asw_id, key_id=key_id, actor=CLI_ACTOR, at=retired_at),
    )
    assert isinstance(when, datetime)
    click.echo(f"retired {key_id} from {format_timestamp(when)}", err=True)


@admin_group.command("revoke-key")
@click.option("--asw-id", required=True)
@click.option("--key-id", required=True)
@click.option(
    "--compromised-at", type=_TIMESTAMP, default=None,
    help="From when the key is known or feared to be compromised (default: now).",
)  # fmt: skip
@_DB
def revoke_key(
    asw_id: str, key_id: str, compromised_at: datetime | None, database_url: str | None
) -> None:
    """Revoke an ASW's key as compromised: what it signed that was received from
    --compromised-at on is invalid evidence; what was received before stays valid."""
    when = _run(
        _database(database_url),
        lambda s: admin.revoke_key(
            s, asw_id=asw_id, key_id=key_id, actor=CLI_ACTOR, compromised_at=compromised_at
        ),
    )
    assert isinstance(when, datetime)
    click.echo(f"revoked {key_id}: compromised from {format_timestamp(when)}", err=True)


@admin_group.command("retire-recipient-key")
@click.option("--recipient-id", required=True)
@click.option("--key-id", required=True)
@click.option(
    "--at", "retired_at", type=_TIMESTAMP, default=None,
    help="When it stops (default: now; never in the past).",
)  # fmt: skip
@_DB
def retire_recipient_key(
    recipient_id: str, key_id: str, retired_at: datetime | None, database_url: str | None
) -> None:
    """Retire a recipient's key after a rotation: nothing is sealed to it, and nothing it
    signs is accepted, from then on."""
    when = _run(
        _database(database_url),
        lambda s: dissemination.retire_recipient_key(
            s, recipient_id=recipient_id, key_id=key_id, actor=CLI_ACTOR, at=retired_at
        ),
    )
    assert isinstance(when, datetime)
    click.echo(f"retired {key_id} from {format_timestamp(when)}", err=True)


@admin_group.command("revoke-recipient-key")
@click.option("--recipient-id", required=True)
@click.option("--key-id", required=True)
@click.option(
    "--compromised-at", type=_TIMESTAMP, default=None,
    help="From when the key is known or feared to be compromised (default: now).",
)  # fmt: skip
@_DB
def revoke_recipient_key(
    recipient_id: str, key_id: str, compromised_at: datetime | None, database_url: str | None
) -> None:
    """Revoke one of a recipient's keys as compromised: nothing is sealed to it, and what
    it signed that was received from --compromised-at on is refused."""
    when = _run(
        _database(database_url),
        lambda s: dissemination.revoke_recipient_key(
            s, recipient_id=recipient_id, key_id=key_id, actor=CLI_ACTOR,
            compromised_at=compromised_at,
        ),
    )  # fmt: skip
    assert isinstance(when, datetime)
    click.echo(f"revoked {key_id}: compromised from {format_timestamp(when)}", err=True)


@admin_group.command("create-token")
@click.option(
    "--role", required=True, type=click.Choice(["analyst", "supervisor", "auditor", "admin"])
)
@click.option("--name", required=True, help="Who holds the token (kept in the audit trail).")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 366),
    default=None,
    help="Days until the token stops working (default: STRIVE_TOKEN_LIFETIME_DAYS, 90).",
)
@click.option(
    "--requester",
    default=None,
    help="Your name. Analyst, supervisor and admin tokens need it: they are created when a "
    "different operator approves the request (dual control).",
)
@_DB
def create_token(
    role: str,
    name: str,
    expires_in_days: int | None,
    requester: str | None,
    database_url: str | None,
) -> None:
    """Create an auditor token, or ask for an analyst, supervisor or admin token, which
    `strive admin approve` creates (in two halves: see `strive admin collect`). A token is
    printed alone on standard output; only its hash is stored. The very first admin token
    (when no admin token works) needs no approval."""
    lifetime = timedelta(days=expires_in_days or _settings(database_url).token_lifetime_days)
    actor = CLI_ACTOR if requester is None else _operator(requester).actor

    def create(session: Session) -> tuple[int, str, datetime] | tables.ApprovalRequest:
        if not admin.needs_dual_control(role):
            return admin.create_token(session, name=name, role=role, lifetime=lifetime, actor=actor)
        if role == "admin" and admin.live_admin_tokens(session) == 0:
            created = admin.create_token(
                session, name=name, role=role, lifetime=lifetime, actor=actor
            )
            record_event(
                session, actor=actor, action="token.bootstrapped",
                detail={"token_id": created[0], "role": role},
            )  # fmt: skip
            return created
        if requester is None:
            raise click.UsageError(
                f"a {role} token needs a second person: give --requester YOUR_NAME, then "
                "another operator runs `strive admin approve REQUEST_ID --approver THEIR_NAME`"
            )
        return admin.request_token(
            session, name=name, role=role, lifetime=lifetime, requester=_operator(requester),
            ttl=_ttl(database_url),
        )  # fmt: skip

    result = _run(_database(database_url), create)
    if isinstance(result, tables.ApprovalRequest):
        _announce(result, f"create a {role} token for {name}")
        return
    assert isinstance(result, tuple)
    click.echo(f"token {result[0]} expires at {result[2].isoformat()}", err=True)
    click.echo(result[1])


_REQUEST_ID = click.argument("request_id", type=click.IntRange(1, 2**31 - 1))


@admin_group.command("approve")
@_REQUEST_ID
@click.option("--approver", required=True, help="Your name: not the requester's.")
@_DB
def approve(request_id: int, approver: str, database_url: str | None) -> None:
    """Approve another operator's or admin's request and carry it out. Prints half B of the
    new token alone (token requests: the requester collects half A with `strive admin
    collect`, and `strive admin join-token` joins the two), or the key ids, one a line (ASW,
    recipient and key requests), on standard output."""
    person = _operator(approver)
    approval = _run(
        _database(database_url),
        lambda s: admin.approve_request(s, request_id=request_id, approver=person),
    )
    assert isinstance(approval, admin.Approval)
    if approval.token_half is not None:
        half = approval.token_half
        click.echo(
            f"token {half.token_id} expires at {half.expires_at.isoformat()}; this is half B: "
            f"the requester collects half A with `strive admin collect {request_id}`",
            err=True,
        )
        click.echo(half.half)
    else:
        click.echo(f"approved request {request_id}", err=True)
        result = approval.request.result
        for key_id in result.get("key_ids", [result.get("key_id")]):
            click.echo(key_id)


@admin_group.command("collect")
@_REQUEST_ID
@click.option("--requester", required=True, help="Your name: the requester's.")
@_DB
def collect(request_id: int, requester: str, database_url: str | None) -> None:
    """The requester collects half A of an approved token request, once; it is printed alone
    on standard output. `strive admin join-token` joins it with the approver's half B."""
    person = _operator(requester)
    half = _run(
        _database(database_url),
        lambda s: admin.collect_token_half(s, request_id=request_id, collector=person),
    )
    assert isinstance(half, admin.TokenHalf)
    click.echo(
        f"token {half.token_id} expires at {half.expires_at.isoformat()}; this is half A",
        err=True,
    )
    click.echo(half.half)


@admin_group.command("join-token")
@click.argument("first", required=False)
@click.argument("second", required=False)
def join_token(first: str | None, second: str | None) -> None:
    """Join a token's half A (strvA_...) and half B (strvB_...), in either order, and print
    the token: "strv_" followed by A and then B, each without its prefix. Reads no database.
    A half not given is asked for without echo (keeping it out of the shell's history)."""
    if first is None:
        first = str(click.prompt("first half", hide_input=True, err=True))
    if second is None:
        second = str(click.prompt("second half", hide_input=True, err=True))
    try:
        click.echo(admin.join_token_halves(first, second))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FIRST/SECOND") from None


@admin_group.command("reject")
@_REQUEST_ID
@click.option("--by", "by", required=True, help="Your name.")
@_DB
def reject(request_id: int, by: str, database_url: str | None) -> None:
    """Refuse a pending request (or withdraw your own)."""
    person = _operator(by)
    _run(
        _database(database_url),
        lambda s: admin.reject_request(s, request_id=request_id, by=person),
    )
    click.echo(f"rejected request {request_id}", err=True)


@admin_group.command("list-requests")
@click.option(
    "--state",
    type=click.Choice(["pending", "approved", "rejected", "expired", "all"]),
    default="pending",
    show_default=True,
)
@_DB
def list_requests(state: str, database_url: str | None) -> None:
    """List approval requests (dual control) as JSON, newest first."""
    rows = _run(
        _database(database_url),
        lambda s: [
            admin.approval_view(row)
            for row in admin.list_requests(s, state=None if state == "all" else state)  # type: ignore[arg-type]
        ],
    )
    click.echo(json.dumps(rows, indent=2, default=str))


@admin_group.command("revoke-token")
@click.option("--token-id", required=True, type=int)
@_DB
def revoke_token(token_id: int, database_url: str | None) -> None:
    """Revoke a bearer token at once."""
    _run(
        _database(database_url), lambda s: admin.revoke_token(s, token_id=token_id, actor=CLI_ACTOR)
    )
    click.echo(f"revoked token {token_id}", err=True)


@admin_group.command("exclude-selector")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(
        ["phone", "email", "payer_name", "payment_card", "ip_address", "device", "postcode"]
    ),
)
@click.option("--value", required=True, help="As written; it is normalised like ingested values.")
@click.option("--reason", required=True, help="Why it must not link (kept in the audit trail).")
@_DB
def exclude_selector(kind: str, value: str, reason: str, database_url: str | None) -> None:
    """Stop a selector value linking referrals (e.g. an ASW's own support number)."""
    result = _run(
        _database(database_url),
        lambda s: admin.exclude_selector(s, kind=kind, value=value, reason=reason, actor=CLI_ACTOR),
    )
    click.echo(f"excluded {result}", err=True)


@admin_group.command("list-asws")
@_DB
def list_asws(database_url: str | None) -> None:
    """List registered ASWs and their keys as JSON."""
    rows = _run(_database(database_url), admin.list_asws)
    click.echo(json.dumps(rows, indent=2))


DEMO_ROLES = ("analyst", "supervisor", "auditor")


@admin_group.group("log")
def admin_log_group() -> None:
    """The receiver's transparency log (spec/transparency-log.md)."""


@admin_log_group.command("sequence")
@_DB
def log_sequence(database_url: str | None) -> None:
    """Append every pending entry to the log and sign a checkpoint (``strive serve`` does this
    every second by itself)."""
    settings = _settings(database_url)
    engine = make_engine(settings.database_url)
    migrate(engine)
    try:
        appended = tlog.sequence_all(engine, settings.log_signer)
        with engine.connect() as conn:
            size = tlog.latest_size(conn)
    finally:
        engine.dispose()
    click.echo(f"appended {appended} entries; the log holds {size}")


@admin_log_group.command("check")
@_DB
@click.option("--log-key", default=None,
              help="The log's verifier key (default: the one of STRIVE_LOG_KEY_FILE).")  # fmt: skip
def log_check(database_url: str | None, log_key: str | None) -> None:
    """Check that every receipt, audit event, lifecycle change, outcome and dissemination in
    the database has its log entry, and every entry's row is there, unaltered; that every
    stored checkpoint is signed by the log's key, consistent with the one before, and the
    newest one's root is what the tiles give. Exits 1 and names each mismatch (with its leaf
    index or checkpoint size) when any is found."""
    settings = _settings(database_url)
    verifier = NoteVerifier.from_vkey(log_key) if log_key else settings.log_signer.verifier
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            mismatches = tlog.check_database(conn, verifier)
            size = tlog.latest_size(conn)
    finally:
        engine.dispose()
    for mismatch in mismatches:
        click.echo(str(mismatch))
    if mismatches:
        count = len(mismatches)
        raise click.ClickException(f"{count} mismatch(es) between the database and the log")
    click.echo(f"the database and the log agree ({size} entries sequenced)")


def _demo_tokens_current(tokens_file: Path, sessions: sessionmaker[Session]) -> bool:
    """Whether the demo tokens file holds tokens this database knows, unrevoked, with a day or
    more to run (the database may be newer than the file)."""
    try:
        tokens = json.loads(tokens_file.read_bytes())
        hashes = {hash_token(tokens[role]) for role in DEMO_ROLES}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    horizon = datetime.now(UTC) + timedelta(days=1)
    live = _run(
        sessions,
        lambda s: s.scalar(
            sa.select(sa.func.count())
            .select_from(tables.Token)
            .where(
                tables.Token.token_hash.in_(hashes),
                tables.Token.revoked_at.is_(None),
                tables.Token.expires_at > horizon,
            )
        ),
    )
    return live == len(DEMO_ROLES)


def _say_how_to_submit(
    strive: str, asw_id: str, key_id: str, files: list[str], url: str, key_file: Path
) -> None:
    evidence = DEMO_EVIDENCE_FILES if DEMO_EVIDENCE_FILES.is_dir() else None
    click.echo(
        f"\n  ASW {asw_id} (key id {key_id}):\n"
        f"    {strive} submit {' '.join(files)} \\\n"
        f"      --url {url} --asw-id {asw_id} --key {key_file}"
        + (f" \\\n      --attachments {evidence}" if evidence else ""),
        err=True,
    )


def _demo(sessions: sessionmaker[Session], url: str, lifetime: timedelta) -> None:
    """Prepare demo ASWs for the published examples, and demo tokens, and say how to use them."""
    examples = sorted(Path("spec/examples").glob("*.json"))
    by_asw: dict[str, list[str]] = defaultdict(list)
    answers: list[str] = []
    for path in examples:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            asw_id = document["reporter"]["organisation_id"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if document.get("supplements", {}).get("relationship") == "answers_request":
            answers.append(str(path))  # needs a request for information first
        else:
            by_asw[asw_id].append(str(path))
    executable = Path(sys.executable).parent / "strive"
    try:
        strive = str(executable.relative_to(Path.cwd()))
    except ValueError:
        strive = str(executable) if executable.exists() else "strive"
    click.echo("\nDemo set-up (fictional data only):", err=True)
    for asw_id, files in sorted(by_asw.items()):
        folder = DEMO_DIR / asw_id
        key_file = folder / "private_key.pem"
        if not key_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(SigningKey.generate().to_pem())
        key = SigningKey.from_file(key_file)

        def ensure(session: Session, asw_id: str = asw_id, key: SigningKey = key) -> None:
            if session.get(tables.Asw, asw_id) is None:
                admin.register_asw(
                    session, asw_id=asw_id, name=f"Demo {asw_id}", public_key=key.public_key,
                    actor=CLI_ACTOR,
                )  # fmt: skip
            elif session.get(tables.AswKey, key.key_id) is None:
                admin.add_key(session, asw_id=asw_id, public_key=key.public_key, actor=CLI_ACTOR)

        _run(sessions, ensure)
        _say_how_to_submit(strive, asw_id, key.key_id, files, url, key_file)
    for answer in answers:
        click.echo(
            f"\n  {answer} answers a request for information: an analyst creates the request\n"
            "  (POST /v1/referrals/{id}/information-requests) and the ASW answers it with the SDK\n"
            "  (StriveClient.answer_information_request); see spec/api.md.",
            err=True,
        )
    tokens_file = DEMO_DIR / "tokens.json"
    if not _demo_tokens_current(tokens_file, sessions):

        def create(session: Session) -> dict[str, str]:  # one transaction: all three or none
            tokens: dict[str, str] = {}
            for role in DEMO_ROLES:
                _, tokens[role], expires_at = admin.create_token(
                    session, name=f"demo-{role}", role=role, lifetime=lifetime, actor=CLI_ACTOR
                )
            tokens["expires_at"] = expires_at.isoformat()
            return tokens

        tokens = _run(sessions, create)
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        partial = tokens_file.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as token_stream:
            token_stream.write(json.dumps(tokens, indent=2).encode())
        partial.replace(tokens_file)
    click.echo(
        f"\n  Demo bearer tokens (analyst, supervisor, auditor) are in {tokens_file}.\n"
        f'  Try: curl -H "Authorization: Bearer $(python3 -c "import json;'
        f"print(json.load(open('{tokens_file}'))['auditor'])\")\" {url}/v1/stats\n",
        err=True,
    )


DEMO_RECIPIENTS_DIR = Path(".strive/demo-recipients")
DEMO_RECIPIENT = ("met-cse", "Demo London force, sexual exploitation unit", "TLI")


def _demo_recipient(sessions: sessionmaker[Session], url: str) -> None:
    """A demo London force with its own keys, for the Operation Strive demo: it receives the
    sealed package and reports outcomes with requests signed by its key."""
    from strive_schema.sealed import RecipientDecryptionKeys  # noqa: PLC0415
    from strive_server.services import dissemination  # noqa: PLC0415

    recipient_id, name, region = DEMO_RECIPIENT
    folder = DEMO_RECIPIENTS_DIR / recipient_id
    folder.mkdir(parents=True, exist_ok=True)
    for filename in ("private_key.pem", "decryption_key.json"):
        path = folder / filename
        if not path.exists():
            content = (
                SigningKey.generate().to_pem()
                if filename.endswith(".pem")
                else RecipientDecryptionKeys.generate().to_json()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(content)
    signing = SigningKey.from_file(folder / "private_key.pem")
    decryption = RecipientDecryptionKeys.from_json((folder / "decryption_key.json").read_bytes())
    jwks = {"keys": [signing.public_key.to_jwk(), *(k.to_jwk() for k in decryption.public_keys())]}
    (folder / "public_key.jwk").write_text(json.dumps(jwks, indent=2) + "\n")

    def ensure(session: Session) -> None:
        if session.get(tables.Recipient, recipient_id) is None:
            dissemination.register_recipient(
                session, recipient_id=recipient_id, name=name, regions=[region], jwks=jwks,
                actor=CLI_ACTOR,
            )  # fmt: skip

    _run(sessions, ensure)
    executable = Path(sys.executable).parent / "strive"
    strive = str(executable) if executable.exists() else "strive"
    click.echo(
        f"\n  Recipient {recipient_id} (London): after an assessment, a supervisor disseminates\n"
        f"    {strive} disseminate cluster CLUSTER_ID --recipient {recipient_id} --url {url} \\\n"
        f"      --token SUPERVISOR_TOKEN --out package.sealed.json\n"
        f"  and the force opens it:\n"
        f"    {strive} package open package.sealed.json --recipient-id {recipient_id} "
        f"--key {folder / 'decryption_key.json'} --out package/ --url {url}",
        err=True,
    )


def _console_hint(url: str) -> None:
    """Where the demo's console is and how its analyst signs in."""
    tokens_file = DEMO_DIR / "tokens.json"
    click.echo(
        f"  The analysts' console: {url}/console/\n"
        "  Sign in with the demo analyst's (or supervisor's) token, which this prints:\n"
        f"    python3 -c \"import json;print(json.load(open('{tokens_file}'))['analyst'])\"\n",
        err=True,
    )


@click.command("serve")
@click.option(
    "--db",
    "database_url",
    default=None,
    help="Database URL (default: STRIVE_DATABASE_URL or sqlite:///strive.db).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--demo",
    is_flag=True,
    help="Register demo ASWs for spec/examples and print how to submit them.",
)
def serve_command(database_url: str | None, host: str, port: int, workers: int, demo: bool) -> None:
    """Run the reference receiver (migrates the database first)."""
    if database_url is not None:
        os.environ["STRIVE_DATABASE_URL"] = database_url  # the workers read their settings
    # Signed requests are verified against the origin clients use; never trust a Host header
    # for it (a request signed for another receiver must not verify here).
    if "STRIVE_PUBLIC_BASE_URL" not in os.environ:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise click.UsageError(
                "serving beyond loopback needs STRIVE_PUBLIC_BASE_URL: the https origin your "
                "ASWs use (e.g. https://referrals.police.example), to verify signed requests"
            )
        os.environ["STRIVE_PUBLIC_BASE_URL"] = f"http://{host}:{port}"
    settings = Settings()
    configure_logging(settings.log_level)
    sessions = _database(settings.database_url)
    settings.signing_key  # noqa: B018 - create the receipt key once, before the workers start
    settings.log_signer  # noqa: B018 - and the transparency log's checkpoint key
    url = f"http://{host}:{port}"
    if demo:
        _demo(sessions, url, timedelta(days=settings.token_lifetime_days))
        _demo_recipient(sessions, url)
        _console_hint(url)
    click.echo(
        f"Strive receiver {settings.receiver_id} on {url} "
        f"(database {settings.database_url.split('@')[-1]}, {workers} worker(s))",
        err=True,
    )
    log_key = settings.log_signer.verifier
    click.echo(f"  transparency log {log_key.name}, verifier key {log_key.vkey}", err=True)
    linker = _linking_worker(settings) if settings.linking_in_process else None
    try:
        uvicorn.run(
            "strive_server.api.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_config=None,
        )
    finally:
        if linker is not None:
            linker.stop()


def _linking_worker(settings: Settings) -> LinkingWorker:
    """Start the linking worker as a background thread of this process (spec/linking.md)."""
    engine = make_engine(settings.database_url)
    linker = LinkingWorker(
        make_sessionmaker(engine),
        threshold=lambda: settings.over_correlation_threshold,
        batch_size=settings.linking_batch_size,
        poll_seconds=settings.linking_poll_seconds,
        settings=settings,
    )
    linker.start()
    return linker


@click.command("worker")
@click.option(
    "--db",
    "database_url",
    default=None,
    help="Database URL (default: STRIVE_DATABASE_URL or sqlite:///strive.db).",
)
@click.option(
    "--batch-size", default=None, type=click.IntRange(1, 1000),
    help="Referrals linked per transaction (default: STRIVE_LINKING_BATCH_SIZE, 50).",
)  # fmt: skip
@click.option(
    "--once", is_flag=True, help="Link every referral waiting now, print how many, and exit."
)
def worker_command(database_url: str | None, batch_size: int | None, once: bool) -> None:
    """Run the linking worker on its own (with STRIVE_LINKING_IN_PROCESS=false for serve).

    Any number may run, against the database `strive serve` uses: they link one batch at a
    time, in arrival order, each referral exactly once. Stops on SIGINT or SIGTERM after the
    batch in hand."""
    settings = _settings(database_url)
    configure_logging(settings.log_level)
    sessions = _database(settings.database_url)
    size = batch_size or settings.linking_batch_size
    if once:
        linked = drain(
            sessions,
            threshold=settings.over_correlation_threshold,
            batch_size=size,
            settings=settings,
        )
        with sessions() as session:
            left = backlog(session)
        click.echo(f"linked {linked} referral(s); {left.count} waiting", err=True)
        return
    linker = LinkingWorker(
        sessions,
        threshold=lambda: settings.over_correlation_threshold,
        batch_size=size,
        poll_seconds=settings.linking_poll_seconds,
        settings=settings,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    click.echo(
        f"Strive linking worker on {settings.database_url.split('@')[-1]} (batches of {size})",
        err=True,
    )
    linker.start()
    stopping.wait()
    linker.stop()
    click.echo(f"linked {linker.linked} referral(s); stopped", err=True)
