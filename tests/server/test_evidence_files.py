"""Evidence files (spec/evidence-files.md): uploads bound to the signed referral, every refusal
leaving nothing stored, encrypted content-addressed storage on the filesystem and on an
S3-compatible server (moto), audited reads, and the attacker's side."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.services.evidence_store import MAGIC

from .conftest import Receiver, fresh_referral
from .evidence_support import declare as declare_file
from .evidence_support import (
    evidence_settings,
    live_referral,
    picture,
    s3_environment,
    start_moto,
    stored_objects,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    yield from start_moto()


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The store kind, and for S3 the endpoint of the module's moto server."""
    if request.param == "s3":
        s3_environment(monkeypatch)
        url: str = request.getfixturevalue("moto_url")
        return url
    return None


@pytest.fixture
def receiver_settings(receiver_settings: Settings, tmp_path: Path, store: str | None) -> Settings:
    kind = "s3" if store else "filesystem"
    return evidence_settings(receiver_settings, tmp_path, kind, store).model_copy(
        update={"max_image_pixels": 1_000_000}
    )


def upload(
    receiver: Receiver,
    asw_id: str,
    referral_id: str,
    attachment_id: str,
    body: bytes,
    *,
    signed_sha256: bytes | None = None,
    key: SigningKey | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A signed PUT, as the SDK sends it, with ways to lie."""
    url = f"{receiver.url}/v1/referrals/{referral_id}/attachments/{attachment_id}"
    sent = {"Content-Type": "application/octet-stream", "Strive-Asw-Id": asw_id}
    sent |= headers or {}
    sha = signed_sha256 if signed_sha256 is not None else hashlib.sha256(body).digest()
    sent |= sign_request("PUT", url, sent, b"", key or receiver.keys[asw_id], body_sha256=sha)
    return httpx.put(url, content=body, headers=sent, timeout=30)


def submit(receiver: Receiver, document: dict[str, Any]) -> str:
    asw_id = document["reporter"]["organisation_id"]
    if asw_id not in receiver.keys:
        receiver.register_asw(asw_id)
    with receiver.client(asw_id) as client:
        client.submit_referral(document)
    return str(document["referral_id"])


def attachment_rows(receiver: Receiver) -> int:
    with receiver.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(
            tables.ReferralAttachment)) or 0)  # fmt: skip


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


def test_a_declared_file_is_verified_stored_encrypted_once_and_read_with_a_reason(
    receiver: Receiver, tmp_path: Path
) -> None:
    photo, pdf = picture(1), PDF
    document = live_referral(
        "asw-a", {"photo-1": (photo, "image/png"), "doc-1": (pdf, "application/pdf")}
    )
    referral_id = submit(receiver, document)
    (tmp_path / "photo.png").write_bytes(photo)
    (tmp_path / "doc.pdf").write_bytes(pdf)
    seen: list[tuple[str, int, int]] = []
    with receiver.client("asw-a") as client:
        first = client.upload_attachments(
            referral_id, {"photo-1": tmp_path / "photo.png"}, progress=lambda *a: seen.append(a)
        )
        again = client.upload_attachments(referral_id, {"photo-1": tmp_path / "photo.png"})
    assert [r.replayed for r in first + again] == [False, True]
    assert first[0].sha256 == again[0].sha256 == hashlib.sha256(photo).hexdigest()
    assert seen[-1] == ("photo-1", len(photo), len(photo))
    assert attachment_rows(receiver) == 1
    objects = [o for o in stored_objects(receiver.settings) if not o.startswith(".incoming")]
    assert len(objects) == 1 and objects[0].endswith(hashlib.sha256(photo).hexdigest())
    if receiver.settings.evidence_store == "filesystem":
        raw = (receiver.settings.evidence_dir / objects[0]).read_bytes()
        assert raw.startswith(MAGIC) and photo[:64] not in raw  # encrypted at rest

    with receiver.http("analyst") as http:
        view = http.get(f"/v1/referrals/{referral_id}").json()
        arrived = {a["attachment_id"]: a for a in view["attachments"]}
        assert arrived["photo-1"]["received"] is True and arrived["photo-1"]["pdq"]
        assert arrived["doc-1"]["received"] is False
        got = http.get(
            f"/v1/referrals/{referral_id}/attachments/photo-1",
            headers={"Strive-Reason": "checking the advert photo"},
        )
        assert got.status_code == 200, got.text
        assert got.content == photo
        assert got.headers["content-disposition"] == 'attachment; filename="photo-1"'
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"
        no_reason = http.get(f"/v1/referrals/{referral_id}/attachments/photo-1")
        assert_refused(no_reason, 422, "reason_required")
        missing = http.get(
            f"/v1/referrals/{referral_id}/attachments/doc-1",
            headers={"Strive-Reason": "checking the document"},
        )
        assert_refused(missing, 404, "attachment_not_received")
    with receiver.session() as session:
        reads = session.scalars(
            sa.select(tables.AuditEvent).where(tables.AuditEvent.action == "attachment.read")
        ).all()
        assert [r.reason for r in reads] == ["checking the advert photo"]


def test_every_refusal_has_its_code_and_leaves_nothing_stored(receiver: Receiver) -> None:
    photo = picture(2)
    bomb = io.BytesIO()
    Image.new("L", (1200, 1200)).save(bomb, format="PNG")  # 1.44 M pixels > 1 M allowed
    bomb_bytes = bomb.getvalue()
    huge = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(huge, format="PNG")  # 100 M pixels, a few KB
    broken = photo[: len(photo) // 2]  # a PNG cut in half, declared as it is
    big = b"\0" * (1024 * 1024 + 1)
    document = live_referral("asw-a", {
        "photo": (photo, "image/png"), "as-jpeg": (photo, "image/jpeg"),
        "bomb": (bomb_bytes, "image/png"), "huge": (huge.getvalue(), "image/png"),
        "broken": (broken, "image/png"),
    })  # fmt: skip
    referral_id = submit(receiver, document)
    receiver.register_asw("asw-b")
    sandbox = fresh_referral(asw_id="asw-a")
    declare_file(sandbox, "big", big, "application/octet-stream")
    sandbox_id = submit(receiver, sandbox)
    child = live_referral(
        "asw-a", {"photo": (photo, "image/png"), "disguised": (photo, "application/octet-stream")}
    )
    child["indicators"].append({"code": "suspected_under_18", "risk": "high"})
    child_id = submit(receiver, child)
    other = picture(3)
    cases = [
        (upload(receiver, "asw-a", referral_id, "nope", photo), 422, "attachment_not_declared"),
        (upload(receiver, "asw-a", referral_id, "photo", other),
         422, "attachment_digest_mismatch"),  # signed digest is not the declared one
        (upload(receiver, "asw-a", referral_id, "photo", photo[:-1] + b"\0",
                signed_sha256=hashlib.sha256(photo).digest()),
         422, "attachment_digest_mismatch"),  # the body is not what was signed and declared
        (upload(receiver, "asw-a", referral_id, "photo", photo + b"x",
                signed_sha256=hashlib.sha256(photo).digest()),
         422, "attachment_size_mismatch"),
        (upload(receiver, "asw-a", referral_id, "as-jpeg", photo), 422, "attachment_type_mismatch"),
        (upload(receiver, "asw-a", referral_id, "photo", photo, headers={"Content-Type": "text/plain"}),
         422, "attachment_type_mismatch"),
        (upload(receiver, "asw-a", referral_id, "bomb", bomb_bytes), 422, "image_too_large"),
        (upload(receiver, "asw-a", referral_id, "huge", huge.getvalue()), 422, "image_too_large"),
        (upload(receiver, "asw-a", referral_id, "broken", broken), 422, "attachment_type_mismatch"),
        (upload(receiver, "asw-b", referral_id, "photo", photo), 404, "not_found"),
        (upload(receiver, "asw-a", sandbox_id, "big", big), 422, "sandbox_limit_exceeded"),
        (upload(receiver, "asw-a", child_id, "photo", photo), 422, "child_image_refused"),
        (upload(receiver, "asw-a", child_id, "disguised", photo), 422, "child_image_refused"),
        (upload(receiver, "asw-a", referral_id, "photo", photo, key=SigningKey.generate()),
         401, "key_unknown"),
        (httpx.put(f"{receiver.url}/v1/referrals/{referral_id}/attachments/photo", content=photo),
         401, "authentication_required"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert_refused(response, status, code)
    assert attachment_rows(receiver) == 0
    assert [o for o in stored_objects(receiver.settings) if "upload-" not in o] == []
    assert all("upload-" not in o for o in stored_objects(receiver.settings))


def test_an_oversized_file_is_refused_unread(receiver: Receiver) -> None:
    receiver.app.state.settings = receiver.settings.model_copy(
        update={"max_attachment_bytes": 2048}
    )
    data = b"\1" * 4096
    referral_id = submit(
        receiver, live_referral("asw-a", {"f": (data, "application/octet-stream")})
    )
    assert_refused(upload(receiver, "asw-a", referral_id, "f", data), 413, "body_too_large")
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []


def test_a_truncated_upload_keeps_nothing_and_can_be_sent_again(receiver: Receiver) -> None:
    photo = picture(4)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    url = f"{receiver.url}/v1/referrals/{referral_id}/attachments/photo"
    headers = {"Content-Type": "application/octet-stream", "Strive-Asw-Id": "asw-a",
               "Content-Length": str(len(photo))}  # fmt: skip
    headers |= sign_request("PUT", url, headers, b"", receiver.keys["asw-a"],
                            body_sha256=hashlib.sha256(photo).digest())  # fmt: skip
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as connection:
        head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        connection.sendall(head.encode() + photo[: len(photo) // 2])
        time.sleep(0.3)
    time.sleep(0.5)
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []
    assert_refused(upload(receiver, "asw-a", referral_id, "photo", photo[:10],
                          signed_sha256=hashlib.sha256(photo).digest()),
                   422, "attachment_size_mismatch")  # fmt: skip
    response = upload(receiver, "asw-a", referral_id, "photo", photo)
    assert response.status_code == 201, response.text


def test_a_client_that_leaves_mid_file_gets_attachment_incomplete(receiver: Receiver) -> None:
    """The disconnect itself, driven at the ASGI interface (a client that has left reads no
    response, so a socket test cannot see it): the upload is answered 400
    ``attachment_incomplete`` and nothing is kept."""
    photo = picture(6)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    path = f"/v1/referrals/{referral_id}/attachments/photo"
    headers = {"Content-Type": "application/octet-stream", "Strive-Asw-Id": "asw-a",
               "Content-Length": str(len(photo))}  # fmt: skip
    headers |= sign_request("PUT", receiver.url + path, headers, b"", receiver.keys["asw-a"],
                            body_sha256=hashlib.sha256(photo).digest())  # fmt: skip
    parts = urlsplit(receiver.url)
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": photo[: len(photo) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": (parts.hostname, parts.port), "client": ("127.0.0.1", 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", parts.netloc.encode())],
    }  # fmt: skip
    asyncio.run(receiver.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 400, body
    assert json.loads(body)["code"] == "attachment_incomplete"
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []
    assert upload(receiver, "asw-a", referral_id, "photo", photo).status_code == 201


def test_only_content_roles_read_files(receiver: Receiver) -> None:
    photo = picture(5)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    assert upload(receiver, "asw-a", referral_id, "photo", photo).status_code == 201
    path = f"/v1/referrals/{referral_id}/attachments/photo"
    reason = {"Strive-Reason": "reviewing the advert"}
    for role in ("auditor", "admin"):
        with receiver.http(role) as http:
            assert_refused(http.get(path, headers=reason), 403, "forbidden")
    with receiver.http() as http:
        assert_refused(http.get(path, headers=reason), 401, "authentication_required")
        assert_refused(
            http.get(path, headers=reason | {"Authorization": "Bearer nope"}), 401, "token_invalid"
        )
    # An ASW's signature is not a way in either.
    signed = {"Strive-Asw-Id": "asw-a"} | sign_request(
        "GET", receiver.url + path, {}, b"", receiver.keys["asw-a"]
    )
    assert httpx.get(receiver.url + path, headers=signed).status_code == 401
    with receiver.http("supervisor") as http:
        assert http.get(path, headers=reason).content == photo


def test_the_console_shows_server_blurred_thumbnails_and_downloads_only_with_a_reason(
    receiver: Receiver,
) -> None:
    from .test_console_pages import browser, csrf_of, sign_in

    photo = picture(6)
    document = live_referral(
        "asw-a", {"photo": (photo, "image/png"), "doc": (PDF, "application/pdf")}
    )
    referral_id = submit(receiver, document)
    assert upload(receiver, "asw-a", referral_id, "photo", photo).status_code == 201
    base = f"/console/referrals/{referral_id}/attachments/photo"
    with browser(receiver) as client:
        assert sign_in(client, receiver.token("analyst")).status_code == 303
        page = client.get(f"/console/referrals/{referral_id}")
        assert page.status_code == 200
        table = page.text.split('id="attachments"')[1].split("</table>")[0]
        assert "received" in table and "not yet sent" in table
        assert f'src="{base}/thumbnail"' in table and "?view=" not in table
        thumb = client.get(f"{base}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
        assert thumb.content != photo
        with Image.open(io.BytesIO(thumb.content)) as small:
            assert max(small.size) <= 96  # downscaled on the server, never the original
        assert thumb.headers["content-security-policy"] == "sandbox; default-src 'none'"
        assert thumb.headers["x-content-type-options"] == "nosniff"
        # The original only by a form: the CSRF token and a typed reason.
        assert client.get(base).status_code in (404, 405)
        token = csrf_of(page)
        no_token = client.post(base, data={"reason": "checking the advert photo"})
        assert no_token.status_code == 403, no_token.text
        trivial = client.post(base, data={"reason": ".", "csrf_token": token})
        assert trivial.status_code == 422, trivial.text[:200]
        got = client.post(base, data={"reason": "checking the advert photo", "csrf_token": token})
        assert got.status_code == 200 and got.content == photo
        assert got.headers["content-disposition"] == 'attachment; filename="photo"'
    with receiver.session() as session:
        events = session.execute(
            sa.select(tables.AuditEvent.action, tables.AuditEvent.reason)
            .where(tables.AuditEvent.action.like("attachment.%"))
            .where(tables.AuditEvent.action != "attachment.received")
            .order_by(tables.AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("attachment.thumbnail", "console referral page: blurred thumbnail"),
        ("attachment.read", "checking the advert photo"),
    ]


def test_erasure_removes_the_files_only_that_referral_holds(receiver: Receiver) -> None:

    from strive_server.services import retention

    photo, shared = picture(9), picture(10)
    first = submit(receiver, live_referral("asw-a", {"p": (photo, "image/png"),
                                                     "s": (shared, "image/png")}))  # fmt: skip
    second = submit(receiver, live_referral("asw-b", {"s": (shared, "image/png")}))
    for asw, referral_id, name, data in (("asw-a", first, "p", photo),
                                         ("asw-a", first, "s", shared),
                                         ("asw-b", second, "s", shared)):  # fmt: skip
        assert upload(receiver, asw, referral_id, name, data).status_code == 201
    receiver.app.state.settings = receiver.settings.model_copy(
        update={"retention_review_days": dict.fromkeys(retention.DEFAULT_REVIEW_DAYS, 0)}
    )
    with receiver.session() as session, session.begin():
        session.execute(sa.update(tables.Referral).where(
            tables.Referral.referral_id == first).values(state="closed"))  # fmt: skip
    with receiver.http("supervisor") as http:
        erased = http.post(f"/v1/referrals/{first}/erasure", json={"reason": "review passed"})
    assert erased.status_code == 200, erased.text
    held = [o for o in stored_objects(receiver.settings) if not o.startswith(".incoming")]
    assert [o.rsplit("/", 1)[-1] for o in held] == [hashlib.sha256(shared).hexdigest()]
    with receiver.session() as session:
        rows = session.scalars(sa.select(tables.ReferralAttachment.referral_pk)).all()
        chunks = session.scalars(sa.select(tables.PdqChunk.referral_pk).distinct()).all()
    assert len(rows) == 1 and len(chunks) == 1


def test_an_upload_has_its_own_time_limit(receiver: Receiver) -> None:
    receiver.app.state.settings = receiver.settings.model_copy(
        update={"attachment_read_timeout_seconds": 1.0, "body_read_timeout_seconds": 60.0}
    )
    photo = picture(12)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    url = f"{receiver.url}/v1/referrals/{referral_id}/attachments/photo"
    headers = {"Content-Type": "application/octet-stream", "Strive-Asw-Id": "asw-a",
               "Content-Length": str(len(photo))}  # fmt: skip
    headers |= sign_request("PUT", url, headers, b"", receiver.keys["asw-a"],
                            body_sha256=hashlib.sha256(photo).digest())  # fmt: skip
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        connection.sendall(head.encode() + photo[:100])  # then nothing: a slow drip
        received = b""
        while chunk := connection.recv(65536):  # the server closes after answering
            received += chunk
    answer = received.decode("latin-1")
    assert answer.startswith("HTTP/1.1 408"), answer[:200]
    assert "request_timeout" in answer
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []
