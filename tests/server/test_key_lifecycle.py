"""Keys over years, from the attacker's side (spec/protocol.md, "Key lifecycle"), on SQLite
and PostgreSQL: a retired key signs nothing new; a key revoked with a compromise time
invalidates exactly what was received from then on, whatever ``issued_at`` the envelope
claims (a thief backdates); the evidence re-check says which rule applied; validity periods;
refusals that name a stable code; every change audited; and a change made by another process
refused at once by running receivers."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_schema.envelope import format_timestamp, parse_timestamp
from strive_schema.keys import SigningKey
from strive_server.api.app import create_app
from strive_server.db import tables
from strive_server.db.engine import make_sessionmaker
from strive_server.problems import Problem
from strive_server.services import admin, dissemination, ingestion, tlog
from strive_server.services.audit import Actor

from ..conftest import STRIVE
from .conftest import SETUP, Receiver, fresh_referral, run_server
from .test_casework import signed_get
from .test_dissemination import Force, _assess, _code, _disseminate, cluster  # noqa: F401
from .test_ingestion import ASW, envelope_for

HEADERS = {"Content-Type": "application/vnd.dsse.envelope.v1+json", "Strive-Asw-Id": ASW}


def submit(url: str, key: SigningKey, *, issued_at: datetime | None = None) -> httpx.Response:
    document = fresh_referral(asw_id=ASW)
    body = envelope_for(document, key, issued_at=issued_at)
    return httpx.post(f"{url}/v1/referrals", content=body, headers=HEADERS, timeout=30)


def accepted(url: str, key: SigningKey) -> tuple[str, datetime]:
    """Submit one referral; return its id and the receipt's received_at."""
    response = submit(url, key)
    assert response.status_code == 201, response.text
    receipt = response.json()["receipt"]
    return receipt["referral_id"], parse_timestamp(receipt["received_at"])


def next_second(after: datetime) -> datetime:
    """Wait until the clock is past ``after`` by at least a whole second (timestamps are
    whole seconds); return the first such second."""
    target = after + timedelta(seconds=1)
    while datetime.now(UTC) < target:
        time.sleep(0.05)
    return target


def wait_until(moment: datetime) -> None:
    while datetime.now(UTC) < moment:
        time.sleep(0.05)


def evidence(receiver: Receiver, referral_id: str) -> dict[str, Any]:
    with receiver.http("analyst") as http:
        response = http.get(f"/v1/referrals/{referral_id}/evidence")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def refused(response: httpx.Response, code: str) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return str(body["detail"])


def audit_actions(receiver: Receiver, action: str) -> list[dict[str, Any]]:
    with receiver.session() as session:
        rows = session.scalars(
            sa.select(tables.AuditEvent)
            .where(tables.AuditEvent.action == action)
            .order_by(tables.AuditEvent.id)
        ).all()
        return [dict(row.detail or {}) for row in rows]


def test_a_retired_key_signs_nothing_new_and_what_it_signed_stays_valid(
    receiver: Receiver,
) -> None:
    key = receiver.register_asw(ASW)
    old_id, received = accepted(receiver.url, key)
    with receiver.session() as session, session.begin():
        retired_at = admin.retire_key(session, asw_id=ASW, key_id=key.key_id, actor=SETUP)
    # From the next whole second: what was received in this one stays before it.
    assert retired_at > received
    wait_until(retired_at)
    detail = refused(submit(receiver.url, key), "key_retired")
    assert format_timestamp(retired_at) in detail
    # Signed reads with it are refused too, with the same code.
    refused(signed_get(receiver, ASW, f"/v1/referrals/{old_id}/status"), "key_retired")
    result = evidence(receiver, old_id)
    assert result["verified"] is True
    assert result["key_validity"]["rule"] == "before_retirement"
    assert result["reason"] == (
        f"valid: signed before the key's retirement at {format_timestamp(retired_at)}"
    )
    assert parse_timestamp(result["received_at"]) == received
    assert audit_actions(receiver, "asw.key_retired")[-1] == {
        "asw_id": ASW, "key_id": key.key_id, "retired_at": format_timestamp(retired_at),
    }  # fmt: skip
    # A new key takes over at once; retiring the old one again changes nothing.
    new_key = SigningKey.generate()
    with receiver.session() as session, session.begin():
        admin.add_key(session, asw_id=ASW, public_key=new_key.public_key, actor=SETUP)
        again = admin.retire_key(session, asw_id=ASW, key_id=key.key_id, actor=SETUP)
    assert again == retired_at
    accepted(receiver.url, new_key)


