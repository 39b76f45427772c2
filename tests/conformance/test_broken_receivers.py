"""The receiver suite can fail: the real receiver, wrapped in a small ASGI middleware that
breaks one requirement, is named for exactly that requirement.

Each middleware breaks what a careless implementation might: it signs receipts with a key
it does not publish, accepts a stale envelope, answers a conflict with 200, answers errors
with a body that is not a problem document, names the wrong leaf in a log lookup, signs the
inclusion promise with another key, shows entry bundles or takes cosignatures from anyone,
stores a file whatever its digest, or serves a file for the browser to show. Everything else
is the reference server (with its log sequencer running, as ``strive serve`` runs it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from strive_client.conformance import run_receiver_suite
from strive_client.conformance._session import SANDBOX_NARRATIVE
from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    parse_envelope,
    parse_submission,
    sign_envelope,
)
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.note import NoteSigner, parse_note, sign_note
from strive_schema.receipts import RECEIPT_PAYLOAD_TYPE
from strive_server.api.app import create_app
from strive_server.core.config import Settings
from strive_server.services.tlog import SequencerThread
from tests.server.conftest import RECEIVER_ID, Receiver, run_server

from ..conftest import STRIVE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Rewrite = Callable[[Scope, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
ASW = "conformance-asw"


def rewriting(app: App, rewrite: Rewrite) -> App:
    """Wrap ``app`` so that ``rewrite`` sees (and may change) each whole response."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
            status, headers, body = rewrite(scope, start["status"], headers, b"".join(chunks))
            headers["content-length"] = str(len(body))
            raw = [(k.encode(), v.encode()) for k, v in headers.items()]
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    return wrapped


def _is_submission(scope: Scope) -> bool:
    return bool(scope["method"] == "POST" and scope["path"] == "/v1/referrals")


def wrong_receipt_key(app: App) -> App:
    """Signs every receipt again with a key the discovery document does not publish."""
    stranger = SigningKey.generate()

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if _is_submission(scope) and status in (200, 201):
            answer = json.loads(body)
            payload = parse_envelope(answer["receipt_envelope"].encode()).payload
            forged = sign_envelope(payload, RECEIPT_PAYLOAD_TYPE, [stranger]).to_json()
            answer["receipt_envelope"] = forged.decode()
            body = json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def conflict_as_200(app: App) -> App:
    """Answers a referral conflict with 200, as if the new content had been taken."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if _is_submission(scope) and status == 409:
            return 200, {**headers, "content-type": "application/json"}, body
        return status, headers, body

    return rewriting(app, rewrite)


def plain_errors(app: App) -> App:
    """Answers every error with an ad hoc JSON body instead of a problem document."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if status >= 400:
            code = json.loads(body).get("code", "error")
            body = json.dumps({"error": {"reason": code}}).encode()
            return status, {**headers, "content-type": "application/json"}, body
        return status, headers, body

    return rewriting(app, rewrite)


def accepts_stale(key: SigningKey) -> Callable[[App], App]:
    """Lets a stale envelope through: re-signs it (with the ASW's own key, which this test
    holds) as if it had been issued now, as a receiver that skipped the freshness check
    would behave."""

    def middleware(app: App) -> App:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not _is_submission(scope):
                await app(scope, receive, send)
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            body = _freshen(body, key)
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        return wrapped

    return middleware


