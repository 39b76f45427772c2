"""Who may do what, tested from the attacker's side: every endpoint against every kind of
caller, cross-ASW reads, replayed and re-aimed signed requests, revoked tokens."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_client import NotFound
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.sealed import Grading, RecipientDecryptionKeys
from strive_server.api.app import create_app
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.demo_files import demo_files
from strive_server.services import admin, assessment, casework, dissemination
from strive_server.services.retention import DEFAULT_REVIEW_DAYS

from .conftest import SETUP, Receiver, fresh_referral

ASW = "example-adverts"
OTHER = "demo-classifieds"
ROLES = ("analyst", "supervisor", "auditor", "admin")
CALLERS = (
    "no_token", "basic_auth", "garbage_token", "revoked_token", "expired_token", "asw_signature",
    *ROLES,
)  # fmt: skip
CONTENT = "Whitechapel"  # a word of the submitted narrative's adverts: referral content


def signed_headers(receiver: Receiver, asw_id: str, method: str, url: str, body: bytes = b"",
                   key: SigningKey | None = None, **sign: Any) -> dict[str, str]:  # fmt: skip
    headers = {"Strive-Asw-Id": asw_id}
    if body:
        headers["Content-Type"] = "application/json"
    return headers | sign_request(method, url, headers, body, key or receiver.keys[asw_id], **sign)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    allowed: frozenset[str]
    success: int = 200
    body: Callable[[Receiver], dict[str, Any] | bytes] | None = None
    fresh_referral_in: str | None = None  # the state a referral is put in for each call
    asw: bool = False  # authenticated by an ASW's signature, not a bearer token


def _new_asw(receiver: Receiver) -> dict[str, Any]:
    key = SigningKey.generate()
    return {"asw_id": f"asw-{secrets.token_hex(4)}", "name": "New ASW",
            "public_key_jwk": key.public_key.to_jwk()}  # fmt: skip


def _new_key(receiver: Receiver) -> dict[str, Any]:
    return {"public_key_jwk": SigningKey.generate().public_key.to_jwk()}


def _revocable_key(receiver: Receiver) -> str:
    key = SigningKey.generate()
    with receiver.session() as session, session.begin():
        admin.add_key(session, asw_id=OTHER, public_key=key.public_key, actor=SETUP)
    return f"/v1/admin/asws/{OTHER}/keys/{key.key_id}"


def _revocable_token(receiver: Receiver) -> str:
    with receiver.session() as session, session.begin():
        token_id, _, _ = admin.create_token(
            session, name="to-revoke", role="analyst", lifetime=timedelta(days=1), actor=SETUP
        )
    return f"/v1/admin/tokens/{token_id}"


def _pending_request(receiver: Receiver, suffix: str) -> str:
    """A token request by an admin other than the caller, so the caller may decide it."""
    with receiver.session() as session, session.begin():
        row = admin.request_token(
            session, name="new", role="analyst", lifetime=timedelta(days=1),
            requester=admin.Person("Another Admin", None, SETUP), ttl=timedelta(hours=1),
        )  # fmt: skip
    return f"/v1/admin/approval-requests/{row.id}{suffix}"


def _collectable_request(receiver: Receiver, suffix: str) -> str:
    """A token request asked for by the caller (the admin token's holder, by name) and
    approved by another admin, so the caller may collect half A of it."""
    with receiver.session() as session, session.begin():
        row = admin.request_token(
            session, name="new", role="analyst", lifetime=timedelta(days=1),
            requester=admin.Person("test-admin", None, SETUP), ttl=timedelta(hours=1),
        )  # fmt: skip
        admin.approve_request(
            session, request_id=row.id, approver=admin.Person("Another Admin", None, SETUP)
        )
    return f"/v1/admin/approval-requests/{row.id}{suffix}"


def approved_token(receiver: Receiver, body: dict[str, Any]) -> httpx.Response:
    """Create a dual-control token over the API: one admin asks, a second approves and
    receives half B, the first collects half A; the two halves make the token."""
    with receiver.http("admin") as http:
        asked = http.post("/v1/admin/tokens", json=body)
        assert asked.status_code == 202, asked.text
        second = receiver.tokens.get("second-admin") or receiver.token("admin", name="Second")
        receiver.tokens["second-admin"] = second
        request = f"/v1/admin/approval-requests/{asked.json()['id']}"
        with httpx.Client(
            base_url=receiver.url, headers={"Authorization": f"Bearer {second}"}
        ) as b:
            approved = b.post(f"{request}/approve")
        assert approved.status_code == 200, approved.text
        collected = http.post(f"{request}/collect")
        assert collected.status_code == 200, collected.text
    half_b = approved.json()["token_half"]
    token = admin.join_token_halves(collected.json()["half"], half_b.pop("half"))
    return httpx.Response(201, json=half_b | {"token": token})


THRIVE = dict.fromkeys(("threat", "harm", "risk", "investigation", "vulnerability",
                        "engagement", "rationale"), "x") | {"priority": "P2"}  # fmt: skip
GRADING = {"source_evaluation": "2", "intelligence_assessment": "B", "handling_code": "P"}


def _recipient_jwks() -> dict[str, Any]:
    keys = RecipientDecryptionKeys.generate()
    return {"keys": [SigningKey.generate().public_key.to_jwk(),
                     *(k.to_jwk() for k in keys.public_keys())]}  # fmt: skip


def _new_recipient(receiver: Receiver) -> dict[str, Any]:
    return {"recipient_id": f"force-{secrets.token_hex(4)}", "name": "Force",
            "regions": ["TLI"], "public_keys": _recipient_jwks()}  # fmt: skip


def _first_dissemination(receiver: Receiver) -> str:
    """The one _prepare_dissemination made (ids sort in creation order)."""
    with receiver.session() as session:
        return str(session.scalars(
            sa.select(tables.Dissemination.id).order_by(tables.Dissemination.id)
        ).first())  # fmt: skip


def _prepare_dissemination(receiver: Receiver, cluster_id: int) -> str:
    """Two recipients (one to revoke), an assessed cluster and one dissemination; the
    retention review made due at once, so a supervisor's erasure can succeed."""
    settings = receiver.app.state.settings
    object.__setattr__(receiver.app.state, "settings",
                       settings.model_copy(update={"retention_review_days": dict.fromkeys(DEFAULT_REVIEW_DAYS, 0)}))  # fmt: skip
    with receiver.session() as session, session.begin():
        for recipient_id in ("roles-force", "revocable-force"):
            dissemination.register_recipient(
                session, recipient_id=recipient_id, name=recipient_id, regions=["TLI"],
                jwks=_recipient_jwks(), actor=SETUP,
            )  # fmt: skip
        cluster = session.get(tables.Cluster, cluster_id)
        assessment.record_assessment(
            session, cluster=cluster, referral=None, considerations=THRIVE,
            rationale="r", priority="P2", actor=SETUP,
        )  # fmt: skip
        sealed = dissemination.disseminate_cluster(
            session, cluster, recipient_id="roles-force", reason="r",
            grading=Grading("2", "B", "P"), formats=["json"], receiver_id="receiver.test",
            signing_key=settings.signing_key, actor=SETUP,
        )  # fmt: skip
    return str(sealed.record["dissemination_id"])


ANALYSTS = frozenset({"analyst", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
ADMIN = frozenset({"admin"})
ENDPOINTS = [
    Endpoint("GET", "/v1/referrals/{id}", ANALYSTS),
    Endpoint("GET", "/v1/referrals/{id}/evidence", ANALYSTS),
    Endpoint("GET", "/v1/referrals/{id}/history", ANALYSTS),
    Endpoint("POST", "/v1/referrals/{id}/transitions", ANALYSTS,
             body=lambda r: {"to_state": "triaged", "reason": "r"}, fresh_referral_in="received"),
    Endpoint("POST", "/v1/referrals/{id}/outcomes", SUPERVISOR,
             body=lambda r: {"outcome": "arrest", "reason": "r"},
             fresh_referral_in="disseminated"),
    Endpoint("POST", "/v1/referrals/{id}/assignment", SUPERVISOR,
             body=lambda r: {"assignee": "DC Khan", "reason": "r"}, fresh_referral_in="received"),
    Endpoint("POST", "/v1/referrals/{id}/feedback", ANALYSTS, success=201,
             body=lambda r: {"message": "m"}, fresh_referral_in="received"),
    Endpoint("POST", "/v1/referrals/{id}/information-requests", ANALYSTS, success=201,
             body=lambda r: {"question": "q"}, fresh_referral_in="received"),
    Endpoint("GET", "/v1/referrals/{id}/information-requests", ANALYSTS),
    Endpoint("POST", "{withdrawable_request}", ANALYSTS, body=lambda r: {"reason": "r"}),
    Endpoint("GET", "/v1/triage", ANALYSTS),
    Endpoint("GET", "/v1/referrals/{id}/links", ANALYSTS),
    Endpoint("GET", "/v1/clusters/{cluster}", ANALYSTS),
    Endpoint("GET", "/v1/clusters/{cluster}/referrals", ANALYSTS),
    Endpoint("GET", "/v1/clusters/{cluster}/selectors", ANALYSTS),
    Endpoint("GET", "/v1/clusters/{cluster}/export", ANALYSTS),
    Endpoint("GET", "/v1/selectors?kind=phone&value=07700900101", ANALYSTS),
    Endpoint("POST", "/v1/selectors/linking-allowed", SUPERVISOR,
             body=lambda r: {"kind": "phone", "value": "07700900101", "reason": "r"}),
    Endpoint("GET", "/v1/audit", frozenset({"auditor"})),
    Endpoint("GET", "/v1/stats", frozenset({"auditor", "supervisor", "admin"})),
    Endpoint("GET", "/metrics", frozenset({"auditor", "admin"})),
    Endpoint("GET", "/v1/admin/asws", ADMIN),
    Endpoint("POST", "/v1/admin/asws", ADMIN, success=202, body=_new_asw),
    Endpoint("POST", f"/v1/admin/asws/{OTHER}/keys", ADMIN, success=202, body=_new_key),
    Endpoint("DELETE", "{revocable_key}", ADMIN),
    Endpoint("POST", "/v1/admin/tokens", ADMIN, success=201,
             body=lambda r: {"name": "new", "role": "auditor"}),
    Endpoint("POST", "/v1/admin/tokens", ADMIN, success=202,
             body=lambda r: {"name": "new", "role": "analyst"}),
    Endpoint("DELETE", "{revocable_token}", ADMIN),
    Endpoint("GET", "/v1/admin/approval-requests", ADMIN),
    Endpoint("GET", "{approval_request}", ADMIN),
    Endpoint("POST", "{approvable_request}", ADMIN),
    Endpoint("POST", "{rejectable_request}", ADMIN),
    Endpoint("POST", "{collectable_request}", ADMIN),
    Endpoint("POST", "/v1/admin/selector-exclusions", ADMIN, success=201,
             body=lambda r: {"kind": "phone", "value": "0800 000 0000", "reason": "support"}),
    Endpoint("GET", "/v1/referrals/{id}/status", frozenset({"asw_signature"}), asw=True),
    Endpoint("GET", "/v1/information-requests", frozenset({"asw_signature"}), asw=True),
    # Evidence files (tests/server/test_evidence_files.py): uploads signed by the ASW, reads
    # by the content roles with a reason.
    Endpoint("PUT", "/v1/referrals/{id}/attachments/att-01", frozenset({"asw_signature"}),
             asw=True, success=201, body=lambda r: demo_files()["att-01.png"],
             fresh_referral_in="received"),
    Endpoint("GET", "/v1/referrals/{id}/attachments/att-01", ANALYSTS),
    # From assessment to outcome (tests/server/test_dissemination*.py).
    Endpoint("POST", "/v1/clusters/{cluster}/assessments", ANALYSTS, success=201,
             body=lambda r: THRIVE),
    Endpoint("POST", "/v1/referrals/{id}/assessments", ANALYSTS, success=201,
             body=lambda r: THRIVE),
    Endpoint("POST", "/v1/research-findings", ANALYSTS, success=201,
             body=lambda r: {"selector": {"kind": "phone", "value": "07700900101"},
                             "finding": "f", "source_reference": "s", "grading": GRADING}),
    Endpoint("GET", "/v1/clusters/{cluster}/research", ANALYSTS),
    Endpoint("GET", "/v1/clusters/{cluster}/recipient-suggestions", ANALYSTS),
    Endpoint("POST", "/v1/admin/recipients", ADMIN, success=202, body=_new_recipient),
    Endpoint("POST", "/v1/admin/recipients/roles-force/keys", ADMIN, success=202,
             body=lambda r: {"public_keys": _recipient_jwks()}),
    Endpoint("GET", "/v1/admin/recipients", ADMIN),
    Endpoint("DELETE", "/v1/admin/recipients/revocable-force", ADMIN),
    Endpoint("POST", "/v1/clusters/{cluster}/disseminations", SUPERVISOR, success=201,
             body=lambda r: {"recipient_id": "roles-force", "reason": "r", "grading": GRADING}),
    Endpoint("GET", "/v1/disseminations/{dissemination}", ANALYSTS),
    Endpoint("POST", "/v1/disseminations/{dissemination}/outcomes", SUPERVISOR, success=201,
             body=lambda r: {"dissemination_id": _first_dissemination(r), "outcome": "arrest"}),
    Endpoint("GET", "/v1/referrals/{id}/outcomes", ANALYSTS),
    Endpoint("GET", "/v1/referrals/{id}/review", ANALYSTS),
    Endpoint("POST", "/v1/referrals/{id}/erasure", SUPERVISOR, body=lambda r: {"reason": "r"},
             fresh_referral_in="closed"),
    # Signed by a recipient's key; no bearer token or ASW signature is one.
    Endpoint("POST", "/v1/recipient/outcomes", frozenset(), success=201, asw=True,
             body=lambda r: {"dissemination_id": "dis-x", "outcome": "arrest"}),
]  # fmt: skip


PUBLIC = {
    ("GET", "/.well-known/strive-configuration"), ("GET", "/healthz"), ("GET", "/readyz"),
    # Signed envelopes authenticate these (tests/server/test_ingestion.py).
    ("POST", "/v1/referrals"), ("POST", "/v1/referrals/batch"),
    # A configured witness's cosignature authenticates it (tests/server/test_tlog.py).
    ("POST", "/v1/log/cosignature"),
}  # fmt: skip


def _template(path: str) -> str:
    return (
        path.split("?", maxsplit=1)[0]
        .replace("{id}", "{referral_id}")
        .replace("/attachments/att-01", "/attachments/{attachment_id}")
        .replace("{cluster}", "{cluster_id}")
        .replace(f"/{OTHER}/", "/{asw_id}/")
        .replace("{dissemination}", "{dissemination_id}")
        .replace("/revocable-force", "/{recipient_id}")
        .replace("/roles-force/", "/{recipient_id}/")
    )


def test_the_table_names_every_route(tmp_path: Path) -> None:
    """A new endpoint fails here until someone decides who may call it."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}",
                              signing_key_file=tmp_path / "key.pem",
                              audit_key_file=tmp_path / "audit.key"))  # fmt: skip
    routes = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    app.state.engine.dispose()
    tabled = {(e.method, _template(e.path)) for e in ENDPOINTS}
    tabled |= {
        ("DELETE", "/v1/admin/asws/{asw_id}/keys/{key_id}"),
        ("DELETE", "/v1/admin/tokens/{token_id}"),
        ("POST", "/v1/referrals/{referral_id}/information-requests/{request_id}/withdrawal"),
        ("GET", "/v1/admin/approval-requests/{request_id}"),
        ("POST", "/v1/admin/approval-requests/{request_id}/approve"),
        ("POST", "/v1/admin/approval-requests/{request_id}/reject"),
        ("POST", "/v1/admin/approval-requests/{request_id}/collect"),
        # Every role, every ASW and configured witnesses; from the attacker's side in
        # tests/server/test_tlog.py (test_log_readers_are_exactly_those_of_the_spec).
        ("GET", "/v1/log/checkpoint"),
        ("GET", "/v1/log/tile/{level}/{path}"),
        ("GET", "/v1/log/tile/entries/{path}"),
        ("GET", "/v1/log/lookup/{leaf_hash}"),
    }
    tabled -= {
        ("DELETE", "{revocable_key}"), ("DELETE", "{revocable_token}"),
        ("POST", "{withdrawable_request}"), ("GET", "{approval_request}"),
        ("POST", "{approvable_request}"), ("POST", "{rejectable_request}"),
        ("POST", "{collectable_request}"),
    }  # fmt: skip
    assert routes - PUBLIC == tabled


def expected(endpoint: Endpoint, caller: str) -> tuple[int, str | None]:
    if caller in endpoint.allowed:
        return endpoint.success, None
    if endpoint.asw or caller in ("no_token", "basic_auth", "asw_signature"):
        # No bearer token where one is needed, or no signature where one is needed.
        return 401, "authentication_required"
    if caller in ("garbage_token", "revoked_token", "expired_token"):
        return 401, "token_invalid"
    return 403, "forbidden"


def submit_pool(receiver: Receiver, count: int) -> list[str]:
    referrals = [fresh_referral("op-strive-1-london.json", asw_id=ASW) for _ in range(count)]
    with receiver.client(ASW) as client:
        results = client.submit_batch(referrals)
    assert {r.status for r in results} == {"accepted"}
    return [str(r["referral_id"]) for r in referrals]


def put_in_state(receiver: Receiver, referral_id: str, state: str) -> None:
    with receiver.session() as session, session.begin():
        session.execute(
            sa.update(tables.Referral)
            .where(tables.Referral.referral_id == referral_id)
            .values(state=state)
        )


def revoked_token(receiver: Receiver) -> str:
    token = receiver.token("analyst", name="leaver")
    with receiver.session() as session, session.begin():
        row = session.scalars(sa.select(tables.Token).where(tables.Token.name == "leaver")).one()
        admin.revoke_token(session, token_id=row.id, actor=SETUP)
    return token


def expired_token(receiver: Receiver) -> str:
    """An admin token (the most a stolen token could give) one second past its end."""
    token = receiver.token("admin", name="expired")
    with receiver.session() as session, session.begin():
        row = session.scalars(sa.select(tables.Token).where(tables.Token.name == "expired")).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    return token


def _withdrawable_request(receiver: Receiver, referral_id: str) -> str:
    with receiver.session() as session, session.begin():
        row = session.scalars(
            sa.select(tables.Referral).where(tables.Referral.referral_id == referral_id)
        ).one()
        request = casework.create_information_request(
            session, row, question="q", due_by=None, actor=SETUP
        )
    return f"/v1/referrals/{referral_id}/information-requests/{request.id}/withdrawal"


def test_every_endpoint_admits_exactly_its_roles(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    # A fresh referral for each call that should succeed; the calls that must fail share one
    # (were one to succeed, its status would say so).
    admitted = sum(len(e.allowed) for e in ENDPOINTS if e.fresh_referral_in)
    pool = submit_pool(receiver, admitted + 2)
    shared, scratch = pool.pop(), pool.pop()
    with receiver.client(ASW) as client:  # a received file for the reads to find
        screenshot = receiver.settings.evidence_dir.parent / "att-01.png"
        screenshot.write_bytes(demo_files()["att-01.png"])
        client.upload_attachments(shared, {"att-01": screenshot})
    with receiver.http("analyst") as http:  # so /information-requests has an item to list
        http.post(f"/v1/referrals/{shared}/information-requests", json={"question": "q"})
    with receiver.session() as session:
        cluster = session.scalars(
            sa.select(tables.Referral.cluster_id).where(tables.Referral.referral_id == shared)
        ).one()
    dissemination_id = _prepare_dissemination(receiver, cluster)
    bearer = {role: receiver.token(role) for role in ROLES}
    bearer["garbage_token"] = "strv_" + secrets.token_urlsafe(32)
    bearer["revoked_token"] = revoked_token(receiver)
    bearer["expired_token"] = expired_token(receiver)
    failures = []
    with httpx.Client(timeout=30) as http:
        for endpoint in ENDPOINTS:
            for caller in CALLERS:
                referral_id = shared
                if endpoint.fresh_referral_in:
                    referral_id = pool.pop() if caller in endpoint.allowed else scratch
                    put_in_state(receiver, referral_id, endpoint.fresh_referral_in)
                path = endpoint.path.format(
                    id=referral_id,
                    cluster=cluster,
                    dissemination=dissemination_id,
                    revocable_key="{revocable_key}",
                    revocable_token="{revocable_token}",
                    withdrawable_request="{withdrawable_request}",
                    approval_request="{approval_request}",
                    approvable_request="{approvable_request}",
                    rejectable_request="{rejectable_request}",
                    collectable_request="{collectable_request}",
                )
                if path == "{revocable_key}":
                    path = _revocable_key(receiver)
                elif path == "{revocable_token}":
                    path = _revocable_token(receiver)
                elif path == "{withdrawable_request}":
                    path = _withdrawable_request(receiver, shared)
                elif path == "{approval_request}":
                    path = _pending_request(receiver, "")
                elif path == "{approvable_request}":
                    path = _pending_request(receiver, "/approve")
                elif path == "{rejectable_request}":
                    path = _pending_request(receiver, "/reject")
                elif path == "{collectable_request}":
                    path = _collectable_request(receiver, "/collect")
                url = receiver.url + path
                raw = endpoint.body(receiver) if endpoint.body else None
                file_upload = isinstance(raw, bytes)
                body = raw if isinstance(raw, bytes) else json.dumps(raw).encode() if raw else b""
                headers = {"Content-Type": "application/json"} if body else {}
                if caller == "asw_signature":
                    headers = signed_headers(receiver, ASW, endpoint.method, url, body)
                elif caller == "basic_auth":
                    headers["Authorization"] = "Basic YWRtaW46YWRtaW4="
                elif caller != "no_token":
                    headers["Authorization"] = f"Bearer {bearer[caller]}"
                if file_upload:  # an evidence file is not JSON (spec/evidence-files.md)
                    headers["Content-Type"] = "application/octet-stream"
                if "/attachments/" in path and endpoint.method == "GET":
                    headers["Strive-Reason"] = "checking the roles"  # a header, never a query
                response = http.request(endpoint.method, url, content=body, headers=headers)
                got = (response.status_code, response.json().get("code") if
                       response.status_code >= 400 else None)  # fmt: skip
                if got != expected(endpoint, caller):
                    failures.append((endpoint.method, endpoint.path, caller, got))
                if response.status_code >= 400:
                    assert response.headers["content-type"].startswith("application/problem+json")
                    assert CONTENT not in response.text
    assert failures == []


def test_only_analysts_and_supervisors_see_referral_content(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    [referral_id] = submit_pool(receiver, 1)
    for role in ROLES:
        with receiver.http(role) as http:
            texts = [
                http.get(f"/v1/referrals/{referral_id}{suffix}").text
                for suffix in ("", "/evidence", "/history")
            ] + [http.get("/v1/audit").text, http.get("/v1/stats").text]
        shows_content = any(CONTENT in text for text in texts)
        assert shows_content == (role in ("analyst", "supervisor")), role
    # The auditor reads the trail and the figures, but no content.
    with receiver.http("auditor") as http:
        assert http.get("/v1/audit").status_code == 200
        assert http.get("/v1/stats").status_code == 200


def test_an_asw_cannot_tell_another_asws_referral_from_a_missing_one(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    [referral_id] = submit_pool(receiver, 1)
    with receiver.http("analyst") as http:
        http.post(f"/v1/referrals/{referral_id}/information-requests", json={"question": "q"})

    def status_of(path_id: str) -> httpx.Response:
        url = f"{receiver.url}/v1/referrals/{path_id}/status"
        return httpx.get(url, headers=signed_headers(receiver, OTHER, "GET", url))

    foreign, missing = status_of(referral_id), status_of(str(uuid.uuid4()))
    assert foreign.status_code == missing.status_code == 404
    strip = {"instance"}
    assert {k: v for k, v in foreign.json().items() if k not in strip} == {
        k: v for k, v in missing.json().items() if k not in strip
    }
    assert set(foreign.headers) == set(missing.headers)
    with receiver.client(OTHER) as client:
        with pytest.raises(NotFound):
            client.get_referral_status(referral_id)
        for state in ("open", "answered", "withdrawn"):
            assert client.list_information_requests(state=state).items == []
    with receiver.client(ASW) as client:
        assert len(client.list_information_requests().items) == 1
        assert client.get_referral_status(referral_id).state == "received"
    # The other ASW's own key cannot speak for the first ASW.
    url = f"{receiver.url}/v1/referrals/{referral_id}/status"
    impostor = signed_headers(receiver, ASW, "GET", url, key=receiver.keys[OTHER])
    response = httpx.get(url, headers=impostor)
    assert (response.status_code, response.json()["code"]) == (401, "key_unknown")


class Recording(httpx.HTTPTransport):
    """A transport that keeps every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


def test_a_signed_request_replayed_verbatim_is_refused(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    [referral_id] = submit_pool(receiver, 1)
    recording = Recording()
    with receiver.client(ASW, transport=recording) as client:
        assert client.get_referral_status(referral_id).state == "received"
        # The SDK signs every call afresh, so calling again works.
        assert client.get_referral_status(referral_id).state == "received"
    captured = recording.sent[-1]
    assert "signature" in captured.headers
    replay = httpx.request(captured.method, str(captured.url), headers=dict(captured.headers))
    assert (replay.status_code, replay.json()["code"]) == (401, "nonce_replayed")
    assert replay.headers["content-type"].startswith("application/problem+json")


def test_a_signature_made_for_another_request_is_refused(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    first, second = submit_pool(receiver, 2)
    base = receiver.url
    status = f"{base}/v1/referrals/{first}/status"
    requests_url = f"{base}/v1/information-requests?state=open"
    old = datetime.now(UTC) - timedelta(minutes=10)
    ahead = datetime.now(UTC) + timedelta(minutes=5)
    other_host = status.replace("127.0.0.1", "localhost")
    cases = [
        # (method, url sent, headers signed for ..., expected status, code)
        ("GET", f"{base}/v1/referrals/{second}/status",
         signed_headers(receiver, ASW, "GET", status), 401, "signature_invalid"),
        ("GET", status, signed_headers(receiver, ASW, "POST", status), 401, "signature_invalid"),
        ("GET", requests_url.replace("open", "answered"),
         signed_headers(receiver, ASW, "GET", requests_url), 401, "signature_invalid"),
        ("GET", status, signed_headers(receiver, ASW, "GET", other_host), 401, "signature_invalid"),
        ("GET", status, signed_headers(receiver, ASW, "GET", status, created=old),
         401, "request_signature_stale"),
        ("GET", status, signed_headers(receiver, ASW, "GET", status, created=ahead),
         401, "request_signature_from_future"),
        ("GET", status, signed_headers(receiver, ASW, "GET", status, b"{}"),
         400, "content_digest_mismatch"),
        ("GET", status, {"Strive-Asw-Id": ASW}, 401, "request_signature_missing"),
        ("GET", status, signed_headers(receiver, "nobody", "GET", status,
                                       key=receiver.keys[ASW]), 401, "key_unknown"),
    ]  # fmt: skip
    for method, url, headers, status_code, code in cases:
        response = httpx.request(method, url, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status_code, code), url
    # A bearer token on an ASW endpoint, and an ASW signature on a bearer endpoint.
    token = {"Authorization": f"Bearer {receiver.token('supervisor')}"}
    response = httpx.get(status, headers=token)
    assert (response.status_code, response.json()["code"]) == (401, "authentication_required")
    view = f"{base}/v1/referrals/{first}"
    response = httpx.get(view, headers=signed_headers(receiver, ASW, "GET", view))
    assert (response.status_code, response.json()["code"]) == (401, "authentication_required")
    # A token in the query string is not a token.
    response = httpx.get(f"{view}?access_token={receiver.token('analyst')}")
    assert (response.status_code, response.json()["code"]) == (401, "authentication_required")


def test_revoking_a_token_takes_effect_at_once(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    [referral_id] = submit_pool(receiver, 1)
    created = approved_token(receiver, {"name": "DC Leaver", "role": "analyst"})
    assert created.status_code == 201
    token, token_id = created.json()["token"], created.json()["id"]
    headers = {"Authorization": f"Bearer {token}"}
    # One kept-alive connection before and after: no cached authorisation survives.
    with httpx.Client(base_url=receiver.url, headers=headers) as analyst:
        assert analyst.get(f"/v1/referrals/{referral_id}").status_code == 200
        with receiver.http("admin") as http:
            assert http.delete(f"/v1/admin/tokens/{token_id}").status_code == 200
        refused = analyst.get(f"/v1/referrals/{referral_id}")
        assert (refused.status_code, refused.json()["code"]) == (401, "token_invalid")
        assert "invalid_token" in refused.headers["www-authenticate"]
        moved = analyst.post(
            f"/v1/referrals/{referral_id}/transitions", json={"to_state": "triaged", "reason": "r"}
        )
        assert moved.status_code == 401
    with receiver.http("admin") as http:  # revoking again is harmless; unknown ids are 404
        assert http.delete(f"/v1/admin/tokens/{token_id}").status_code == 200
        assert http.delete("/v1/admin/tokens/999999").status_code == 404
    with receiver.session() as session:
        actions = session.scalars(
            sa.select(tables.AuditEvent.action).where(tables.AuditEvent.action.like("token.%"))
        ).all()
    assert actions.count("token.revoked") == 1


def test_tokens_expire(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    [referral_id] = submit_pool(receiver, 1)
    default = approved_token(receiver, {"name": "DC Default", "role": "analyst"})
    week = approved_token(receiver, {"name": "DC Week", "role": "analyst", "expires_in_days": 7})
    with receiver.http("admin") as http:
        refused = [
            http.post("/v1/admin/tokens", json={"name": "n", "role": "analyst", "expires_in_days": d})
            for d in (0, -1, 367, "never")
        ]  # fmt: skip
    now = datetime.now(UTC)
    for response, days in ((default, 90), (week, 7)):
        assert response.status_code == 201
        expires_at = datetime.fromisoformat(response.json()["expires_at"])
        assert abs(expires_at - (now + timedelta(days=days))) < timedelta(minutes=1)
    for response in refused:
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/expires_in_days"
    token = week.json()["token"]
    with httpx.Client(base_url=receiver.url, headers={"Authorization": f"Bearer {token}"}) as dc:
        assert dc.get(f"/v1/referrals/{referral_id}").status_code == 200
        with receiver.session() as session, session.begin():
            row = session.get(tables.Token, week.json()["id"])
            assert row is not None
            row.expires_at = datetime.now(UTC)  # the moment it ends, it is refused
        refused_read = dc.get(f"/v1/referrals/{referral_id}")
        assert (refused_read.status_code, refused_read.json()["code"]) == (401, "token_invalid")
        assert "expired" in refused_read.json()["detail"]


def test_bearer_tokens_are_never_stored_in_clear(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    tokens = [receiver.token(role) for role in ROLES]
    with receiver.http("admin") as http:
        tokens.append(http.post("/v1/admin/tokens", json={"name": "n", "role": "auditor"})
                      .json()["token"])  # fmt: skip
    tokens.append(approved_token(receiver, {"name": "m", "role": "analyst"}).json()["token"])
    tokens.append(receiver.tokens["second-admin"])
    with receiver.session() as session:
        rows = session.scalars(sa.select(tables.Token)).all()
        stored = {row.token_hash for row in rows}
        assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}
        assert all(len(t) >= 40 for t in tokens)  # 256 random bits
        dump = json.dumps(
            [
                [str(value) for value in row]
                for table in (tables.Token, tables.AuditEvent, tables.ApprovalRequest)
                for row in session.execute(sa.select(table.__table__)).all()
            ]
        )
    for token in tokens:
        assert token not in dump and token.removeprefix("strv_") not in dump
