"""The transparency log end to end, on SQLite and PostgreSQL: an ASW proves its receipt is
logged, witnesses cosign, readers are who the spec says, and tampering with the database or
the log is detected (spec/transparency-log.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from strive_client import AsyncStriveClient, FileCheckpointStore, LogCode, LogError, StriveClient
from strive_client._auth import RequestSigner
from strive_client._cli.log import log_group
from strive_client._tlog import LogPin, LogTrust, MemoryCheckpointStore, verified_checkpoint
from strive_schema.envelope import parse_envelope
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.note import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    parse_note,
    sign_note,
    verify_promise,
)
from strive_schema.tlog import (
    MemoryHashes,
    entry_data,
    leaf_hash,
    parse_entry_bundle,
    receipt_entry,
    record_digest,
    tree_hash,
)
from strive_server.api.app import create_app
from strive_server.cli import admin_group
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.db.engine import make_engine, make_sessionmaker, migrate
from strive_server.services import admin, retention, tlog
from strive_server.services.retention import DEFAULT_REVIEW_DAYS

from ..conftest import STRIVE, strive_serve
from .conftest import SETUP, Receiver, fresh_referral, run_server
from .test_roles import _prepare_dissemination

ASW = "example-adverts"
WITNESS = NoteSigner.generate("witness.test/w1", ALG_COSIGNATURE_V1)
OTHER_WITNESS = NoteSigner.generate("witness.test/w2", ALG_COSIGNATURE_V1)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SDK's default pin store lives under the test's own folder."""
    monkeypatch.setenv("STRIVE_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    return receiver_settings.model_copy(update={"log_witnesses": [WITNESS.verifier.vkey]})


def sequence(receiver: Receiver) -> int:
    return tlog.sequence_all(receiver.app.state.engine, receiver.settings.log_signer)


def submit(receiver: Receiver, count: int = 1) -> list[bytes]:
    with receiver.client(ASW) as client:
        return [
            client.submit_referral(fresh_referral(asw_id=ASW)).receipt_envelope
            for _ in range(count)
        ]


def test_an_asw_proves_its_receipt_is_in_the_log(receiver: Receiver, tmp_path: Path) -> None:
    receiver.register_asw(ASW)
    store = FileCheckpointStore(tmp_path / "checkpoints.json")
    first = submit(receiver)[0]
    with receiver.client(ASW, checkpoint_store=store) as client:
        with pytest.raises(LogError) as caught:  # committed, not sequenced yet
            client.verify_inclusion(first)
        assert caught.value.code is LogCode.ENTRY_UNKNOWN
        sequence(receiver)
        proof = client.verify_inclusion(first)
        assert proof.leaf_index is not None and proof.previous_size is None
        later = submit(receiver, 3)
        sequence(receiver)
        again = client.verify_inclusion(later[-1])
        assert again.previous_size == proof.checkpoint.size  # consistency was proven
        assert again.checkpoint.size > proof.checkpoint.size
        assert client.verify_inclusion(first).leaf_index == proof.leaf_index

    async def async_check() -> int | None:
        async with AsyncStriveClient(
            receiver.url, asw_id=ASW, key=receiver.keys[ASW], checkpoint_store=store
        ) as client:
            return (await client.verify_inclusion(later[0])).leaf_index

    assert asyncio.run(async_check()) is not None


def test_only_asws_law_enforcement_and_witnesses_read_the_log(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    submit(receiver)
    sequence(receiver)
    paths = ["/v1/log/checkpoint", "/v1/log/tile/0/000.p/1", "/v1/log/tile/entries/000.p/1"]
    with httpx.Client(base_url=receiver.url) as anonymous:
        for path in paths:
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "authentication_required"
        bad = anonymous.get(paths[0], headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401 and bad.json()["code"] == "token_invalid"
        # A stranger's key under a registered ASW's name.
        stranger = SigningKey.generate()
        url = f"{receiver.url}{paths[0]}"
        headers = {"Strive-Asw-Id": ASW}
        headers.update(sign_request("GET", url, headers, b"", stranger))
        assert anonymous.get(paths[0], headers=headers).status_code == 401
        # A witness name nobody configured, and a configured name signed by another key.
        for name, key in (("witness.test/nobody", stranger), (WITNESS.name, stranger)):
            headers = {"Strive-Witness-Id": name}
            headers.update(sign_request("GET", url, headers, b"", key))
            assert anonymous.get(paths[0], headers=headers).status_code == 401
        # The configured witness signs its reads with its cosigner key.
        witness_key = SigningKey(WITNESS.private_key)
        headers = {"Strive-Witness-Id": WITNESS.name}
        headers.update(sign_request("GET", url, headers, b"", witness_key))
        assert anonymous.get(paths[0], headers=headers).status_code == 200
    for role in ("auditor", "analyst"):
        with receiver.http(role) as http:
            checkpoint = http.get(paths[0])
            assert checkpoint.status_code == 200
            assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
            tile = http.get(paths[1])
            assert tile.status_code == 200 and len(tile.content) == 32
            assert "immutable" not in tile.headers["cache-control"]  # a partial tile
            assert http.get("/v1/log/tile/0/000").status_code == 404  # not full yet
            assert http.get("/v1/log/tile/0/0000").status_code == 404
            assert http.get("/v1/log/lookup/zz").status_code == 422


def witness_http(receiver: Receiver, witness: NoteSigner = WITNESS) -> httpx.Client:
    """An HTTP client whose requests are signed by ``witness``'s cosigner key."""
    auth = RequestSigner(SigningKey(witness.private_key), witness.name, header="Strive-Witness-Id")
    return httpx.Client(base_url=receiver.url, auth=auth, timeout=30)


def cosign(note: str, witness: NoteSigner, timestamp: int | None = None) -> str:
    """``note`` with ``witness``'s cosignature line appended."""
    raw = witness.sign(parse_note(note).text, timestamp=timestamp)
    return note + f"\u2014 {witness.name} {base64.b64encode(raw).decode()}\n"


def test_a_witness_cosigns_successive_checkpoints(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    with witness_http(receiver) as http:
        for round_ in range(2):
            submit(receiver)
            sequence(receiver)
            note = http.get("/v1/log/checkpoint").text
            text = parse_note(note).text
            cosigned = note + "".join(
                line for line in sign_note(text, [WITNESS]).split("\n\n", 1)[1].splitlines(True)
            )
            response = http.post("/v1/log/cosignature", content=cosigned)
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": [WITNESS.name]}
            served = http.get("/v1/log/checkpoint").text
            assert len(parse_note(served).signatures) == 2, round_
        # An unknown witness, a bad cosignature, a checkpoint the log never signed.
        text = parse_note(served).text
        unknown = note.split("\n\n")[0] + "\n\n" + sign_note(text, [OTHER_WITNESS]).split("\n\n")[1]
        refused = http.post("/v1/log/cosignature", content=unknown)
        assert refused.status_code == 403 and refused.json()["code"] == "log_cosigner_unknown"
        line = sign_note(text, [WITNESS]).split("\n\n")[1]
        forged = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
        bad = http.post("/v1/log/cosignature", content=text + "\n" + forged)
        assert bad.status_code == 422 and bad.json()["code"] == "log_cosignature_invalid"
        fake = Checkpoint(receiver.settings.log_signer.name, 1, b"\x07" * 32).text()
        never = http.post("/v1/log/cosignature", content=sign_note(fake, [WITNESS]))
        assert never.status_code == 409 and never.json()["code"] == "log_checkpoint_unknown"
        garbage = http.post("/v1/log/cosignature", content=b"not a note")
        assert garbage.status_code == 400 and garbage.json()["code"] == "log_checkpoint_malformed"
    # The SDK accepts the cosigned checkpoint with a quorum of one, and refuses an unknown
    # cosigner when it pins its own witness list.
    with receiver.client(ASW, witness_keys=[WITNESS.verifier.vkey], witness_quorum=1) as client:
        assert client.verify_log().checkpoint.size >= 2
    with receiver.client(ASW, witness_keys=[OTHER_WITNESS.verifier.vkey]) as client:
        with pytest.raises(LogError) as caught:
            client.verify_log()
        assert caught.value.code is LogCode.COSIGNER_UNKNOWN


def test_a_fork_a_rollback_and_a_bad_tile_are_refused_by_the_sdk(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.register_asw(ASW)
    receipts = submit(receiver, 3)
    sequence(receiver)
    signer = receiver.settings.log_signer
    store = FileCheckpointStore(tmp_path / "seen.json")

    # The log's own key signed a different tree of size 2: a split view.
    def pin(note: str) -> LogPin:
        return LogPin(signer.verifier.vkey, signer.name, note)

    store.save(
        receiver.url, pin(sign_note(Checkpoint(signer.name, 2, b"\x01" * 32).text(), [signer]))
    )
    with receiver.client(ASW, checkpoint_store=store) as client:
        with pytest.raises(LogError) as caught:
            client.verify_inclusion(receipts[0])
        assert caught.value.code is LogCode.CONSISTENCY_FAILED
    store.save(
        receiver.url, pin(sign_note(Checkpoint(signer.name, 99, b"\x01" * 32).text(), [signer]))
    )
    with receiver.client(ASW, checkpoint_store=store) as client:
        with pytest.raises(LogError) as caught:
            client.verify_inclusion(receipts[0])
        assert caught.value.code is LogCode.ROLLBACK
    # Someone with the database changes a stored leaf hash: the tiles no longer give the
    # signed root.
    with receiver.app.state.engine.begin() as conn:
        conn.execute(
            sa.update(tables.LogEntry)
            .where(tables.LogEntry.leaf_index == 1)
            .values(leaf_hash=b"\x02" * 32)
        )
    with receiver.client(ASW) as client:
        with pytest.raises(LogError) as caught:
            client.verify_inclusion(receipts[0])
        assert caught.value.code is LogCode.TILE_MISMATCH


def _drop_guards(engine: sa.Engine) -> None:
    """What an operator with the database can do: remove the append-only triggers."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in ("audit_events_no_delete", "referrals_no_delete",
                         "state_transitions_no_delete", "audit_events_no_update"):  # fmt: skip
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_events_append_only ON audit_events")
            conn.exec_driver_sql("DROP TRIGGER referrals_no_delete ON referrals")
            conn.exec_driver_sql("DROP TRIGGER state_transitions_append_only ON state_transitions")


def test_admin_log_check_finds_deleted_and_altered_rows(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receipts = submit(receiver, 2)
    referral_id = json.loads(parse_envelope(receipts[0]).payload)["referral_id"]
    with receiver.http("supervisor") as http:  # a lifecycle change, its audit event
        moved = http.post(
            f"/v1/referrals/{referral_id}/transitions",
            json={"to_state": "triaged", "reason": "first look"},
        )
        assert moved.status_code < 300, moved.text
    sequence(receiver)
    url = receiver.settings.database_url
    runner = CliRunner()
    vkey = receiver.settings.log_signer.verifier.vkey
    clean = runner.invoke(admin_group, ["log", "check", "--db", url, "--log-key", vkey])
    assert clean.exit_code == 0, clean.output
    assert "agree" in clean.output
    engine = receiver.app.state.engine
    with engine.connect() as conn:
        assert tlog.check_database(conn) == []
        audit_id = conn.scalar(sa.select(sa.func.max(tables.AuditEvent.id)))
        victim = conn.scalar(
            sa.select(tables.Referral.id).where(tables.Referral.referral_id != referral_id)
        )
        logged = tlog.entries_of(conn, [f"audit_events:{audit_id}", f"referrals:{victim}"])
    _drop_guards(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(tables.AuditEvent).where(tables.AuditEvent.id == audit_id))
        conn.execute(
            sa.update(tables.AuditEvent)
            .where(tables.AuditEvent.id == audit_id - 1)
            .values(reason="rewritten")
        )
        for table in (tables.AuditEvent, tables.StateTransition, tables.ReferralIndicator,
                      tables.Selector):  # fmt: skip
            conn.execute(sa.delete(table).where(table.referral_pk == victim))
        conn.execute(sa.delete(tables.Referral).where(tables.Referral.id == victim))
    with engine.connect() as conn:
        found = {(m.problem, m.ref): m.leaf_index for m in tlog.check_database(conn)}
    assert found[("row_deleted", f"audit_events:{audit_id}")] == logged[f"audit_events:{audit_id}"]
    assert found[("row_deleted", f"referrals:{victim}")] == logged[f"referrals:{victim}"]
    assert ("row_altered", f"audit_events:{audit_id - 1}") in found
    dirty = runner.invoke(admin_group, ["log", "check", "--db", url, "--log-key", vkey])
    assert dirty.exit_code == 1
    assert f"row_deleted: referrals:{victim} (leaf {logged[f'referrals:{victim}']})" in dirty.output


def test_the_discovery_document_names_the_log(receiver: Receiver) -> None:
    with receiver.http() as http:
        log = http.get("/.well-known/strive-configuration").json()["log"]
    signer = receiver.settings.log_signer
    assert log["origin"] == f"{receiver.settings.receiver_id}/log" == signer.name
    assert log["vkey"] == signer.verifier.vkey and log["prefix"] == "/v1/log"
    assert log["witnesses"] == [WITNESS.verifier.vkey]
    assert base64.b64decode(log["vkey"].split("+", 2)[2])[0] == 1  # Ed25519 note key


def test_strive_log_witness_cosigns_twice_and_verify_recomputes_the_tree(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.register_asw(ASW)
    submit(receiver)
    with receiver.app.state.engine.begin() as conn:  # enough entries for full tiles at level 0
        for i in range(600):
            tlog.append_entry(conn, "audit", f"synthetic {i}".encode())
    sequence(receiver)
    state = tmp_path / "witness"
    state.mkdir()
    (state / "witness.key").write_text(WITNESS.skey)
    runner = CliRunner()
    witness = ["witness", "--url", receiver.url, "--state", str(state)]
    first = runner.invoke(log_group, witness)
    assert first.exit_code == 0, first.output
    assert "cosigned" in first.output and "consistent" not in first.output
    first_size = int(first.output.split("at size ")[1].split()[0].rstrip(","))
    submit(receiver)
    sequence(receiver)
    second = runner.invoke(log_group, witness)
    assert second.exit_code == 0, second.output
    assert f"consistent with {first_size}" in second.output
    seen = tmp_path / "verify.json"
    verify = ["verify", "--url", receiver.url, "--token", receiver.token("auditor"),
              "--witness", WITNESS.verifier.vkey, "--quorum", "1",
              "--state", str(seen)]  # fmt: skip
    checked = runner.invoke(log_group, verify)
    assert checked.exit_code == 0, checked.output
    assert "ok " in checked.output and "1 cosignature(s) verified" in checked.output
    # A split view: the log's key signed another tree of a size already seen.
    signer = receiver.settings.log_signer
    forked = sign_note(Checkpoint(signer.name, first_size, b"\x05" * 32).text(), [signer])
    pin = LogPin(signer.verifier.vkey, signer.name, forked)
    FileCheckpointStore(seen).save(receiver.url, pin)
    fork = runner.invoke(log_group, verify)
    assert fork.exit_code == 1 and "FAIL log_consistency_failed" in fork.output
    FileCheckpointStore(state / "checkpoints.json").save(receiver.url, pin)
    refused = runner.invoke(log_group, witness)
    assert refused.exit_code == 1 and "log_consistency_failed" in refused.output
    # A tile altered in the database is named.
    with receiver.app.state.engine.begin() as conn:
        conn.execute(
            sa.update(tables.LogTileHash)
            .where(tables.LogTileHash.level == 1)
            .values(hash=b"\x03" * 32)
        )
    tampered = runner.invoke(log_group, verify[:-2])
    assert tampered.exit_code == 1 and "FAIL log_tile_mismatch" in tampered.output


def test_a_receipt_whose_server_is_killed_before_sequencing_is_still_logged(
    database_url: str, tmp_path: Path
) -> None:
    """kill -9 between the receipt and sequencing: the pending entry committed with the
    receipt, and the sequencer of the restarted server appends it."""
    key = SigningKey.generate()
    settings = Settings(database_url=database_url, receiver_id="receiver.test",
                        signing_key_file=tmp_path / "receiver.pem")  # fmt: skip
    engine = make_engine(database_url)
    migrate(engine)
    with make_sessionmaker(engine)() as session, session.begin():
        admin.register_asw(session, asw_id=ASW, name=ASW, public_key=key.public_key, actor=SETUP)
    engine.dispose()
    env = dict(
        os.environ,
        STRIVE_RECEIVER_ID="receiver.test",
        STRIVE_SIGNING_KEY_FILE=str(tmp_path / "receiver.pem"),
        STRIVE_LOG_SEQUENCE_INTERVAL_SECONDS="60",
    )
    command = [STRIVE, "serve", "--db", database_url]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*command, "--port", str(port)], cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_ready(url, server)
        with StriveClient(url, asw_id=ASW, key=key, sleep=lambda _s: None) as client:
            receipt = client.submit_referral(fresh_referral(asw_id=ASW)).receipt_envelope
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=20)
    engine = make_engine(database_url)
    with engine.connect() as conn:  # committed with the receipt, not sequenced
        pending = conn.scalars(
            sa.select(tables.LogEntry.kind).where(tables.LogEntry.leaf_index.is_(None))
        ).all()
    engine.dispose()
    assert "receipt" in pending
    env["STRIVE_LOG_SEQUENCE_INTERVAL_SECONDS"] = "0.2"
    serve = strive_serve(["--db", database_url], env=env, cwd=tmp_path, log=tmp_path / "log")
    with serve as restarted, StriveClient(restarted, asw_id=ASW, key=key) as client:
        deadline = time.monotonic() + 30
        while True:
            try:
                proof = client.verify_inclusion(receipt)
                break
            except LogError as exc:
                if exc.code is not LogCode.ENTRY_UNKNOWN:
                    raise
                assert time.monotonic() < deadline, "the entry was never sequenced"
                time.sleep(0.2)
    assert proof.leaf_index is not None
    assert settings.log_signer.name == proof.checkpoint.origin


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, "strive serve exited"
        time.sleep(0.1)
    pytest.fail("strive serve did not start")


def test_log_readers_are_exactly_those_of_the_spec(receiver: Receiver) -> None:
    """Every log route against every kind of caller: any role and any registered ASW read;
    no token, Basic, a garbage, revoked or expired token, an unregistered ASW do not."""
    receiver.register_asw(ASW)
    receipt = submit(receiver)[0]
    sequence(receiver)
    leaf = leaf_hash(receipt_entry(receipt)).hex()
    paths = ["/v1/log/checkpoint", "/v1/log/tile/0/000.p/1", "/v1/log/tile/entries/000.p/1",
             f"/v1/log/lookup/{leaf}"]  # fmt: skip
    with receiver.session() as session, session.begin():
        revoked_id, revoked, _ = admin.create_token(
            session, name="leaver", role="auditor", lifetime=timedelta(days=1), actor=SETUP
        )
        admin.revoke_token(session, token_id=revoked_id, actor=SETUP)
        _, expired, _ = admin.create_token(
            session, name="expired", role="auditor", lifetime=timedelta(days=1), actor=SETUP
        )
        session.execute(
            sa.update(tables.Token)
            .where(tables.Token.name == "expired")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    refused = {
        "no_token": ({}, "authentication_required"),
        "basic_auth": ({"Authorization": "Basic dXNlcjpwYXNz"}, "authentication_required"),
        "garbage_token": ({"Authorization": "Bearer strv_garbage"}, "token_invalid"),
        "revoked_token": ({"Authorization": f"Bearer {revoked}"}, "token_invalid"),
        "expired_token": ({"Authorization": f"Bearer {expired}"}, "token_invalid"),
    }
    with httpx.Client(timeout=30) as http:
        for path in paths:
            url = receiver.url + path
            for caller, (headers, code) in refused.items():
                response = http.get(url, headers=headers)
                assert (response.status_code, response.json()["code"]) == (401, code), caller
            unregistered = {"Strive-Asw-Id": "nobody"}
            unregistered.update(sign_request("GET", url, unregistered, b"", SigningKey.generate()))
            assert http.get(url, headers=unregistered).status_code == 401
            for role in ("analyst", "supervisor", "auditor", "admin"):
                allowed = http.get(url, headers={"Authorization": f"Bearer {receiver.token(role)}"})
                assert allowed.status_code == 200, (path, role)
            signed = {"Strive-Asw-Id": ASW}
            signed.update(sign_request("GET", url, signed, b"", receiver.keys[ASW]))
            as_asw = http.get(url, headers=signed)
            if "/entries/" in path:  # entries (and their timing) are not an ASW's to read
                assert as_asw.status_code == 403 and as_asw.json()["code"] == "forbidden"
            else:
                assert as_asw.status_code == 200, path
            witness = {"Strive-Witness-Id": WITNESS.name}
            witness.update(sign_request("GET", url, witness, b"", SigningKey(WITNESS.private_key)))
            assert http.get(url, headers=witness).status_code == 200, path


def test_the_acknowledgement_carries_a_signed_promise_that_the_sdk_holds_the_log_to(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    with receiver.client(ASW) as client:
        result = client.submit_referral(fresh_referral(asw_id=ASW))
        batch = client.submit_batch([fresh_referral(asw_id=ASW)])
    assert result.log_promise is not None
    assert batch[0].result is not None and batch[0].result.log_promise is not None
    signer = receiver.settings.log_signer
    leaf = leaf_hash(receipt_entry(result.receipt_envelope))
    include_by = verify_promise(result.log_promise, signer.verifier, leaf)
    received = result.receipt.received_at.timestamp()
    assert include_by == int(received) + receiver.settings.log_max_merge_delay_seconds
    with pytest.raises(LogError) as caught:  # another entry's promise
        verify_promise(result.log_promise, signer.verifier, b"\x00" * 32)
    assert caught.value.code is LogCode.PROMISE_INVALID
    with pytest.raises(LogError):  # a promise is never a checkpoint
        verified_checkpoint(result.log_promise, LogTrust(signer.verifier))
    # Within the delay: not yet. After it (a clock past include_by): the promise is broken.
    with receiver.client(ASW) as client:
        with pytest.raises(LogError) as caught:
            client.verify_inclusion(result)
        assert caught.value.code is LogCode.ENTRY_UNKNOWN
    late = datetime.fromtimestamp(include_by + 1, UTC)
    with receiver.client(ASW, clock=lambda: late) as client:
        with pytest.raises(LogError) as caught:
            client.verify_inclusion(result)
        assert caught.value.code is LogCode.PROMISE_BROKEN
    sequence(receiver)
    with receiver.client(ASW, clock=lambda: late) as client:
        assert client.verify_inclusion(result).leaf_index is not None


def test_dissemination_outcomes_and_erasure_keep_the_database_and_the_log_in_agreement(
    receiver: Receiver,
) -> None:
    """Every kind of entry, then a retention erasure: the check still finds nothing wrong,
    and the erased referral's receipt is still provably in the log."""
    receiver.register_asw(ASW)
    with receiver.client(ASW) as client:
        result = client.submit_referral(fresh_referral("op-strive-1-london.json", asw_id=ASW))
    with receiver.session() as session:
        row = session.scalars(
            sa.select(tables.Referral).where(
                tables.Referral.referral_id == result.receipt.referral_id
            )
        ).one()
        cluster_id = row.cluster_id
    assert cluster_id is not None
    _prepare_dissemination(receiver, cluster_id)
    with receiver.http("supervisor") as http:
        closed = http.post(
            f"/v1/referrals/{result.receipt.referral_id}/transitions",
            json={"to_state": "closed", "outcome": "arrest", "reason": "charged"},
        )
        assert closed.status_code < 300, closed.text
    with receiver.session() as session, session.begin():
        row = session.get(tables.Referral, row.id)
        assert row is not None
        retention.erase_referral(session, row, reason="review", actor=SETUP,
                                 overrides=dict.fromkeys(DEFAULT_REVIEW_DAYS, 0))  # fmt: skip
    sequence(receiver)
    with receiver.app.state.engine.connect() as conn:
        assert tlog.check_database(conn) == []
        kinds = set(conn.scalars(sa.select(tables.LogEntry.kind)).all())
    assert kinds == {"receipt", "audit", "transition", "outcome", "dissemination"}
    with receiver.client(ASW) as client:
        assert client.verify_inclusion(result).leaf_index is not None


def test_deleting_sequenced_entries_is_reported(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    submit(receiver)
    sequence(receiver)
    engine = receiver.app.state.engine
    with engine.begin() as conn:
        conn.execute(sa.delete(tables.LogEntry).where(tables.LogEntry.kind == "receipt"))
    with engine.connect() as conn:
        problems = {m.problem for m in tlog.check_database(conn)}
    assert {"row_not_logged", "entry_deleted"} <= problems


def test_concurrent_sequencers_give_each_entry_exactly_one_index(receiver: Receiver) -> None:
    """Several sequencers at once (workers, `strive admin log sequence`): every entry gets one
    index, no index is skipped or reused, and every checkpoint signed is the tree's head."""
    engine = receiver.app.state.engine
    signer = receiver.settings.log_signer

    def add_and_sequence(worker: int) -> None:
        for batch in range(5):
            with engine.begin() as conn:
                for i in range(40):
                    tlog.append_entry(conn, "audit", f"{worker}/{batch}/{i}".encode())
            tlog.sequence_all(engine, signer)

    threads = [threading.Thread(target=add_and_sequence, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    tlog.sequence_all(engine, signer)
    with engine.connect() as conn:
        indices = sorted(conn.scalars(sa.select(tables.LogEntry.leaf_index)).all())
        assert indices == list(range(800))
        checkpoints = conn.execute(
            sa.select(tables.LogCheckpoint.size, tables.LogCheckpoint.root)
        ).all()
        hashes = MemoryHashes(
            [bytes(h) for h in conn.scalars(
                sa.select(tables.LogEntry.leaf_hash).order_by(tables.LogEntry.leaf_index))]
        )  # fmt: skip
    for size, root in checkpoints:
        assert tree_hash(size, hashes) == bytes(root), size


@pytest.fixture
def two_witness_receiver(receiver_settings: Settings) -> Iterator[Receiver]:
    settings = receiver_settings.model_copy(
        update={"log_witnesses": [WITNESS.verifier.vkey, OTHER_WITNESS.verifier.vkey]}
    )
    app = create_app(settings, migrate_database=True)
    try:
        for url in run_server(app):
            yield Receiver(url, settings, app)
    finally:
        app.state.engine.dispose()


def test_cosignatures_need_the_witness_signature_and_a_newer_time(
    two_witness_receiver: Receiver,
) -> None:
    receiver = two_witness_receiver
    receiver.register_asw(ASW)
    submit(receiver)
    sequence(receiver)
    with receiver.http("auditor") as http:
        note = http.get("/v1/log/checkpoint").text
        now = int(time.time())
        # A bearer token, or no authentication at all: 401, nothing stored.
        token = http.post("/v1/log/cosignature", content=cosign(note, WITNESS))
        assert token.status_code == 401 and token.json()["code"] == "authentication_required"
    with httpx.Client(base_url=receiver.url) as anonymous:
        bare = anonymous.post("/v1/log/cosignature", content=cosign(note, WITNESS))
        assert bare.status_code == 401
    # One witness may not send another's line.
    with witness_http(receiver, OTHER_WITNESS) as other:
        sent = other.post("/v1/log/cosignature", content=cosign(note, WITNESS))
        assert sent.status_code == 403 and sent.json()["code"] == "log_cosigner_unknown"
    with witness_http(receiver) as http:
        assert len(parse_note(http.get("/v1/log/checkpoint").text).signatures) == 1
        # Outside the skew either way: refused.
        for far in (now - 3600, now + 3600):
            late = http.post("/v1/log/cosignature", content=cosign(note, WITNESS, far))
            assert late.status_code == 422, far
            assert late.json()["code"] == "log_cosignature_invalid"
        twice = cosign(cosign(note, WITNESS, now - 1), WITNESS, now)
        assert http.post("/v1/log/cosignature", content=twice).status_code == 400
        newer = cosign(note, WITNESS, now)
        assert http.post("/v1/log/cosignature", content=newer).status_code == 200
        # An older line does not roll the newer one back.
        older = cosign(note, WITNESS, now - 60)
        assert http.post("/v1/log/cosignature", content=older).status_code == 200
        served = http.get("/v1/log/checkpoint").text
        assert served == newer


def test_duplicate_witness_names_are_refused(receiver_settings: Settings) -> None:
    twin = NoteSigner.generate(WITNESS.name, ALG_COSIGNATURE_V1)
    with pytest.raises(ValueError, match="unique"):
        Settings(
            database_url=receiver_settings.database_url,
            log_witnesses=[WITNESS.verifier.vkey, twin.verifier.vkey],
        )


def test_the_sdk_pins_the_log_key_per_receiver_by_default(
    receiver: Receiver, state_dir: Path
) -> None:
    receiver.register_asw(ASW)
    receipts = submit(receiver)
    sequence(receiver)
    with receiver.client(ASW) as client:  # first use: the discovery document's key is pinned
        client.verify_inclusion(receipts[0])
    assert (state_dir / "checkpoints.json").exists()
    pinned = FileCheckpointStore().load(receiver.url)
    assert pinned is not None and pinned.vkey == receiver.settings.log_signer.verifier.vkey
    # The operator swaps the log key (and signs a fresh log with it): a later run refuses.
    impostor = NoteSigner.generate(receiver.settings.log_signer.name)
    with receiver.client(ASW, log_key=impostor.verifier.vkey) as client:
        with pytest.raises(LogError) as caught:
            client.verify_log()
        assert caught.value.code is LogCode.KEY_CHANGED
    other_origin = NoteSigner.generate("another.example/log")
    with receiver.client(ASW, log_key=other_origin.verifier.vkey) as client:
        with pytest.raises(LogError) as renamed:
            client.verify_log()
        assert renamed.value.code is LogCode.KEY_CHANGED
    # An explicit in-memory store starts afresh (tests only), and a quorum needs the
    # caller's own witness keys, never the receiver's list.
    with receiver.client(ASW, checkpoint_store=MemoryCheckpointStore()) as client:
        assert client.verify_log().previous_size is None
    with pytest.raises(ValueError, match="witness_keys"):
        receiver.client(ASW, witness_quorum=1)
    runner = CliRunner()
    verify = [
        "verify",
        "--url",
        receiver.url,
        "--token",
        receiver.token("auditor"),
        "--quorum",
        "1",
    ]
    assert runner.invoke(log_group, verify).exit_code == 2


def test_entries_show_one_public_kind_but_receipts(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receipt = submit(receiver)[0]
    with receiver.app.state.engine.begin() as conn:
        tlog.append_entry(conn, "audit", b"someone read something")
        tlog.append_entry(conn, "transition", b"a referral moved on")
    sequence(receiver)
    with receiver.http("auditor") as http:
        size = int(http.get("/v1/log/checkpoint").text.split("\n")[1])
        bundle = http.get(f"/v1/log/tile/entries/000.p/{size}").content
    entries = parse_entry_bundle(bundle)
    kinds = {entry.split(b"\n", 1)[0] for entry in entries}
    assert kinds == {b"receipt", b"record"}, kinds
    assert receipt_entry(receipt) in entries  # the holder still computes its receipt's entry
    # The real kind is committed inside the digest: the check recomputes it with the kind.
    with receiver.app.state.engine.connect() as conn:
        assert tlog.check_database(conn) == []
        salt, data = conn.execute(
            sa.select(tables.LogEntry.salt, tables.LogEntry.data).where(
                tables.LogEntry.kind == "audit", tables.LogEntry.ref.is_(None)
            )
        ).one()
    content = b"someone read something"
    assert data == entry_data("record", record_digest("audit", salt, content))
    assert data != entry_data("record", record_digest("transition", salt, content))


def test_the_check_verifies_every_stored_checkpoint(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    signer = receiver.settings.log_signer
    for _ in range(3):  # three checkpoints
        submit(receiver)
        sequence(receiver)
    engine = receiver.app.state.engine
    with engine.connect() as conn:
        assert tlog.check_database(conn, signer.verifier) == []
        sizes = list(conn.scalars(sa.select(tables.LogCheckpoint.size).order_by("size")))
    assert len(sizes) >= 3
    middle, newest = sizes[-2], sizes[-1]
    runner = CliRunner()
    vkey = signer.verifier.vkey
    check = ["log", "check", "--db", receiver.settings.database_url, "--log-key", vkey]
    # A fork: the log's own key signed another tree of the middle size (rows left alone).
    forked_root = b"\x09" * 32
    forked = sign_note(Checkpoint(signer.name, middle, forked_root).text(), [signer])
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.LogCheckpoint)
            .where(tables.LogCheckpoint.size == middle)
            .values(note=forked, root=forked_root)
        )
    with engine.connect() as conn:
        found = {(m.problem, m.leaf_index) for m in tlog.check_database(conn, signer.verifier)}
    assert ("checkpoint_inconsistent", middle) in found or (
        "checkpoint_inconsistent",
        newest,
    ) in found
    # The newest checkpoint signed by another key.
    impostor = NoteSigner.generate(signer.name)
    with engine.begin() as conn:
        text = parse_note(
            conn.scalar(
                sa.select(tables.LogCheckpoint.note).where(tables.LogCheckpoint.size == newest)
            )
        ).text
        conn.execute(
            sa.update(tables.LogCheckpoint)
            .where(tables.LogCheckpoint.size == newest)
            .values(note=sign_note(text, [impostor]))
        )
    with engine.connect() as conn:
        found = {(m.problem, m.leaf_index) for m in tlog.check_database(conn, signer.verifier)}
    assert ("checkpoint_invalid", newest) in found
    dirty = runner.invoke(admin_group, check)
    assert dirty.exit_code == 1 and "checkpoint_invalid" in dirty.output
