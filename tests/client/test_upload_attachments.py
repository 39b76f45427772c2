"""``client.upload_attachments`` (sync and async) and ``strive submit --attachments``: files
streamed in signed requests, retried safely, progress reported (spec/evidence-files.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from strive_client import APIError
from strive_client._cli.main import cli
from strive_schema.codes import ProblemCode
from strive_server.core.config import Settings

from ..server.conftest import Receiver
from ..server.evidence_support import declare, evidence_settings, picture
from .conftest import ASW_ID, Clients, problem_response


@pytest.fixture
def receiver_settings(receiver_settings: Settings, tmp_path: Path) -> Settings:
    return evidence_settings(receiver_settings, tmp_path, "filesystem", None)


def test_files_upload_once_and_retries_are_safe(
    clients: Clients, fresh: dict[str, Any], tmp_path: Path
) -> None:
    photo = picture(40)
    declare(fresh, "photo-1", photo, "image/png")
    (tmp_path / "photo-1.png").write_bytes(photo)
    interposer = clients.interposer()
    client = clients(ASW_ID, interposer=interposer)
    result = client.submit_referral(fresh)
    interposer.scripted = [problem_response(503, ProblemCode.SERVICE_UNAVAILABLE, "busy")]
    seen: list[tuple[str, int, int]] = []
    (first,) = client.upload_attachments(
        result, {"photo-1": tmp_path / "photo-1.png"}, progress=lambda *a: seen.append(a)
    )
    assert not first.replayed and first.sha256 == hashlib.sha256(photo).hexdigest()
    puts = [r for r in interposer.requests if r.method == "PUT"]
    assert len(puts) == 2  # the 503, then the retry, signed afresh
    assert puts[0].headers["signature"] != puts[1].headers["signature"]
    assert seen[-1] == ("photo-1", len(photo), len(photo))
    (again,) = client.upload_attachments(result.receipt, {"photo-1": tmp_path / "photo-1.png"})
    assert again.replayed and again.received_at == first.received_at
    status = client.get_referral_status(result.receipt.referral_id)
    assert status.attachments_received == ["photo-1"]


def test_a_refusal_raises_its_problem(
    clients: Clients, fresh: dict[str, Any], tmp_path: Path
) -> None:
    declare(fresh, "photo-1", picture(41), "image/png")
    (tmp_path / "other.png").write_bytes(picture(42))
    client = clients(ASW_ID)
    result = client.submit_referral(fresh)
    with pytest.raises(APIError) as raised:
        client.upload_attachments(result, {"photo-1": tmp_path / "other.png"})
    assert raised.value.code == "attachment_digest_mismatch"


def test_strive_submit_uploads_the_files_a_referral_names(
    receiver: Receiver, fresh: dict[str, Any], tmp_path: Path
) -> None:
    key_file = tmp_path / "private_key.pem"
    key_file.write_bytes(receiver.register_asw(ASW_ID).to_pem())
    photo, notes = picture(43), b"chat log\n" * 100
    declare(fresh, "photo-1", photo, "image/png")
    declare(fresh, "notes", notes, "text/plain")
    files = tmp_path / "files"
    files.mkdir()
    (files / "photo-1.png").write_bytes(photo)
    (files / "notes").write_bytes(notes)
    referral = tmp_path / "referral.json"
    referral.write_text(json.dumps(fresh))
    args = ["submit", str(referral), "--url", receiver.url, "--asw-id", ASW_ID,
            "--key", str(key_file), "--attachments", str(files)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == [
        "accepted", "attachment_uploaded", "attachment_uploaded",
    ]  # fmt: skip
    assert lines[1]["attachment_id"] == "photo-1" and lines[1]["path"].endswith("photo-1.png")
    again = CliRunner().invoke(cli, args)
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == [
        "replayed", "attachment_replayed", "attachment_replayed",
    ]  # fmt: skip
    (files / "notes").unlink()
    missing = CliRunner().invoke(cli, args)
    assert missing.exit_code == 1
    assert "attachment_file_missing" in missing.stderr
