"""``strive serve`` and ``strive admin ...``: run and administer the reference receiver.

Contributed to the ``strive`` command through the ``strive.cli`` entry-point group, so the
client package never imports the server.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import sqlalchemy as sa
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from strive_schema.errors import KeyFormatError
from strive_schema.keys import PublicKey, SigningKey
from strive_server.core.config import Settings
from strive_server.core.logging import configure_logging
from strive_server.core.security import hash_token
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.problems import Problem
from strive_server.services import admin
from strive_server.services.audit import Actor

__all__ = ["admin_group", "serve_command"]

CLI_ACTOR = Actor("admin", "cli")
DEMO_DIR = Path(".strive/demo")


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
    """Administer the receiver: ASWs, their keys, and law-enforcement tokens."""


@admin_group.command("register-asw")
@click.option("--asw-id", required=True)
@click.option("--name", required=True)
@_PUBLIC_KEY
@_DB
def register_asw(asw_id: str, name: str, public_key: Path, database_url: str | None) -> None:
    """Register an ASW with its first public key; prints the key id."""
    key = _read_public_key(public_key)
    sessions = _database(database_url)
    _run(
        sessions,
        lambda s: admin.register_asw(s, asw_id=asw_id, name=name, public_key=key, actor=CLI_ACTOR),
    )
    click.echo(key.key_id)


@admin_group.command("add-key")
@click.option("--asw-id", required=True)
@_PUBLIC_KEY
@_DB
def add_key(asw_id: str, public_key: Path, database_url: str | None) -> None:
    """Add a public key to an ASW (rotation); prints the key id."""
    key = _read_public_key(public_key)
    _run(
        _database(database_url),
        lambda s: admin.add_key(s, asw_id=asw_id, public_key=key, actor=CLI_ACTOR),
    )
    click.echo(key.key_id)


@admin_group.command("revoke-key")
@click.option("--asw-id", required=True)
@click.option("--key-id", required=True)
@_DB
def revoke_key(asw_id: str, key_id: str, database_url: str | None) -> None:
    """Revoke an ASW's key. Evidence it signed stays verifiable."""
    _run(
        _database(database_url),
        lambda s: admin.revoke_key(s, asw_id=asw_id, key_id=key_id, actor=CLI_ACTOR),
    )
    click.echo(f"revoked {key_id}", err=True)


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
@_DB
def create_token(
    role: str, name: str, expires_in_days: int | None, database_url: str | None
) -> None:
    """Create a bearer token; prints only the token. Only its hash is stored."""
    days = expires_in_days or _settings(database_url).token_lifetime_days
    result = _run(
        _database(database_url),
        lambda s: admin.create_token(
            s, name=name, role=role, lifetime=timedelta(days=days), actor=CLI_ACTOR
        ),
    )
    assert isinstance(result, tuple)
    click.echo(f"token {result[0]} expires at {result[2].isoformat()}", err=True)
    click.echo(result[1])


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
        click.echo(
            f"\n  ASW {asw_id} (key id {key.key_id}):\n"
            f"    {strive} submit {' '.join(files)} \\\n"
            f"      --url {url} --asw-id {asw_id} --key {key_file}",
            err=True,
        )
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
    url = f"http://{host}:{port}"
    if demo:
        _demo(sessions, url, timedelta(days=settings.token_lifetime_days))
        _console_hint(url)
    click.echo(
        f"Strive receiver {settings.receiver_id} on {url} "
        f"(database {settings.database_url.split('@')[-1]}, {workers} worker(s))",
        err=True,
    )
    uvicorn.run(
        "strive_server.api.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
    )
