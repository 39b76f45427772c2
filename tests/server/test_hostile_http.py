"""The HTTP layer under hostile input, tested from the attacker's side: raw sockets and plain
HTTP against a real uvicorn server (the ``receiver`` fixture), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pydantic
import pytest
import sqlalchemy as sa
import starlette.requests

from strive_schema._internal import b64, structured_fields
from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, build_submission, sign_envelope
from strive_schema.httpsig import LABEL, _base_from, _signature_params, sign_request
from strive_server.api import schemas
from strive_server.db import tables
from strive_server.db.engine import make_sessionmaker

from .conftest import RECEIVER_ID, Receiver, fresh_referral

ASW = "example-adverts"
PROBLEM = "application/problem+json"
TWENTY_ONE_MB = 21 * 1024 * 1024
BEYOND_ANY_COLUMN = 10**20


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool

    def problem(self) -> Any:
        assert self.headers["content-type"] == PROBLEM
        return httpx.Response(self.status, content=self.body).json()


def exchange(receiver: Receiver, data: bytes) -> RawResponse:
    """Send raw bytes, read one response, and say whether the server then closed."""
    parts = urlsplit(receiver.url)
    assert parts.hostname and parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "the server closed without answering"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines[1:])
        }
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            assert chunk, "the server closed in the middle of its answer"
            body += chunk
        sock.settimeout(10)  # a server that keeps the connection open fails here, not hangs
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
    return RawResponse(int(lines[0].split()[1]), headers, body, closed)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.fixture
def parsed_bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request body the application parses as JSON (the path it was sent to)."""
    paths: list[str] = []
    original = starlette.requests.Request.json

    async def spy(request: starlette.requests.Request) -> Any:
        paths.append(request.url.path)
        return await original(request)

    monkeypatch.setattr(starlette.requests.Request, "json", spy)
    return paths


def set_settings(receiver: Receiver, **changes: Any) -> None:
    settings = receiver.app.state.settings.model_copy(update=changes)
    object.__setattr__(receiver.app.state, "settings", settings)


# --- bodies are bounded, and read only after authentication -------------------------------


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (None, 401, "authentication_required"),
        ("garbage", 401, "token_invalid"),
        ("analyst", 403, "forbidden"),
    ],
)
def test_a_large_body_without_a_valid_token_is_refused_unread(
    receiver: Receiver, parsed_bodies: list[str], token: str | None, status: int, code: str
) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(TWENTY_ONE_MB)}
    if token is not None:
        secret = receiver.token(token) if token != "garbage" else "not-a-token"
        headers["Authorization"] = f"Bearer {secret}"
    start = b'{"name": "' + b"a" * 8000  # a start: the server must answer without the rest
    response = exchange(receiver, head("POST", "/v1/admin/tokens", headers) + start)
    assert (response.status, response.problem()["code"]) == (status, code)
    assert response.closed
    assert parsed_bodies == []


@pytest.mark.parametrize(
    ("path", "role", "limit"),
    [
        ("/v1/admin/tokens", "admin", "max_request_body_bytes"),
        ("/v1/referrals/00000000-0000-4000-8000-000000000000/feedback", "analyst",
         "max_request_body_bytes"),
        ("/v1/referrals", None, "max_envelope_bytes"),
        ("/v1/referrals/batch", None, "max_batch_bytes"),
    ],
)  # fmt: skip
def test_a_declared_body_beyond_the_routes_limit_is_refused_unread(
    receiver: Receiver, parsed_bodies: list[str], path: str, role: str | None, limit: str
) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(10**9)}
    if path == "/v1/referrals/batch":
        headers["Content-Type"] = "application/x-ndjson"
    if role is not None:
        headers["Authorization"] = f"Bearer {receiver.token(role)}"
    response = exchange(receiver, head("POST", path, headers) + b'{"a"')
    problem = response.problem()
    assert (response.status, problem["code"]) == (413, "body_too_large")
    assert str(getattr(receiver.settings, limit)) in problem["detail"]
    assert response.closed
    assert parsed_bodies == []