def receipt_shows_content(app: App) -> App:
    """Shows the referral's narrative beside the receipt (not in the signed payload)."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if _is_submission(scope) and status == 201:
            answer = json.loads(body)
            answer["receipt"]["narrative"] = SANDBOX_NARRATIVE
            body = json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def ignores_nonces(key: SigningKey) -> Callable[[App], App]:
    """Lets a replayed signed request through, as a receiver that does not record nonces
    would: a nonce seen before is replaced by a fresh one, re-signed with the ASW's key (which
    this test holds)."""
    seen: set[str] = set()

    def middleware(app: App) -> App:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            headers = dict(scope.get("headers", []))
            signature_input = headers.get(b"signature-input", b"").decode()
            match = re.search(r'nonce="([^"]+)"', signature_input)
            if scope["type"] == "http" and match:
                created = int(re.findall(r"created=(\d+)", signature_input)[0])
                if match.group(1) in seen:
                    query = scope["query_string"].decode()
                    url = f"http://{headers[b'host'].decode()}{scope['path']}"
                    url += f"?{query}" if query else ""
                    fresh = sign_request(
                        scope["method"], url, {}, b"", key,
                        created=datetime.fromtimestamp(created, UTC),
                    )  # fmt: skip
                    replaced = {k.lower().encode(): v.encode() for k, v in fresh.items()}
                    scope = dict(scope)
                    scope["headers"] = [
                        (k, replaced.get(k, v)) for k, v in scope["headers"]
                    ]  # fmt: skip
                seen.add(match.group(1))
            await app(scope, receive, send)

        return wrapped

    return middleware


def wrong_leaf_index(app: App) -> App:
    """Names the next leaf in answer to a lookup, so the receipt's inclusion proof fails."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"].startswith("/v1/log/lookup/") and status == 200:
            answer = json.loads(body)
            answer["leaf_index"] = (answer["leaf_index"] + 1) % answer["tree_size"]
            body = json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def promise_by_another_key(app: App) -> App:
    """Signs the inclusion promise with a key of the log's name that is not the log's."""
    stranger: list[NoteSigner] = []

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if _is_submission(scope) and status in (200, 201):
            answer = json.loads(body)
            note = parse_note(answer["log_promise"])
            if not stranger:
                stranger.append(NoteSigner.generate(note.signatures[0].name))
            answer["log_promise"] = sign_note(note.text, stranger)
            body = json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def bundles_for_everyone(app: App) -> App:
    """Serves entry bundles to an ASW (answers its 403 with the bundle's bytes)."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"].startswith("/v1/log/tile/entries/") and status == 403:
            return 200, {**headers, "content-type": "application/octet-stream"}, b""
        return status, headers, body

    return rewriting(app, rewrite)


def cosignatures_from_anyone(app: App) -> App:
    """Acknowledges any cosignature, signed by a configured witness or not."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"] == "/v1/log/cosignature" and status == 401:
            return 200, {**headers, "content-type": "application/json"}, b'{"accepted": []}'
        return status, headers, body

    return rewriting(app, rewrite)


def attachment_digest_unchecked(app: App) -> App:
    """Answers a file whose digest is not the declared one with 201, as if stored."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["method"] == "PUT" and b"attachment_digest_mismatch" in body:
            return 201, {**headers, "content-type": "application/json"}, b'{"replayed": false}'
        return status, headers, body

    return rewriting(app, rewrite)


def uploads_not_idempotent(app: App) -> App:
    """Answers a second upload of a received file with 409 instead of the first answer."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["method"] == "PUT" and status == 200:
            problem = {"type": "urn:strive:problem:conflict", "title": "Conflict", "status": 409,
                       "code": "conflict"}  # fmt: skip
            return (
                409,
                {**headers, "content-type": "application/problem+json"},
                json.dumps(problem).encode(),
            )
        return status, headers, body

    return rewriting(app, rewrite)


