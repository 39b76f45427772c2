"""`strive admin create-token`: the token alone on standard output, its end on standard error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from strive_schema.keys import SigningKey
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


def cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(admin_group, [*args, "--db", database_url])
    return result.exit_code, result.stdout, result.stderr


def test_cli_content_tokens_need_a_second_operator(database_url: str) -> None:
    code, stdout, stderr = cli(database_url, "create-token", "--role", "analyst", "--name", "DC")
    assert code == 2 and "--requester" in stderr and stdout == ""
    code, stdout, stderr = cli(
        database_url, "create-token", "--role", "analyst", "--name", "DC", "--requester", "alice"
    )
    assert code == 0, stderr
    request_id = stdout.strip()
    assert request_id.isdigit() and "strive admin approve" in stderr
    for same in ("alice", " ALICE "):  # the requester, however spelt, cannot approve
        code, stdout, stderr = cli(database_url, "approve", request_id, "--approver", same)
        assert code == 1 and "approval_by_requester" in stderr and stdout == ""
    code, stdout, stderr = cli(database_url, "approve", request_id, "--approver", "bob")
    assert code == 0, stderr
    half_b = stdout.strip()
    assert half_b.startswith("strvB_") and stdout == half_b + "\n"
    assert f"strive admin collect {request_id}" in stderr
    code, stdout, stderr = cli(database_url, "approve", request_id, "--approver", "carol")
    assert code == 1 and "approval_closed" in stderr and stdout == ""
    for other in ("bob", "carol"):  # only the requester collects half A
        code, stdout, stderr = cli(database_url, "collect", request_id, "--requester", other)
        assert code == 1 and "approval_not_requester" in stderr and stdout == ""
    code, stdout, stderr = cli(database_url, "collect", request_id, "--requester", " Alice")
    assert code == 0, stderr
    half_a = stdout.strip()
    assert half_a.startswith("strvA_") and stdout == half_a + "\n"
    code, stdout, stderr = cli(database_url, "collect", request_id, "--requester", "alice")
    assert code == 1 and "approval_collected" in stderr and stdout == ""
    joined = CliRunner().invoke(admin_group, ["join-token", half_b, half_a])
    assert joined.exit_code == 0, joined.stderr
    token = joined.stdout.strip()
    assert token == "strv_" + half_a[6:] + half_b[6:]
    prompted = CliRunner().invoke(admin_group, ["join-token"], input=f"{half_a}\n{half_b}\n")
    assert prompted.exit_code == 0 and prompted.stdout == token + "\n"
    assert half_a not in prompted.stderr  # asked for without echo
    twice = CliRunner().invoke(admin_group, ["join-token", half_b, half_b])
    assert twice.exit_code == 2 and "half A" in twice.stderr
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.select(tables.Token.role, tables.Token.name).where(
                    tables.Token.token_hash == hash_token(token)
                )
            ).one()
            assert tuple(row) == ("analyst", "DC")
            actors = connection.execute(
                sa.select(tables.AuditEvent.action, tables.AuditEvent.actor)
            ).all()
            hashes = connection.execute(sa.select(tables.Token.token_hash)).scalars().all()
        assert ("approval.requested", "alice") in actors
        assert ("token.created", "bob") in actors
        assert ("approval.collected", "Alice") in actors
        assert hash_token(half_a) not in hashes and hash_token(half_b) not in hashes
    finally:
        engine.dispose()


def test_cli_bootstraps_only_the_first_admin_token(database_url: str) -> None:
    code, stdout, stderr = cli(database_url, "create-token", "--role", "admin", "--name", "Root")
    assert code == 0 and stdout.strip().startswith("strv_"), stderr
    code, stdout, stderr = cli(database_url, "create-token", "--role", "admin", "--name", "Two")
    assert code == 2 and "--requester" in stderr and stdout == ""


def test_cli_asw_keys_need_a_second_operator(database_url: str, tmp_path: Path) -> None:
    key = SigningKey.generate()
    public = tmp_path / "asw.pem"
    public.write_bytes(key.public_key.to_pem())
    code, stdout, stderr = cli(
        database_url, "register-asw", "--asw-id", "asw-1", "--name", "ASW 1",
        "--public-key", str(public), "--requester", "alice",
    )  # fmt: skip
    assert code == 0, stderr
    assert key.public_key.key_id in stderr
    assert json.loads(cli(database_url, "list-asws")[1]) == []
    pending = json.loads(cli(database_url, "list-requests")[1])
    assert [(r["action"], r["asw_id"]) for r in pending] == [("asw.register", "asw-1")]
    code, approved, stderr = cli(database_url, "approve", stdout.strip(), "--approver", "bob")
    assert code == 0 and approved.strip() == key.public_key.key_id, stderr
    assert [a["asw_id"] for a in json.loads(cli(database_url, "list-asws")[1])] == ["asw-1"]
    rotated = SigningKey.generate()
    public.write_bytes(rotated.public_key.to_pem())
    code, stdout, stderr = cli(
        database_url, "add-key", "--asw-id", "asw-1", "--public-key", str(public),
        "--requester", "bob",
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = cli(database_url, "reject", stdout.strip(), "--by", "alice")
    assert code == 0, stderr
    code, _, stderr = cli(database_url, "approve", stdout.strip(), "--approver", "alice")
    assert code == 1 and "approval_closed" in stderr
    [asw] = json.loads(cli(database_url, "list-asws")[1])
    assert [k["key_id"] for k in asw["keys"]] == [key.public_key.key_id]