def test_a_body_sent_to_no_route_is_not_waited_for(receiver: Receiver) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(10**9)}
    response = exchange(receiver, head("POST", "/v1/nowhere", headers) + b"{")
    assert (response.status, response.problem()["code"]) == (404, "not_found")
    assert response.closed


def test_a_chunked_body_is_counted_and_refused_past_the_limit(
    receiver: Receiver, parsed_bodies: list[str]
) -> None:
    limit = receiver.settings.max_request_body_bytes
    headers = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "Authorization": f"Bearer {receiver.token('admin')}",
    }
    chunk = b"a" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(limit // 4096 + 1))
    response = exchange(receiver, head("POST", "/v1/admin/tokens", headers) + chunks)
    assert (response.status, response.problem()["code"]) == (413, "body_too_large")
    assert response.closed
    assert parsed_bodies == []


@pytest.mark.parametrize("path", ["/v1/admin/tokens", "/v1/referrals"])
def test_a_body_that_never_arrives_is_refused_with_408(
    receiver: Receiver, parsed_bodies: list[str], path: str
) -> None:
    set_settings(receiver, body_read_timeout_seconds=0.5)
    headers = {
        "Content-Type": "application/json",
        "Content-Length": "100",
        "Authorization": f"Bearer {receiver.token('admin')}",
    }
    response = exchange(receiver, head("POST", path, headers) + b'{"name": ')
    assert (response.status, response.problem()["code"]) == (408, "request_timeout")
    assert response.closed
    assert parsed_bodies == []


CONSOLE_FORMS = [
    "/console/admin/approval-requests/1/approve",
    "/console/admin/tokens",
    "/console/referrals/x/transition",
    "/console/sign-out",
]


@pytest.mark.parametrize("path", CONSOLE_FORMS)
@pytest.mark.parametrize("cookie", [None, "strive_console=not-a-session"])
def test_a_console_form_without_a_session_is_refused_unread(
    receiver: Receiver, path: str, cookie: str | None
) -> None:
    set_settings(receiver, body_read_timeout_seconds=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100"}
    if cookie is not None:
        headers["Cookie"] = cookie
    response = exchange(receiver, head("POST", path, headers) + b"a=")
    assert (response.status, response.headers["location"]) == (303, "/console/sign-in")
    assert response.closed


def test_a_console_form_for_another_role_is_refused_unread(receiver: Receiver) -> None:
    set_settings(receiver, body_read_timeout_seconds=5)
    with httpx.Client(base_url=receiver.url, timeout=30) as browser:
        form = browser.get("/console/sign-in")
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        token = receiver.token("analyst")
        signed = browser.post("/console/sign-in", data={"token": token, "csrf_token": csrf})
        assert signed.status_code == 303
        session = browser.cookies["strive_console"]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": "100",
        "Cookie": f"strive_console={session}",
    }
    response = exchange(receiver, head("POST", "/console/admin/tokens", headers) + b"a=")
    assert response.status == 403
    assert b"You do not have access to this page" in response.body
    assert response.closed


def unsigned_outcome(receiver: Receiver, **changes: str | None) -> dict[str, str]:
    """The headers of a signed outcome report, changed (a ``None`` removes one)."""
    key = receiver.register_asw("signs-anything")
    fields = {"Content-Type": "application/json", "Strive-Recipient-Id": "met-police"}
    headers = fields | sign_request(
        "POST", receiver.url + "/v1/recipient/outcomes", fields, b"{}" + b" " * 98, key
    )
    for name, value in changes.items():
        if value is None:
            headers.pop(name.replace("_", "-"))
        else:
            headers[name.replace("_", "-")] = value
    return headers


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"Strive_Recipient_Id": None}, "authentication_required"),
        ({"Signature_Input": None}, "request_signature_missing"),
        ({"Signature": None}, "request_signature_missing"),
        (
            {"Signature_Input": 'strive=("@method");created=1700000000;tag="strive"'},
            "request_signature_malformed",  # a 400
        ),
        ("stale", "request_signature_stale"),
    ],
)
def test_an_unsigned_or_stale_request_is_refused_before_its_body(
    receiver: Receiver, parsed_bodies: list[str], changes: Any, code: str
) -> None:
    set_settings(receiver, body_read_timeout_seconds=5)
    if changes == "stale":
        headers = unsigned_outcome(receiver)
        created = re.search(r"created=(\d+)", headers["Signature-Input"])
        assert created
        old = str(int(created.group(1)) - 3600)
        headers["Signature-Input"] = headers["Signature-Input"].replace(created.group(1), old)
    else:
        headers = unsigned_outcome(receiver, **changes)
    headers["Content-Length"] = "100"
    response = exchange(receiver, head("POST", "/v1/recipient/outcomes", headers) + b"{}")
    status = 400 if code == "request_signature_malformed" else 401
    assert (response.status, response.problem()["code"]) == (status, code)
    assert response.closed
    assert parsed_bodies == []