def files_shown_inline(app: App) -> App:
    """Serves an evidence file for the browser to show (no Content-Disposition: attachment,
    no sandbox), as a careless download route would."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["method"] == "GET" and "/attachments/" in scope["path"] and status == 200:
            headers = {k: v for k, v in headers.items()
                       if k not in ("content-disposition", "content-security-policy")}  # fmt: skip
        return status, headers, body

    return rewriting(app, rewrite)


def accepts_refused(
    method: str, path_part: str, code: str, status: int, answer: bytes
) -> Callable[[App], App]:
    """A factory of middlewares that answer the refusal ``code`` on ``method`` requests whose
    path holds ``path_part`` with ``status`` and ``answer``, as a receiver missing that check
    would."""

    def middleware(app: App) -> App:
        def rewrite(scope: Scope, got: int, headers: dict[str, str], body: bytes) -> Any:
            refused = scope["method"] == method and path_part in scope["path"] and got >= 400
            if refused and json.loads(body).get("code") == code:
                return status, {**headers, "content-type": "application/json"}, answer
            return got, headers, body

        return rewriting(app, rewrite)

    return middleware


def upload_answer_without_digest(app: App) -> App:
    """Leaves the digest out of an upload's answer."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["method"] == "PUT" and status == 201:
            answer = json.loads(body)
            answer.pop("sha256", None)
            body = json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def refused_upload_kept(app: App) -> App:
    """Answers the first good upload of a file refused before as a replay, as a receiver that
    kept a refused upload would."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        second = scope["method"] == "PUT" and scope["path"].endswith("/conformance-refused")
        if second and status == 201:
            answer = json.loads(body)
            answer["replayed"] = True
            return 200, headers, json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def altered_bundles(app: App) -> App:
    """Serves entry bundles with one entry changed."""

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"].startswith("/v1/log/tile/entries/") and status == 200:
            body = body[:-1] + bytes([body[-1] ^ 1])
        return status, headers, body

    return rewriting(app, rewrite)


def forked_log(app: Any) -> App:
    """Signs, after the first checkpoint it serves, checkpoints of another tree with the
    log's own key: a split view."""
    signer = app.state.settings.log_signer
    served: list[int] = []

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"] == "/v1/log/checkpoint" and status == 200:
            served.append(1)
            if len(served) > 1:
                origin, size, root = parse_note(body.decode()).text.split("\n")[:3]
                other = base64.b64encode(hashlib.sha256(root.encode()).digest()).decode()
                body = sign_note(f"{origin}\n{size}\n{other}\n", [signer]).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def retired_receipt_key(app: App) -> App:
    """Publishes its current receipt key as retired an hour ago, and signs with it anyway."""
    retired = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def rewrite(scope: Scope, status: int, headers: dict[str, str], body: bytes) -> Any:
        if scope["path"] == "/.well-known/strive-configuration" and status == 200:
            answer = json.loads(body)
            answer["jwks"]["keys"][0]["retired_at"] = retired
            body = json.dumps(answer).encode()
        return status, headers, body

    return rewriting(app, rewrite)


def _freshen(body: bytes, key: SigningKey) -> bytes:
    try:
        envelope = parse_envelope(body)
        submission = parse_submission(envelope.payload)
    except (ValueError, TypeError):
        return body
    now = datetime.now(UTC)
    if envelope.payload_type != SUBMISSION_PAYLOAD_TYPE or submission.issued_at > now - timedelta(
        seconds=900
    ):
        return body
    payload = build_submission(
        submission.referral, asw_id=submission.asw_id, audience=submission.audience,
        issued_at=now,
    )  # fmt: skip
    return sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'strive.db'}",
        receiver_id=RECEIVER_ID,
        signing_key_file=tmp_path / "receiver_key.pem",
        audit_key_file=tmp_path / "audit_hmac.key",
        rate_limit_per_minute=1000,
        refused_submission_limit_per_minute=1000,
        signed_read_limit_per_minute=1000,
    )


def broken_receiver(
    tmp_path: Path, breakage: Callable[[SigningKey], Callable[[App], App]]
) -> Iterator[tuple[Receiver, SigningKey]]:
    app = create_app(_settings(tmp_path), migrate_database=True)
    sequencer = SequencerThread(app.state.engine, app.state.settings.log_signer, interval=0.2)
    sequencer.start()
    try:
        receiver = Receiver("", app.state.settings, app)
        key = receiver.register_asw(ASW)
        for url in run_server(breakage(key)(app)):
            receiver.url = url
            yield receiver, key
    finally:
        sequencer.stop()
        sequencer.join(timeout=5)
        app.state.engine.dispose()


