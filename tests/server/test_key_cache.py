"""ASW keys are cached in each process, and a change made by another process is seen at once:
a key revoked by `strive admin revoke-key` (its own process) is refused by two running
receivers (two apps, two engines, two caches) on their very next submission; a key added by
another process verifies at once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from strive_schema.keys import SigningKey
from strive_server.api.app import create_app
from strive_server.db.engine import make_sessionmaker
from strive_server.problems import Problem
from strive_server.services import admin, ingestion
from strive_server.services.audit import Actor

from ..conftest import STRIVE
from .conftest import SETUP, Receiver, fresh_referral, run_server
from .test_ingestion import ASW, envelope_for

HEADERS = {"Content-Type": "application/vnd.dsse.envelope.v1+json", "Strive-Asw-Id": ASW}


@pytest.fixture
def second(receiver: Receiver) -> Iterator[str]:
    """A second receiver on the same database: its own app, engine and key cache."""
    app = create_app(receiver.settings)
    try:
        yield from run_server(app)
    finally:
        app.state.engine.dispose()


def submit(url: str, key: SigningKey) -> httpx.Response:
    body = envelope_for(fresh_referral(asw_id=ASW), key)
    return httpx.post(f"{url}/v1/referrals", content=body, headers=HEADERS, timeout=30)


def test_a_key_revoked_by_another_process_is_refused_at_once_by_both_receivers(
    receiver: Receiver, second: str, tmp_path: Path
) -> None:
    key = receiver.register_asw(ASW)
    # Both receivers have verified with the key: it is in both caches.
    assert submit(receiver.url, key).status_code == 201
    assert submit(second, key).status_code == 201
    revoked = subprocess.run(
        [STRIVE, "admin", "revoke-key", "--asw-id", ASW, "--key-id", key.key_id,
         "--db", receiver.settings.database_url],
        cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    for url in (second, receiver.url):
        response = submit(url, key)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "key_revoked"


def test_a_key_added_by_another_process_verifies_at_once(receiver: Receiver, second: str) -> None:
    first_key = receiver.register_asw(ASW)
    assert submit(second, first_key).status_code == 201  # cached without the new key
    new_key = SigningKey.generate()
    with make_sessionmaker(receiver.app.state.engine)() as session, session.begin():
        admin.add_key(session, asw_id=ASW, public_key=new_key.public_key, actor=SETUP)
    assert submit(second, new_key).status_code == 201
    assert submit(receiver.url, new_key).status_code == 201


def test_an_unknown_key_and_a_bad_signature_are_still_refused_with_a_warm_cache(
    receiver: Receiver, second: str
) -> None:
    key = receiver.register_asw(ASW)
    assert submit(second, key).status_code == 201
    stranger = SigningKey.generate()
    response = submit(second, stranger)
    assert response.status_code == 401
    assert response.json()["code"] == "key_unknown"
    body = bytearray(envelope_for(fresh_referral(asw_id=ASW), key))
    index = body.index(b'"sig":"') + 10
    body[index] = ord("A") if body[index] != ord("A") else ord("B")
    response = httpx.post(f"{second}/v1/referrals", content=bytes(body), headers=HEADERS)
    assert response.status_code in (400, 401)
    assert response.json()["code"] in ("signature_invalid", "envelope_malformed")


def test_a_revocation_committed_while_a_request_waited_is_refused(receiver: Receiver) -> None:
    """The request arrived before the revocation (its ``now`` is earlier) but is stored after
    it committed: verified again against the new keys, at the clock as it is now."""
    key = receiver.register_asw(ASW)
    raw = envelope_for(fresh_referral(asw_id=ASW), key)
    arrived = datetime.now(UTC) - timedelta(seconds=2)
    ingestion.snapshot(receiver.app.state.engine)  # a warm cache from before the revocation
    sessions = make_sessionmaker(receiver.app.state.engine)
    with sessions() as session, session.begin():
        admin.revoke_key(session, asw_id=ASW, key_id=key.key_id, actor=Actor("admin", "test"))
    with pytest.raises(Problem) as refused:
        ingestion.ingest_envelope(
            sessions=sessions, settings=receiver.app.state.settings, raw=raw,
            claimed_asw=ASW, now=arrived,
        )  # fmt: skip
    assert refused.value.code == "key_revoked"
