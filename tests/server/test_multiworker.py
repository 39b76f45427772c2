"""Several workers behave like one: `strive serve --workers 2`, set up with `strive admin`,
receives the same referral many times at once and stores it exactly once."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.keys import SigningKey

from ..conftest import STRIVE, strive_serve
from .conftest import fresh_referral

ASW = "example-adverts"


def strive(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [STRIVE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def served(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[str, SigningKey, str, dict[str, str]]]:
    key = SigningKey.generate()
    public = tmp_path / "asw_public.pem"
    public.write_bytes(key.public_key.to_pem())
    env = dict(
        os.environ,
        STRIVE_RECEIVER_ID="receiver.test",
        STRIVE_SIGNING_KEY_FILE=str(tmp_path / "receiver.pem"),
        STRIVE_DATABASE_URL=database_url,
    )
    # Dual control: one operator asks, another approves.
    request_id = strive(
        "admin", "register-asw", "--asw-id", ASW, "--name", "Example",
        "--public-key", str(public), "--requester", "alice", env=env,
    )  # fmt: skip
    key_id = strive("admin", "approve", request_id, "--approver", "bob", env=env)
    assert key_id == key.key_id
    request_id = strive(
        "admin", "create-token", "--role", "supervisor", "--name", "sup",
        "--requester", "alice", "--db", database_url, env=env,
    )  # fmt: skip
    half_b = strive("admin", "approve", request_id, "--approver", "bob", env=env)
    half_a = strive("admin", "collect", request_id, "--requester", "alice", env=env)
    token = strive("admin", "join-token", half_a, half_b, env=env)
    assert token.startswith("strv_") and "\n" not in token and len(token) == 91
    with strive_serve(["--db", database_url, "--workers", "2"], env=env, cwd=tmp_path,
                      log=tmp_path / "serve.log") as url:  # fmt: skip
        yield url, key, token, env


def test_simultaneous_submissions_on_two_workers_store_one_referral(
    served: tuple[str, SigningKey, str, dict[str, str]], database_url: str
) -> None:
    url, key, token, _env = served
    referral = fresh_referral(asw_id=ASW)
    now = datetime.now(UTC).replace(microsecond=0)
    # Eight copies of one envelope and eight re-signed envelopes of the same referral.
    envelopes = [
        sign_envelope(
            build_submission(referral, asw_id=ASW, audience="receiver.test", issued_at=now - timedelta(seconds=i % 8)),
            SUBMISSION_PAYLOAD_TYPE, [key],
        ).to_json()
        for i in range(16)
    ]  # fmt: skip

    def submit(raw: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/vnd.dsse.envelope.v1+json", "Strive-Asw-Id": ASW}
        return httpx.post(f"{url}/v1/referrals", content=raw, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(submit, envelopes))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(200) == 15, [r.text for r in responses]
    receipts = {json.dumps(r.json()["receipt"], sort_keys=True) for r in responses}
    assert len(receipts) == 1  # everyone got the original receipt
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM referrals").scalar() == 1
            assert connection.exec_driver_sql("SELECT count(*) FROM selectors").scalar() == (
                connection.exec_driver_sql(
                    "SELECT count(*) FROM selectors WHERE referral_pk = (SELECT min(id) FROM referrals)"
                ).scalar()
            )
    finally:
        engine.dispose()
    # The supervisor token created on the command line works against the served app.
    view = httpx.get(
        f"{url}/v1/referrals/{referral['referral_id']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert view.status_code == 200 and view.json()["state"] == "received"