BREAKAGES: dict[str, tuple[Callable[[SigningKey], Callable[[App], App]], set[str]]] = {
    "receipts signed with a key not published": (
        lambda _key: wrong_receipt_key, {"R-RECEIPT-01", "R-RECEIPT-02"},
    ),
    "a stale envelope accepted": (accepts_stale, {"R-SUBMIT-12", "R-SUBMIT-18"}),
    "a conflict answered with 200": (lambda _key: conflict_as_200, {"R-REPLAY-03"}),
    "referral content beside the receipt": (
        lambda _key: receipt_shows_content, {"R-RECEIPT-03", "R-RECEIPT-04"},
    ),
    "nonces not recorded": (ignores_nonces, {"R-READ-05"}),
    "receipts signed with a retired key": (lambda _key: retired_receipt_key, {"R-DISC-06"}),
    "errors without a problem document": (
        lambda _key: plain_errors, {"R-PROB-01", "R-SUBMIT-02", "R-READ-03", "R-PROB-03"},
    ),
    "a lookup naming another leaf": (lambda _key: wrong_leaf_index, {"R-LOG-05"}),
    "an inclusion promise signed by another key": (
        lambda _key: promise_by_another_key, {"R-LOG-06", "R-LOG-07"},
    ),
    "entry bundles served to an ASW": (lambda _key: bundles_for_everyone, {"R-LOG-09"}),
    "cosignatures taken from anyone": (
        lambda _key: cosignatures_from_anyone, {"R-LOG-11", "R-LOG-12"},
    ),
    "a file's digest not checked": (
        lambda _key: attachment_digest_unchecked, {"R-ATTACH-05", "R-ATTACH-06"},
    ),
    "uploads not idempotent": (lambda _key: uploads_not_idempotent, {"R-ATTACH-02"}),
    "files served inline": (lambda _key: files_shown_inline, {"R-ATTACH-12"}),
    "an unknown leaf looked up": (
        lambda _key: accepts_refused("GET", "/v1/log/lookup/", "log_entry_unknown", 200,
                                     b'{"leaf_index": 0, "tree_size": 1}'),
        {"R-LOG-04"},
    ),
    "a log that forks": (lambda _key: forked_log, {"R-LOG-08"}),
    "entry bundles altered": (lambda _key: altered_bundles, {"R-LOG-10"}),
    "an upload answer without its digest": (
        lambda _key: upload_answer_without_digest, {"R-ATTACH-01"},
    ),
    "an unsigned upload accepted": (
        lambda _key: accepts_refused("PUT", "/attachments/", "request_signature_missing", 201,
                                     b'{"replayed": false}'),
        {"R-ATTACH-03"},
    ),
    "an undeclared file accepted": (
        lambda _key: accepts_refused("PUT", "/attachments/", "attachment_not_declared", 201,
                                     b'{"replayed": false}'),
        {"R-ATTACH-04"},
    ),
    "a file of another type accepted": (
        lambda _key: accepts_refused("PUT", "/attachments/", "attachment_type_mismatch", 201,
                                     b'{"replayed": false}'),
        {"R-ATTACH-07"},
    ),
    "a refused upload kept": (lambda _key: refused_upload_kept, {"R-ATTACH-08"}),
    "a file uploaded to any referral": (
        lambda _key: accepts_refused("PUT", "/attachments/", "not_found", 201,
                                     b'{"replayed": false}'),
        {"R-ATTACH-09"},
    ),
    "a file read with an ASW's signature": (
        lambda _key: accepts_refused("GET", "/attachments/", "authentication_required", 200,
                                     b"the file"),
        {"R-ATTACH-10"},
    ),
    "a file read without a reason": (
        lambda _key: accepts_refused("GET", "/attachments/", "reason_required", 200, b"the file"),
        {"R-ATTACH-11"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_the_suite_names_each_broken_requirement(name: str, tmp_path: Path) -> None:
    breakage, expected = BREAKAGES[name]
    for receiver, key in broken_receiver(tmp_path, breakage):
        analyst = receiver.token("analyst")
        report = run_receiver_suite(receiver.url, asw_id=ASW, key=key, analyst_token=analyst)
        assert not report.conformant, name
        failed = report.failed_ids()
        assert failed >= expected, (name, report.table())
        for check_id in expected:
            assert report.result(check_id).level == "MUST"


def test_the_command_exits_1_and_writes_the_report(tmp_path: Path) -> None:
    for receiver, key in broken_receiver(tmp_path, lambda _key: conflict_as_200):
        key_file = tmp_path / "private_key.pem"
        key_file.write_bytes(key.to_pem())
        key_file.chmod(0o600)
        report_file = tmp_path / "report.json"
        result = subprocess.run(
            [STRIVE, "conformance", "receiver", "--url", receiver.url, "--asw-id", ASW,
             "--key", str(key_file), "--report", str(report_file)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        assert "R-REPLAY-03" in result.stdout and "NOT conformant" in result.stdout
        report = json.loads(report_file.read_text())
        assert report["conformant"] is False
        row = next(r for r in report["results"] if r["id"] == "R-REPLAY-03")
        assert row["status"] == "fail" and row["spec"].startswith("spec/protocol.md#11")