def test_a_client_that_leaves_mid_body_ends_its_request_quietly(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    headers = unsigned_outcome(receiver) | {"Content-Length": "100"}
    uvicorn_log = logging.getLogger("uvicorn")
    uvicorn_log.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="strive.server.http")
    try:
        parts = urlsplit(receiver.url)
        assert parts.hostname and parts.port
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(head("POST", "/v1/recipient/outcomes", headers) + b"{}")
            time.sleep(0.5)  # the route is reading the body by now
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            getattr(r, "event", None) == "http_request" for r in caplog.records
        ):
            time.sleep(0.05)
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    logged = [r for r in caplog.records if getattr(r, "event", None) == "http_request"]
    assert [r.status for r in logged] == [400]  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_bodies_within_the_limits_are_read(receiver: Receiver) -> None:
    with receiver.http("admin") as http:
        created = http.post("/v1/admin/tokens", json={"name": "n" * 200, "role": "auditor"})
    assert created.status_code == 201


# --- values the database cannot hold are refused, naming the parameter ------------------------


def cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode()


@pytest.mark.parametrize(
    ("role", "method", "path", "pointer"),
    [
        ("analyst", "GET", "/v1/clusters/34359738368", "/path/cluster_id"),
        ("analyst", "GET", f"/v1/clusters/{BEYOND_ANY_COLUMN}", "/path/cluster_id"),
        ("analyst", "GET", f"/v1/clusters/{BEYOND_ANY_COLUMN}/referrals", "/path/cluster_id"),
        ("analyst", "GET", f"/v1/clusters/{BEYOND_ANY_COLUMN}/selectors", "/path/cluster_id"),
        ("analyst", "GET", f"/v1/clusters/{BEYOND_ANY_COLUMN}/export", "/path/cluster_id"),
        ("auditor", "GET", f"/v1/audit?after={BEYOND_ANY_COLUMN}", "/query/after"),
        ("admin", "DELETE", f"/v1/admin/tokens/{BEYOND_ANY_COLUMN}", "/path/token_id"),
        ("admin", "DELETE", "/v1/admin/tokens/34359738368", "/path/token_id"),
        ("analyst", "GET", f"/v1/triage?cursor={cursor(1, BEYOND_ANY_COLUMN)}", "/query/cursor"),
        ("analyst", "GET", f"/v1/triage?cursor={cursor(BEYOND_ANY_COLUMN, 1)}", "/query/cursor"),
        ("analyst", "GET", f"/v1/triage?cursor={cursor(1, 2**31)}", "/query/cursor"),
        ("analyst", "GET", "/v1/selectors?kind=phone&value=1&cursor=" + cursor("phone", "a\0"),
         "/query/cursor"),
    ],
)  # fmt: skip
def test_integers_beyond_the_columns_are_refused_naming_the_parameter(
    receiver: Receiver, role: str, method: str, path: str, pointer: str
) -> None:
    with receiver.http(role) as http:
        response = http.request(method, path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "request_invalid"
    assert [e["pointer"] for e in problem["errors"]] == [pointer]


def submitted(receiver: Receiver) -> str:
    receiver.register_asw(ASW)
    document = fresh_referral(asw_id=ASW)
    with receiver.client(ASW) as client:
        client.submit_referral(document)
    return str(document["referral_id"])


def test_nul_in_a_parameter_or_body_is_refused_with_its_pointer(receiver: Receiver) -> None:
    rid = submitted(receiver)
    jwk = receiver.keys[ASW].public_key.to_jwk()
    cases: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
        ("analyst", "GET", f"/v1/referrals/{rid}%00", None, "/path/referral_id"),
        ("analyst", "GET", f"/v1/referrals/{rid}?asw_id=a%00", None, "/query/asw_id"),
        ("analyst", "GET", "/v1/selectors?kind=phone&value=0770%00", None, "/query/value"),
        ("analyst", "GET", "/v1/triage?region=Lon%00don", None, "/query/region"),
        ("analyst", "POST", f"/v1/referrals/{rid}/transitions",
         {"to_state": "triaged", "reason": "a\0b"}, "/reason"),
        ("analyst", "POST", f"/v1/referrals/{rid}/transitions",
         {"to_state": "triaged\0", "reason": "ok"}, "/to_state"),
        ("supervisor", "POST", f"/v1/referrals/{rid}/outcomes",
         {"outcome": "no_further_action\0", "reason": "ok"}, "/outcome"),
        ("analyst", "POST", f"/v1/referrals/{rid}/feedback", {"message": "thanks\0"}, "/message"),
        ("analyst", "POST", f"/v1/referrals/{rid}/information-requests",
         {"question": "who?\0"}, "/question"),
        ("supervisor", "POST", f"/v1/referrals/{rid}/assignment",
         {"assignee": "a\0", "reason": "ok"}, "/assignee"),
        ("supervisor", "POST", "/v1/selectors/linking-allowed",
         {"kind": "phone", "value": "07700 900\0", "reason": "ok"}, "/value"),
        ("admin", "POST", "/v1/admin/tokens", {"name": "a\0", "role": "analyst"}, "/name"),
        ("admin", "POST", "/v1/admin/asws",
         {"asw_id": "other", "name": "Other\0", "public_key_jwk": jwk}, "/name"),
        ("admin", "POST", f"/v1/admin/asws/{ASW}/keys",
         {"public_key_jwk": {**jwk, "x": jwk["x"] + "\0"}}, "/public_key_jwk/x"),
        ("admin", "POST", "/v1/admin/selector-exclusions",
         {"kind": "phone", "value": "0\0", "reason": "ok"}, "/value"),
    ]  # fmt: skip
    for role, method, path, body, pointer in cases:
        with receiver.http(role) as http:
            response = http.request(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["code"] == "request_invalid"
        assert pointer in [e["pointer"] for e in problem["errors"]], (path, problem)
    with receiver.session() as session:
        row = session.scalars(sa.select(tables.Referral)).one()
        assert (row.state, row.assigned_to) == ("received", None)
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Feedback)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Token)) == 3


