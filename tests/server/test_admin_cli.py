"""`strive admin create-token`: the token alone on standard output, its end on standard error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from strive_server.cli import DEMO_ROLES, _demo_tokens_current, admin_group
from strive_server.core.security import hash_token
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin

from .conftest import SETUP


def create_token(database_url: str, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        admin_group,
        ["create-token", "--role", "auditor", "--name", "A. Auditor", "--db", database_url, *extra],
    )
    return result.exit_code, result.stdout, result.stderr


def stored_expiry(database_url: str, token: str) -> datetime:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(tables.Token.expires_at).where(
                    tables.Token.token_hash == hash_token(token)
                )
            ).scalar_one()
    finally:
        engine.dispose()


def test_create_token_defaults_to_ninety_days(database_url: str) -> None:
    code, stdout, stderr = create_token(database_url)
    assert code == 0, stderr
    token = stdout.strip()
    assert token.startswith("strv_") and stdout == token + "\n"
    expires_at = stored_expiry(database_url, token)
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)
    assert expires_at.isoformat() in stderr and token not in stderr


def test_create_token_takes_a_lifetime_within_a_year(database_url: str) -> None:
    code, stdout, stderr = create_token(database_url, "--expires-in-days", "1")
    assert code == 0, stderr
    expires_at = stored_expiry(database_url, stdout.strip())
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=1)
    for refused in ("0", "367", "never"):
        code, stdout, stderr = create_token(database_url, "--expires-in-days", refused)
        assert code == 2 and stdout == "" and "--expires-in-days" in stderr


def test_demo_tokens_are_renewed_when_they_would_not_work(
    tmp_path: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    tokens_file = tmp_path / "tokens.json"
    try:
        assert not _demo_tokens_current(tokens_file, sessions)  # none yet
        tokens_file.write_text("[]")
        assert not _demo_tokens_current(tokens_file, sessions)
        tokens: dict[str, str] = {}
        with sessions() as session, session.begin():
            for role in DEMO_ROLES:
                _, tokens[role], _ = admin.create_token(
                    session, name=role, role=role, lifetime=timedelta(days=30), actor=SETUP
                )
        tokens_file.write_text(json.dumps(tokens))
        assert _demo_tokens_current(tokens_file, sessions)
        with sessions() as session, session.begin():  # less than a day left: renew
            row = session.scalars(sa.select(tables.Token).where(tables.Token.role == "auditor"))
            row.one().expires_at = datetime.now(UTC) + timedelta(hours=12)
        assert not _demo_tokens_current(tokens_file, sessions)
        other = tmp_path / "other.json"  # tokens of another (deleted) database
        other.write_text(json.dumps({role: "strv_" + role for role in DEMO_ROLES}))
        assert not _demo_tokens_current(other, sessions)
    finally:
        engine.dispose()
