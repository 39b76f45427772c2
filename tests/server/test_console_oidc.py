"""Console single sign-on, end to end against a real OpenID Connect provider
(``oidc-provider-mock``, a Flask app run on a free loopback port for the test): roles from a
configurable claim, the state used once, a person without a role refused."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import werkzeug.serving

from strive_server.core.config import Settings
from strive_server.db import tables

from .conftest import Receiver

# The mock provider (a test tool) still uses Authlib APIs that Authlib deprecates; the console
# itself uses neither.
PROVIDER_DEPRECATIONS = (
    "authlib.jose module is deprecated", "The httpx module is deprecated", "get_jwt_config",
)  # fmt: skip
with warnings.catch_warnings():
    # Authlib's import sets "always" for its warnings; ours go on top of that.
    import authlib.deprecate  # noqa: F401

    for message in PROVIDER_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message)
    import oidc_provider_mock

pytestmark = [pytest.mark.filterwarnings(f"ignore:{m}") for m in PROVIDER_DEPRECATIONS]

PEOPLE = [
    oidc_provider_mock.User(
        sub="ana-1", claims={"email": "ana@police.example", "groups": ["staff", "CSE-Analysts"]}
    ),
    oidc_provider_mock.User(sub="sam-2", claims={"email": "sam@police.example", "groups": "supervisor"}),
    oidc_provider_mock.User(sub="guest-3", claims={"email": "guest@police.example", "groups": ["staff"]}),
]  # fmt: skip


@pytest.fixture
def identity_provider() -> Iterator[str]:
    app = oidc_provider_mock.app(user_claims=PEOPLE, require_nonce=True)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def receiver_settings(receiver_settings: Settings, identity_provider: str) -> Settings:
    return receiver_settings.model_copy(
        update={
            "oidc_issuer": identity_provider,
            "oidc_client_id": "strive-console",
            "oidc_client_secret": "test-secret",
            "oidc_role_claim": "groups",
            "oidc_role_map": {"CSE-Analysts": "analyst"},
        }
    )


def sso(receiver: Receiver, client: httpx.Client, subject: str) -> httpx.Response:
    """Sign in through the provider as ``subject``; return the callback's response."""
    start = client.get(f"{receiver.url}/console/sign-in/oidc")
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(receiver.settings.oidc_issuer or "-")
    assert "code_challenge=" in authorize and "nonce=" in authorize
    chosen = client.post(authorize, data={"sub": subject})
    assert chosen.status_code in (302, 303), chosen.text
    callback = chosen.headers["location"]
    assert callback.startswith(f"{receiver.url}/console/sign-in/oidc/callback?")
    return client.get(callback)


def test_sign_in_page_offers_single_sign_on_when_configured(receiver: Receiver) -> None:
    page = httpx.get(f"{receiver.url}/console/sign-in")
    assert 'href="/console/sign-in/oidc"' in page.text


def test_single_sign_on_maps_the_role_claim_and_starts_a_session(receiver: Receiver) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        done = sso(receiver, client, "ana-1")
        assert done.status_code == 200 and "You are signed in" in done.text
        assert 'http-equiv="refresh"' in done.text
        queue = client.get(f"{receiver.url}/console/queue")
        assert queue.status_code == 200
        assert "ana@police.example (analyst)" in queue.text
    with receiver.session() as session:
        row = session.scalars(sa.select(tables.ConsoleSession)).one()
        assert (row.subject, row.role, row.token_id) == ("ana-1", "analyst", None)
        signed_in = session.scalars(
            sa.select(tables.AuditEvent).where(tables.AuditEvent.action == "console.signed_in")
        ).one()
        assert (signed_in.actor, signed_in.role) == ("ana@police.example", "analyst")
        assert signed_in.detail["method"] == "oidc"
        assert session.scalars(sa.select(tables.ConsoleSignIn)).all() == []  # used once

    with httpx.Client(follow_redirects=False, timeout=30) as client:
        done = sso(receiver, client, "sam-2")  # a claim value that is itself a role name
        assert client.get(f"{receiver.url}/console/queue").status_code == 200
        assert "sam@police.example (supervisor)" in client.get(f"{receiver.url}/console/queue").text