# --- an unavailable database is a 503 with Retry-After ----------------------------------------


def unreachable_database(receiver: Receiver, tmp_path: Path) -> sa.Engine:
    if receiver.app.state.engine.dialect.name == "sqlite":
        return sa.create_engine(f"sqlite:///{tmp_path / 'absent' / 'strive.db'}")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/strive",
        connect_args={"connect_timeout": 5},
    )


def signed_read_headers(receiver: Receiver, path: str) -> dict[str, str]:
    url = receiver.url + path
    return {"Strive-Asw-Id": ASW, **sign_request("GET", url, {}, b"", receiver.keys[ASW])}


def test_with_the_database_down_every_route_answers_503_with_retry_after(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.register_asw(ASW)
    tokens = {role: receiver.token(role) for role in ("analyst", "auditor", "admin")}
    payload = build_submission(
        fresh_referral(asw_id=ASW), asw_id=ASW, audience=RECEIVER_ID,
        issued_at=datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [receiver.keys[ASW]]).to_json()
    working = receiver.app.state.sessions
    broken = unreachable_database(receiver, tmp_path)
    receiver.app.state.sessions = make_sessionmaker(broken)
    try:
        with httpx.Client(base_url=receiver.url, timeout=30) as http:
            envelope_type = {"Content-Type": "application/vnd.dsse.envelope.v1+json"}
            responses = [
                http.post("/v1/referrals", content=envelope,
                          headers={**envelope_type, "Strive-Asw-Id": ASW}),
                http.post("/v1/referrals/batch", content=envelope + b"\n",
                          headers={"Content-Type": "application/x-ndjson", "Strive-Asw-Id": ASW}),
                http.get("/readyz"),
                http.get("/v1/triage", headers={"Authorization": f"Bearer {tokens['analyst']}"}),
                http.get("/v1/audit", headers={"Authorization": f"Bearer {tokens['auditor']}"}),
                http.post("/v1/admin/tokens", json={"name": "n", "role": "analyst"},
                          headers={"Authorization": f"Bearer {tokens['admin']}"}),
                http.get("/v1/information-requests",
                         headers=signed_read_headers(receiver, "/v1/information-requests")),
            ]  # fmt: skip
    finally:
        receiver.app.state.sessions = working
        broken.dispose()
    for response in responses:
        assert response.status_code == 503, (response.request.url, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "service_unavailable"
        assert int(response.headers["retry-after"]) > 0
    with httpx.Client(base_url=receiver.url, timeout=30) as http:
        assert http.get("/readyz").status_code == 200


# --- failures are observable --------------------------------------------------------------------


def test_a_request_that_fails_is_counted_and_logged_by_its_route(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault injected by the test")

    monkeypatch.setattr("strive_server.api.routes.accountability.compute_statistics", broken)
    caplog.set_level(logging.INFO, logger="strive.server.http")
    with receiver.http("auditor") as http:
        failed = http.get("/v1/stats", params={"secret": "07700900123"})
        metrics = http.get("/metrics").text
    assert failed.status_code == 500 and failed.json()["code"] == "internal_error"
    assert 'strive_http_requests_total{method="GET",route="/v1/stats",status="500"} 1.0' in metrics
    logged = [r for r in caplog.records if getattr(r, "event", None) == "http_request"]
    assert [(r.route, r.status) for r in logged if r.route == "/v1/stats"] == [  # type: ignore[attr-defined]
        ("/v1/stats", 500)
    ]
    assert "07700900123" not in caplog.text


def test_a_failure_while_authorising_before_the_body_is_a_500_not_a_400(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = receiver.token("admin")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault injected by the test")

    monkeypatch.setattr("strive_server.api.deps.bearer_user", broken)
    with httpx.Client(base_url=receiver.url, timeout=30) as http:
        response = http.post(
            "/v1/admin/tokens", json={"name": "n", "role": "auditor"},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
    assert (response.status_code, response.json()["code"]) == (500, "internal_error")


def test_the_guards_refusals_are_counted_by_route(receiver: Receiver) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(10**9)}
    exchange(receiver, head("POST", "/v1/admin/tokens", headers) + b"{")
    with receiver.http("auditor") as http:
        metrics = http.get("/metrics").text
    expected = 'strive_http_requests_total{method="POST",route="/v1/admin/tokens",status="401"}'
    assert expected in metrics


# --- header fields sent on several lines are combined (RFC 9110 section 5.3) --------------------


def test_signature_fields_on_several_lines_are_combined(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    path = "/v1/information-requests"
    signed = sign_request("GET", receiver.url + path, {}, b"", receiver.keys[ASW])
    # Another party's signature on the first lines, the ASW's on the second (as a proxy that
    # signs too may send them): the receiver must read both lines.
    foreign_input = 'proxy=("@method");created=1700000000;keyid="proxy";tag="proxy-app"'
    foreign_signature = f"proxy=:{base64.b64encode(bytes(64)).decode()}:"
    headers = [
        ("Strive-Asw-Id", ASW),
        ("Content-Digest", signed["Content-Digest"]),
        ("Signature-Input", foreign_input),
        ("Signature-Input", signed["Signature-Input"]),
        ("Signature", foreign_signature),
        ("Signature", signed["Signature"]),
    ]
    with httpx.Client(base_url=receiver.url, timeout=30) as http:
        response = http.get(path, headers=headers)
    assert response.status_code == 200, response.text


def test_a_content_digest_on_several_lines_is_combined(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    path = "/v1/information-requests"
    url = receiver.url + path
    sha512 = f"sha-512=:{b64.std_encode(hashlib.sha512(b'').digest())}:"
    sha256 = f"sha-256=:{b64.std_encode(hashlib.sha256(b'').digest())}:"
    key = receiver.keys[ASW]
    inner = _signature_params(int(datetime.now(UTC).timestamp()), key.key_id, "n" * 22)
    # The signer covers the field's combined value, as RFC 9421 section 2.1 says.
    base = _base_from("GET", url, {"content-digest": f"{sha512}, {sha256}"}, inner)
    headers = [
        ("Strive-Asw-Id", ASW),
        ("Content-Digest", sha512),
        ("Content-Digest", sha256),
        ("Signature-Input", f"{LABEL}={structured_fields.serialize_inner_list(inner)}"),
        ("Signature", f"{LABEL}=:{b64.std_encode(key.sign(base))}:"),
    ]
    with httpx.Client(base_url=receiver.url, timeout=30) as http:
        response = http.get(path, headers=headers)
    assert response.status_code == 200, response.text


# --- what the HTTP server answers itself --------------------------------------------------------


def test_only_the_documented_responses_are_not_problem_documents(receiver: Receiver) -> None:
    # An unparseable request never reaches the application: uvicorn answers it, as
    # spec/api.md says. Everything the application answers is a problem document.
    garbage = exchange(receiver, b"NOT HTTP AT ALL\r\n\r\n")
    assert garbage.status == 400 and garbage.headers["content-type"].startswith("text/plain")
    assert garbage.closed
    api = (Path(__file__).resolve().parents[2] / "spec" / "api.md").read_text()
    assert garbage.body.decode() in api
    with httpx.Client(base_url=receiver.url, timeout=30) as http:
        for response in (
            http.get("/v1/nowhere"),
            http.put("/v1/triage"),
            http.get("/v1/triage"),
            http.get("/v1/triage", params={"limit": "many"}),
        ):
            assert response.headers["content-type"] == PROBLEM, response.request.url


def test_every_member_of_every_request_body_refuses_nul() -> None:
    # A new body field typed plain ``str`` would let U+0000 through to PostgreSQL.
    import strive_server.api.app  # noqa: F401  (every route module, so every body model)

    bodies, pending = [], list(schemas._Body.__subclasses__())
    while pending:
        model = pending.pop()
        bodies.append(model)
        pending += model.__subclasses__()
    assert len(bodies) >= 15
    for model in bodies:
        for name, field in model.model_fields.items():
            value: Any = {"k": "v\0"} if "dict" in str(field.annotation) else "v\0"
            with pytest.raises(pydantic.ValidationError) as refused:
                model.model_validate({name: value})
            assert any(e["loc"][0] == name for e in refused.value.errors()), (model, name)