def test_a_retirement_can_be_scheduled_but_never_backdated(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    later = datetime.now(UTC) + timedelta(days=30)
    with receiver.session() as session, session.begin():
        admin.retire_key(session, asw_id=ASW, key_id=key.key_id, actor=SETUP, at=later)
    referral_id, _ = accepted(receiver.url, key)  # still before its retirement
    assert evidence(receiver, referral_id)["key_validity"]["rule"] == "before_retirement"
    with pytest.raises(Problem) as backdated, receiver.session() as session, session.begin():
        admin.retire_key(
            session, asw_id=ASW, key_id=key.key_id, actor=SETUP,
            at=datetime.now(UTC) - timedelta(hours=1),
        )  # fmt: skip
    assert (backdated.value.status, backdated.value.code) == (422, "request_invalid")


def test_a_backdated_envelope_signed_after_the_compromise_is_refused(receiver: Receiver) -> None:
    """The thief holds the key and claims an ``issued_at`` from before the compromise: the
    receiver judges the key at its own time of receipt, so the claim gains nothing, and
    what the receiver had received before the compromise stays valid evidence."""
    key = receiver.register_asw(ASW)
    before_id, before_received = accepted(receiver.url, key)
    compromised_at = next_second(before_received)
    with receiver.session() as session, session.begin():
        admin.revoke_key(
            session, asw_id=ASW, key_id=key.key_id, actor=SETUP, compromised_at=compromised_at
        )
    backdated = compromised_at - timedelta(seconds=120)  # well inside the 900 s freshness
    detail = refused(submit(receiver.url, key, issued_at=backdated), "key_revoked")
    assert f"compromise at {format_timestamp(compromised_at)}" in detail
    refused(submit(receiver.url, key), "key_revoked")
    result = evidence(receiver, before_id)
    assert result["verified"] is True and result["key_revoked"] is True
    assert result["key_validity"]["rule"] == "before_compromise"
    # The log entry of its receipt witnesses received_at, once sequenced.
    tlog.sequence_all(receiver.app.state.engine, receiver.app.state.settings.log_signer)
    assert isinstance(evidence(receiver, before_id)["log_index"], int)
    assert result["reason"] == (
        f"valid: signed before the key's compromise at {format_timestamp(compromised_at)}"
    )
    assert audit_actions(receiver, "asw.key_revoked")[-1] == {
        "asw_id": ASW, "key_id": key.key_id, "compromised_at": format_timestamp(compromised_at),
    }  # fmt: skip


def test_what_was_received_after_the_compromise_fails_the_evidence_recheck(
    receiver: Receiver,
) -> None:
    """The key was stolen before anyone knew: referrals received in between were accepted,
    and a revocation dated back to the compromise turns exactly those into invalid
    evidence, with a stated reason; earlier ones stay valid."""
    key = receiver.register_asw(ASW)
    early_id, early_received = accepted(receiver.url, key)
    next_second(early_received)
    forged_id, forged_received = accepted(receiver.url, key)
    assert forged_received > early_received
    with receiver.session() as session, session.begin():
        admin.revoke_key(
            session, asw_id=ASW, key_id=key.key_id, actor=SETUP, compromised_at=forged_received
        )
    forged = evidence(receiver, forged_id)
    assert forged["verified"] is False and forged["code"] == "key_revoked"
    assert "envelope" not in forged
    assert forged["key_validity"]["rule"] == "after_compromise"
    at = format_timestamp(forged_received)
    assert forged["reason"] == (
        f"invalid: signed at or after the key's compromise at {at} (received at {at})"
    )
    early = evidence(receiver, early_id)
    assert early["verified"] is True and early["key_validity"]["rule"] == "before_compromise"


def test_a_compromise_time_can_move_earlier_never_later_nor_into_the_future(
    receiver: Receiver,
) -> None:
    key = receiver.register_asw(ASW)
    now = datetime.now(UTC).replace(microsecond=0)
    with receiver.session() as session, session.begin():
        first = admin.revoke_key(
            session, asw_id=ASW, key_id=key.key_id, actor=SETUP,
            compromised_at=now - timedelta(hours=1),
        )  # fmt: skip
        later = admin.revoke_key(session, asw_id=ASW, key_id=key.key_id, actor=SETUP)
        earlier = admin.revoke_key(
            session, asw_id=ASW, key_id=key.key_id, actor=SETUP,
            compromised_at=now - timedelta(days=2),
        )  # fmt: skip
    assert later == first  # an insider cannot weaken a revocation by re-revoking
    assert earlier == now - timedelta(days=2)
    moves = audit_actions(receiver, "asw.key_revoked")
    assert [m["compromised_at"] for m in moves] == [
        format_timestamp(first), format_timestamp(earlier)
    ]  # fmt: skip
    assert moves[-1]["previous_compromised_at"] == format_timestamp(first)
    with pytest.raises(Problem) as future, receiver.session() as session, session.begin():
        admin.revoke_key(
            session, asw_id=ASW, key_id=key.key_id, actor=SETUP,
            compromised_at=now + timedelta(hours=1),
        )  # fmt: skip
    assert (future.value.status, future.value.code) == (422, "request_invalid")


def test_validity_periods_refuse_keys_not_yet_valid_and_expired(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    now = datetime.now(UTC)
    early, expired = SigningKey.generate(), SigningKey.generate()
    with receiver.session() as session, session.begin():
        admin.add_key(
            session, asw_id=ASW, public_key=early.public_key, actor=SETUP,
            not_before=now + timedelta(days=1),
        )  # fmt: skip
        admin.add_key(
            session, asw_id=ASW, public_key=expired.public_key, actor=SETUP,
            not_before=now - timedelta(days=30), not_after=now - timedelta(days=1),
        )  # fmt: skip
    refused(submit(receiver.url, early), "key_not_yet_valid")
    refused(submit(receiver.url, expired), "key_expired")
    listed = {k["key_id"]: k for k in admin_list(receiver)[0]["keys"]}
    assert listed[early.key_id]["state"] == "not_yet_valid"
    assert listed[expired.key_id]["state"] == "expired"
    assert listed[expired.key_id]["not_after"] == format_timestamp(now - timedelta(days=1))
    with pytest.raises(Problem) as backwards, receiver.session() as session, session.begin():
        admin.add_key(
            session, asw_id=ASW, public_key=SigningKey.generate().public_key, actor=SETUP,
            not_before=now, not_after=now - timedelta(seconds=1),
        )  # fmt: skip
    assert backwards.value.code == "request_invalid"


def admin_list(receiver: Receiver) -> list[dict[str, Any]]:
    with receiver.session() as session:
        return admin.list_asws(session)


def test_a_key_added_through_dual_control_keeps_its_validity_period(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    key = SigningKey.generate()
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
    with receiver.session() as session, session.begin():
        request = admin.request_key(
            session, asw_id=ASW, public_key=key.public_key, ttl=timedelta(hours=1),
            requester=admin.Person("first", None, Actor("cli", "first")), not_after=not_after,
        )  # fmt: skip
        admin.approve_request(
            session,
            request_id=request.id,
            approver=admin.Person("second", None, Actor("cli", "second")),
        )
    with receiver.session() as session:
        row = session.get(tables.AswKey, key.key_id)
        assert row is not None and row.not_after == not_after and row.not_before is None
    accepted(receiver.url, key)


@pytest.fixture
def second(receiver: Receiver) -> Iterator[str]:
    """A second receiver on the same database: its own app, engine and key cache."""
    app = create_app(receiver.settings)
    try:
        yield from run_server(app)
    finally:
        app.state.engine.dispose()


def strive_admin(receiver: Receiver, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRIVE, "admin", *args, "--db", receiver.settings.database_url],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_retirement_by_another_process_is_refused_at_once_by_both_receivers(
    receiver: Receiver, second: str, tmp_path: Path
) -> None:
    key = receiver.register_asw(ASW)
    accepted(receiver.url, key)
    accepted(second, key)  # the key is in both caches
    done = strive_admin(receiver, tmp_path, "retire-key", "--asw-id", ASW, "--key-id", key.key_id)
    assert done.returncode == 0, done.stderr
    assert f"retired {key.key_id} from " in done.stderr
    wait_until(parse_timestamp(done.stderr.split(" from ")[1].strip()))
    for url in (second, receiver.url):
        refused(submit(url, key), "key_retired")


def test_a_revocation_dated_back_by_another_process_is_refused_at_once(
    receiver: Receiver, second: str, tmp_path: Path
) -> None:
    key = receiver.register_asw(ASW)
    referral_id, received = accepted(second, key)
    accepted(receiver.url, key)
    at = format_timestamp(received)
    done = strive_admin(
        receiver, tmp_path, "revoke-key", "--asw-id", ASW, "--key-id", key.key_id,
        "--compromised-at", at,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"compromised from {at}" in done.stderr
    for url in (second, receiver.url):
        refused(submit(url, key), "key_revoked")
    assert evidence(receiver, referral_id)["code"] == "key_revoked"


def test_the_cli_refuses_a_time_without_an_offset_and_a_future_compromise(
    receiver: Receiver, tmp_path: Path
) -> None:
    key = receiver.register_asw(ASW)
    naive = strive_admin(
        receiver, tmp_path, "revoke-key", "--asw-id", ASW, "--key-id", key.key_id,
        "--compromised-at", "2026-01-01T00:00:00",
    )  # fmt: skip
    assert naive.returncode != 0 and "has no offset" in naive.stderr
    future = format_timestamp(datetime.now(UTC) + timedelta(days=1))
    refused_cli = strive_admin(
        receiver, tmp_path, "revoke-key", "--asw-id", ASW, "--key-id", key.key_id,
        "--compromised-at", future,
    )  # fmt: skip
    assert refused_cli.returncode != 0 and "request_invalid" in refused_cli.stderr
    accepted(receiver.url, key)  # nothing was revoked


def test_the_receiver_never_signs_a_receipt_with_a_retired_receipt_key(
    receiver: Receiver,
) -> None:
    key = receiver.register_asw(ASW)
    settings = receiver.app.state.settings
    kid = settings.signing_key.key_id
    past = format_timestamp(datetime.now(UTC) - timedelta(minutes=1))
    retired = type(settings)(
        **{**settings.model_dump(), "receipt_key_validity": {kid: {"retired_at": past}}}
    )
    object.__setattr__(receiver.app.state, "settings", retired)
    try:
        response = submit(receiver.url, key)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "service_unavailable"
        with receiver.http() as http:
            jwks = http.get("/.well-known/strive-configuration").json()["jwks"]["keys"]
        assert jwks[0]["kid"] == kid and jwks[0]["retired_at"] == past
    finally:
        object.__setattr__(receiver.app.state, "settings", settings)
    accepted(receiver.url, key)


def test_nothing_is_sealed_to_a_retired_or_expired_recipient_key(
    receiver: Receiver,
    cluster: dict[str, Any],  # noqa: F811 - the fixture of test_dissemination
) -> None:
    force = Force("met-cse", ["TLI"])
    force.register(receiver)
    _assess(receiver, cluster["id"])
    enc = [k.key_id for k in force.decryption.public_keys()]
    with receiver.session() as session, session.begin():
        times = [
            dissemination.retire_recipient_key(
                session, recipient_id="met-cse", key_id=key_id, actor=SETUP
            )
            for key_id in enc
        ]
    wait_until(max(times))
    sealed = _disseminate(receiver, cluster["id"], "met-cse")
    assert (sealed.status_code, _code(sealed)) == (409, "key_retired"), sealed.text
    assert audit_actions(receiver, "recipient.key_retired")[-1]["key_id"] == enc[-1]
    # A recipient that registers keys whose period has ended gets nothing either.
    late = Force("gmp-cse", ["TLI"])
    jwks = late.jwks()
    ended = format_timestamp(datetime.now(UTC) - timedelta(days=1))
    for jwk in jwks["keys"][1:]:
        jwk["not_after"] = ended
    register_with(receiver, late, jwks)
    expired = _disseminate(receiver, cluster["id"], "gmp-cse")
    assert (expired.status_code, _code(expired)) == (409, "key_expired"), expired.text


def test_a_recipient_signing_key_revoked_as_compromised_is_refused(receiver: Receiver) -> None:
    force = Force("met-cse", ["TLI"])
    force.register(receiver)
    with receiver.session() as session, session.begin():
        dissemination.revoke_recipient_key(
            session, recipient_id="met-cse", key_id=force.signing.key_id, actor=SETUP
        )
    report = force.report(receiver, {"dissemination_id": "dis-x", "outcome": "arrest"})
    assert (report.status_code, _code(report)) == (401, "key_revoked")


def register_with(receiver: Receiver, force: Force, jwks: dict[str, Any]) -> None:
    with receiver.session() as session, session.begin():
        dissemination.register_recipient(
            session, recipient_id=force.recipient_id, name=force.recipient_id,
            regions=force.regions, jwks=jwks, actor=SETUP,
        )  # fmt: skip


def test_a_submission_is_judged_at_its_recorded_time_of_receipt_too(receiver: Receiver) -> None:
    """A request that arrived before its key's not_before and is verified after it would be
    stored with a received_at at which the re-check refuses the key: it is refused now."""
    receiver.register_asw(ASW)
    key = SigningKey.generate()
    not_before = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    with receiver.session() as session, session.begin():
        admin.add_key(
            session, asw_id=ASW, public_key=key.public_key, actor=SETUP, not_before=not_before
        )
    wait_until(not_before)
    raw = envelope_for(fresh_referral(asw_id=ASW), key, issued_at=not_before)
    with pytest.raises(Problem) as refused_early:
        ingestion.ingest_envelope(
            sessions=make_sessionmaker(receiver.app.state.engine),
            settings=receiver.app.state.settings, raw=raw, claimed_asw=ASW,
            now=not_before - timedelta(milliseconds=500),
        )  # fmt: skip
    assert refused_early.value.code == "key_not_yet_valid"
    accepted(receiver.url, key)