def test_a_person_without_a_strive_role_is_refused(receiver: Receiver) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        done = sso(receiver, client, "guest-3")
        assert done.status_code == 403 and "no Strive role" in done.text
        assert "strive_console=" not in done.headers.get("set-cookie", "")
    with receiver.session() as session:
        assert session.scalars(sa.select(tables.ConsoleSession)).all() == []


def test_a_callback_is_used_once_and_a_forged_state_is_refused(receiver: Receiver) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        start = client.get(f"{receiver.url}/console/sign-in/oidc")
        chosen = client.post(start.headers["location"], data={"sub": "ana-1"})
        callback = chosen.headers["location"]
        assert client.get(callback).status_code == 200
        replay = client.get(callback)
        assert replay.status_code == 403 and "already used" in replay.text
        forged = re.sub(r"state=[^&]+", "state=forged", callback)
        assert client.get(forged).status_code == 403


def test_a_callback_opened_in_another_browser_is_refused(receiver: Receiver) -> None:
    """Login CSRF: an attacker's own callback URL, sent to a victim, must not sign the
    victim's browser in (as the attacker)."""
    with httpx.Client(follow_redirects=False, timeout=30) as attacker:
        start = attacker.get(f"{receiver.url}/console/sign-in/oidc")
        binding = start.headers["set-cookie"]
        assert "strive_console_oidc=" in binding
        assert "httponly" in binding.lower() and "samesite=lax" in binding.lower()
        chosen = attacker.post(start.headers["location"], data={"sub": "ana-1"})
        callback = chosen.headers["location"]
    with httpx.Client(follow_redirects=False, timeout=30) as victim:
        refused = victim.get(callback)
        assert refused.status_code == 403 and "not started in this browser" in refused.text
        assert "strive_console=" not in refused.headers.get("set-cookie", "")
        victim.cookies.set("strive_console_oidc", "a-binding-of-its-own", path="/console")
        assert victim.get(callback).status_code == 403
    with receiver.session() as session:
        assert session.scalars(sa.select(tables.ConsoleSession)).all() == []


def test_single_sign_on_ends_the_browsers_previous_session(receiver: Receiver) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        assert sso(receiver, client, "ana-1").status_code == 200
        assert sso(receiver, client, "sam-2").status_code == 200
        assert client.cookies.get("strive_console_oidc") is None  # used, then cleared
    with receiver.session() as session:
        rows = session.scalars(
            sa.select(tables.ConsoleSession).order_by(tables.ConsoleSession.id)
        ).all()
        assert [(r.subject, r.ended_at is not None) for r in rows] == [
            ("ana-1", True),
            ("sam-2", False),
        ]


def test_without_configuration_there_is_no_single_sign_on(
    receiver: Receiver, monkeypatch: Any
) -> None:
    settings = receiver.app.state.settings
    object.__setattr__(
        receiver.app.state, "settings", settings.model_copy(update={"oidc_issuer": None})
    )
    try:
        page = httpx.get(f"{receiver.url}/console/sign-in")
        assert "/console/sign-in/oidc" not in page.text
        refused = httpx.get(f"{receiver.url}/console/sign-in/oidc")
        assert refused.status_code == 503 and "not configured" in refused.text
    finally:
        object.__setattr__(receiver.app.state, "settings", settings)


def test_single_sign_on_in_the_browser(receiver: Receiver) -> None:
    from playwright.sync_api import sync_playwright

    # Importing the browser tests skips this one, with their reason, where no Chromium is.
    from .test_console_browser import CHROMIUM, LAUNCH_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(f"{receiver.url}/console/")
            page.get_by_role("link", name="Sign in with your force account").click()
            page.get_by_role("button", name="ana-1").click()
            page.wait_for_url(f"{receiver.url}/console/queue")
            assert (
                "ana@police.example (analyst)"
                in page.get_by_role("navigation", name="Console").inner_text()
            )
            page.get_by_role("button", name="Sign out").click()
            assert page.locator("h1").inner_text() == "You have signed out"
        finally:
            browser.close()
