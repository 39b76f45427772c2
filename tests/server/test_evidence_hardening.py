"""Evidence files from the attacker's side, after review: a child's referral carries no file
but verified text, however the picture is disguised; a picture matching a child's referral is
refused wherever it arrives; an upload in flight never resurrects erased evidence."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import socket
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from PIL import Image

from strive_schema.httpsig import sign_request
from strive_server.api.routes.attachments import _check_store_record
from strive_server.core.config import Settings
from strive_server.db import tables
from strive_server.problems import Problem
from strive_server.services import retention
from strive_server.services.attachments import check_before_body
from strive_server.services.evidence_store import MAGIC, EncryptingWriter

from .conftest import Receiver
from .evidence_support import evidence_settings, live_referral, picture, stored_objects
from .test_evidence_files import assert_refused, attachment_rows, submit, upload


@pytest.fixture
def receiver_settings(receiver_settings: Settings, tmp_path: Path) -> Settings:
    return evidence_settings(receiver_settings, tmp_path, "filesystem", None)


def _encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(out, format=fmt)
    return out.getvalue()


def _disguises() -> dict[str, tuple[bytes, str]]:
    jpeg = _encoded("JPEG")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr(zipfile.ZipInfo("a.jpg", (2026, 1, 1, 0, 0, 0)), jpeg)  # repeatable
    plain_ppm = b"P3\n2 2\n255\n" + b"255 0 0 " * 4 + b"\n"
    return {
        "tga": (_encoded("TGA"), "application/octet-stream"),
        "ppm": (_encoded("PPM"), "application/octet-stream"),
        "pcx": (_encoded("PCX"), "application/octet-stream"),
        "zip": (zipped.getvalue(), "application/zip"),
        "junk": (b"\0" + jpeg, "application/octet-stream"),
        "jpeg-as-text": (jpeg, "text/plain"),
        "plain-ppm": (plain_ppm, "text/plain"),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "text/plain"),
        "b64": (base64.b64encode(jpeg * 3), "text/csv"),
        "nul": (b"name\0value\n", "text/plain"),
    }


def test_a_childs_referral_keeps_no_file_but_verified_text(receiver: Receiver) -> None:
    files = _disguises() | {"notes": (b"when,where\n2026-01-01,Leeds\n", "text/csv")}
    child = live_referral("asw-a", files)
    child["indicators"].append({"code": "suspected_under_18", "risk": "high"})
    child_id = submit(receiver, child)
    for name, (data, _) in _disguises().items():
        response = upload(receiver, "asw-a", child_id, name, data)
        assert response.status_code == 422, (name, response.text)
        assert response.json()["code"] == "child_image_refused", (name, response.text)
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []
    text = upload(receiver, "asw-a", child_id, "notes", files["notes"][0])
    assert text.status_code == 201, text.text


def test_a_picture_matching_a_childs_referral_is_refused_anywhere(receiver: Receiver) -> None:
    from .test_image_linking import pdq_of, reencoded, with_advert_hash

    photo = picture(21)
    child = with_advert_hash(live_referral("asw-a", {}), pdq_of(photo))
    child["indicators"].append({"code": "suspected_under_18", "risk": "high"})
    submit(receiver, child)
    copy = reencoded(photo)  # near, not exact: the perceptual hash still knows it
    adult_id = submit(receiver, live_referral("asw-b", {"photo": (copy, "image/jpeg")}))
    assert_refused(upload(receiver, "asw-b", adult_id, "photo", copy), 422, "child_image_refused")
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []


def test_an_upload_in_flight_does_not_resurrect_an_erased_referral(
    receiver: Receiver, tmp_path: Path
) -> None:
    photo = picture(22)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    sessions = receiver.app.state.sessions
    with sessions() as session:
        target = check_before_body(
            session, asw_id="asw-a", referral_id=referral_id, attachment_id="photo",
            signed_sha256=hashlib.sha256(photo).digest(), content_length=None,
            content_type=None, settings=receiver.settings,
        )  # fmt: skip
    # While the body streams, a supervisor erases the referral.
    receiver.app.state.settings = receiver.settings.model_copy(
        update={"retention_review_days": dict.fromkeys(retention.DEFAULT_REVIEW_DAYS, 0)}
    )
    with receiver.session() as session, session.begin():
        session.execute(sa.update(tables.Referral).where(
            tables.Referral.referral_id == referral_id).values(state="closed"))  # fmt: skip
    with receiver.http("supervisor") as http:
        erased = http.post(f"/v1/referrals/{referral_id}/erasure", json={"reason": "review done"})
    assert erased.status_code == 200, erased.text
    staged = tmp_path / "staged"
    with staged.open("wb") as out:  # as the route stages a body: encrypted as it arrives
        writer = EncryptingWriter(
            out, key=receiver.settings.evidence_key, sha256=target.declared.sha256
        )
        writer.write(photo)
        writer.finish()
    with pytest.raises(Problem) as refused:
        _check_store_record(staged, target, "k", receiver.settings, sessions)
    assert refused.value.status == 404
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []


def test_an_image_over_the_decoded_bytes_budget_is_refused_undecoded(receiver: Receiver) -> None:
    receiver.app.state.settings = receiver.settings.model_copy(
        update={"max_image_decoded_bytes": 1_000_000}
    )

    def png(mode: str) -> bytes:
        out = io.BytesIO()
        Image.new(mode, (600, 600)).save(out, format="PNG")
        return out.getvalue()

    rgba, grey = png("RGBA"), png("L")  # 1.44 MB and 360 KB decoded, a few KB each as files
    referral_id = submit(
        receiver, live_referral("asw-a", {"rgba": (rgba, "image/png"), "grey": (grey, "image/png")})
    )
    assert_refused(upload(receiver, "asw-a", referral_id, "rgba", rgba), 422, "image_too_large")
    assert attachment_rows(receiver) == 0
    assert stored_objects(receiver.settings) == []
    assert upload(receiver, "asw-a", referral_id, "grey", grey).status_code == 201


def test_a_file_read_needs_a_real_reason_in_a_header_never_the_query(receiver: Receiver) -> None:
    photo = picture(23)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    assert upload(receiver, "asw-a", referral_id, "photo", photo).status_code == 201
    path = f"/v1/referrals/{referral_id}/attachments/photo"
    with receiver.http("analyst") as http:
        for trivial in (".", "x", ". . . . . .", "1234567890", "ok ok"):
            refused = http.get(path, headers={"Strive-Reason": trivial})
            assert_refused(refused, 422, "reason_required")
        in_query = http.get(path, params={"reason": "checking the advert photo"})
        assert_refused(in_query, 422, "reason_required")
        read = http.get(path, headers={"Strive-Reason": "checking the advert photo"})
        assert read.status_code == 200 and read.content == photo
    with receiver.session() as session:
        reasons = session.scalars(
            sa.select(tables.AuditEvent.reason).where(tables.AuditEvent.action == "attachment.read")
        ).all()
    assert reasons == ["checking the advert photo"]


def test_the_evidence_key_lives_beside_the_database_and_is_never_silently_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    home = tmp_path / "receiver"
    settings = Settings(database_url=f"sqlite:///{home / 'strive.db'}")
    assert len(settings.evidence_key) == 32
    assert (home / ".strive" / "evidence.key").is_file()
    assert not (elsewhere / ".strive").exists()
    # The key is lost (or the path misconfigured) while the store holds objects: no new key.
    name = hashlib.sha256(b"object").hexdigest()
    (home / "strive-evidence" / name[:2] / name[2:4]).mkdir(parents=True)
    (home / "strive-evidence" / name[:2] / name[2:4] / name).write_bytes(b"STRIVE-EV")
    (home / ".strive" / "evidence.key").unlink()
    with pytest.raises(RuntimeError, match="holds objects"):
        _ = Settings(database_url=f"sqlite:///{home / 'strive.db'}").evidence_key
    assert not (home / ".strive" / "evidence.key").exists()


def test_s3_write_once_holds_when_two_writers_pass_the_existence_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strive_server.services.evidence_store import S3Store

    from .evidence_support import s3_environment, start_moto

    s3_environment(monkeypatch)
    moto = start_moto()
    endpoint = next(moto)
    try:
        settings = evidence_settings(Settings(), tmp_path, "s3", endpoint)
        store = S3Store(settings)
        name = hashlib.sha256(b"first").hexdigest()
        (tmp_path / "first").write_bytes(b"first writer")
        (tmp_path / "second").write_bytes(b"second writer")
        assert store.put(name, tmp_path / "first") is True
        # The race: the second writer checked before the first stored, and saw nothing.
        monkeypatch.setattr(store, "exists", lambda _name: False)
        assert store.put(name, tmp_path / "second") is False
        with store.open(name) as stored:
            assert stored.read() == b"first writer"
    finally:
        moto.close()


def test_no_plaintext_touches_the_disk_while_a_body_streams(receiver: Receiver) -> None:
    noise = Image.frombytes("RGB", (200, 200), random.Random(24).randbytes(200 * 200 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    photo = out.getvalue()  # about 120 KB: beyond any write buffer, below one segment
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    url = f"{receiver.url}/v1/referrals/{referral_id}/attachments/photo"
    headers = {"Content-Type": "application/octet-stream", "Strive-Asw-Id": "asw-a",
               "Content-Length": str(len(photo))}  # fmt: skip
    headers |= sign_request("PUT", url, headers, b"", receiver.keys["asw-a"],
                            body_sha256=hashlib.sha256(photo).digest())  # fmt: skip
    parts = urlsplit(url)
    half = photo[: len(photo) // 2]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        connection.sendall(head.encode() + half)
        staged: list[bytes] = []
        deadline = time.monotonic() + 5
        while not staged and time.monotonic() < deadline:
            time.sleep(0.3)
            incoming = receiver.settings.evidence_path / ".incoming"
            staged = [p.read_bytes() for p in incoming.glob("*")] if incoming.exists() else []
        connection.sendall(photo[len(half) :])
        answer = connection.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 201"), answer[:300]
    assert staged, "the body was staged somewhere else"
    for content in staged:  # the encrypted header (or nothing yet), never the picture
        assert content == b"" or content.startswith(MAGIC)
        assert half[:64] not in content and half[-64:] not in content


def test_a_stored_file_a_later_childs_referral_carries_is_never_served(receiver: Receiver) -> None:
    from .test_image_linking import pdq_of, reencoded, with_advert_hash

    photo = picture(25)
    adult_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    assert upload(receiver, "asw-a", adult_id, "photo", photo).status_code == 201
    child = with_advert_hash(live_referral("asw-b", {}), pdq_of(reencoded(photo)))
    child["indicators"].append({"code": "suspected_under_18", "risk": "high"})
    submit(receiver, child)
    path = f"/v1/referrals/{adult_id}/attachments/photo"
    for role in ("analyst", "supervisor"):
        with receiver.http(role) as http:
            refused = http.get(path, headers={"Strive-Reason": "checking the advert photo"})
            assert_refused(refused, 403, "attachment_quarantined")
            (listed,) = http.get(f"/v1/referrals/{adult_id}").json()["attachments"]
            assert listed["quarantined"] is True


def test_staging_left_by_a_crashed_process_is_swept(receiver: Receiver) -> None:
    import os

    from strive_server.services import attachments

    incoming = receiver.settings.evidence_path / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    old, recent = incoming / "upload-crashed", incoming / "upload-in-flight"
    old.write_bytes(b"left behind")
    recent.write_bytes(b"another worker's")
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    attachments._SWEPT.discard(incoming)
    photo = picture(26)
    referral_id = submit(receiver, live_referral("asw-a", {"photo": (photo, "image/png")}))
    assert upload(receiver, "asw-a", referral_id, "photo", photo).status_code == 201
    assert not old.exists() and recent.exists()
    recent.unlink()
