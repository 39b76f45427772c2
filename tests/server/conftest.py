"""A real receiver per test: its own database (SQLite, and PostgreSQL where configured) and a
uvicorn server on a free loopback port, stopped by the test."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from strive_client import StriveClient
from strive_schema.keys import SigningKey
from strive_server.api.app import create_app
from strive_server.core.config import Settings
from strive_server.db.engine import make_sessionmaker
from strive_server.services import admin
from strive_server.services.audit import Actor
from strive_server.services.linkworker import drain

from ..conftest import load_example

POSTGRES_URL = os.environ.get("STRIVE_TEST_POSTGRES_URL")
RECEIVER_ID = "receiver.test"
SETUP = Actor("admin", "test-setup")


def _postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set STRIVE_TEST_POSTGRES_URL (CI sets it)")
    name = f"strive_test_{uuid.uuid4().hex[:12]}"
    admin_engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin_engine.dispose()
        pytest.skip(f"PostgreSQL at STRIVE_TEST_POSTGRES_URL is not reachable: {exc.orig}")
    url = sa.make_url(POSTGRES_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin_engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'strive.db'}"
    else:
        yield from _postgres_database()


@dataclass
class Receiver:
    """A running receiver and handles to set it up."""

    url: str
    settings: Settings
    app: Any
    keys: dict[str, SigningKey] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    auto_link: bool = True
    """Run the linker until its backlog is empty before each request and each ``session()``
    (see ``LinkBeforeRequests``); tests of the pending state turn it off and call ``drain``
    themselves."""

    def drain(self) -> int:
        """Link every queued referral now (what the linking worker does in the background)."""
        return drain(
            make_sessionmaker(self.app.state.engine),
            threshold=self.app.state.settings.over_correlation_threshold,
            settings=self.app.state.settings,
        )

    def session(self) -> Any:
        """A session on the receiver's database; with ``auto_link``, every referral submitted
        so far is linked first (as before each request)."""
        if self.auto_link:
            self.drain()
        return make_sessionmaker(self.app.state.engine)()

    def register_asw(self, asw_id: str) -> SigningKey:
        key = SigningKey.generate()
        with self.session() as session, session.begin():
            admin.register_asw(
                session, asw_id=asw_id, name=asw_id, public_key=key.public_key, actor=SETUP
            )
        self.keys[asw_id] = key
        return key

    def token(self, role: str, name: str | None = None) -> str:
        if role not in self.tokens or name is not None:
            with self.session() as session, session.begin():
                _, token, _ = admin.create_token(
                    session, name=name or f"test-{role}", role=role, lifetime=timedelta(days=1),
                    actor=SETUP,
                )  # fmt: skip
            if name is not None:
                return token
            self.tokens[role] = token
        return self.tokens[role]

    def client(self, asw_id: str, **kwargs: Any) -> StriveClient:
        kwargs.setdefault("sleep", lambda _s: None)
        return StriveClient(self.url, asw_id=asw_id, key=self.keys[asw_id], **kwargs)

    def http(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(role)}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def run_server(app: Any) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def receiver_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        receiver_id=RECEIVER_ID,
        signing_key_file=tmp_path / "receiver_key.pem",
        audit_key_file=tmp_path / "audit_hmac.key",
        rate_limit_per_minute=1000,
        refused_submission_limit_per_minute=1000,
        signed_read_limit_per_minute=1000,
        evidence_dir=tmp_path / "evidence",
        evidence_key_file=tmp_path / "evidence.key",
    )


class LinkBeforeRequests:
    """Linking is asynchronous (services/linkworker.py): a receiver links in a background
    worker, within seconds. Tests read clusters right after submitting, so the test receiver
    runs no background worker and instead drains the linker before each request it serves:
    every request sees every earlier submission linked, deterministically."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.receiver: Receiver | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.receiver is not None and self.receiver.auto_link:
            self.receiver.drain()
        await self.app(scope, receive, send)


@pytest.fixture
def receiver(receiver_settings: Settings) -> Iterator[Receiver]:
    yield from running_receiver(receiver_settings)


def running_receiver(settings: Settings) -> Iterator[Receiver]:
    """The reference app on a free loopback port, until the generator is closed."""
    app = create_app(settings, migrate_database=True)
    wrapped = LinkBeforeRequests(app)
    try:
        for url in run_server(wrapped):
            wrapped.receiver = Receiver(url, settings, app)
            yield wrapped.receiver
    finally:
        app.state.engine.dispose()


def lower_threshold(receiver: Receiver, settings: Settings, threshold: int) -> None:
    """Make values over-correlating sooner on the running receiver."""
    object.__setattr__(
        receiver.app.state,
        "settings",
        settings.model_copy(update={"over_correlation_threshold": threshold}),
    )


def fresh_referral(
    name: str = "sandbox-minimal.json", *, asw_id: str | None = None
) -> dict[str, Any]:
    """A published example with a new referral id, dated now, optionally re-homed to an ASW."""
    document = load_example(name)
    document["referral_id"] = str(uuid.uuid4())
    document["created_at"] = (
        datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )
    document.pop("supplements", None)
    if asw_id is not None:
        document["reporter"]["organisation_id"] = asw_id
    return document
