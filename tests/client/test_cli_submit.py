"""`strive submit`: receipts on stdout, problems on stderr, exit status, NDJSON with progress."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from strive_client._cli.main import cli
from strive_schema.receipts import verify_receipt

from ..server.conftest import Receiver
from .conftest import ASW_ID, RECEIVER_ID


@pytest.fixture
def key_file(tmp_path: Path, receiver: Receiver) -> Path:
    """The private key of an ASW registered on the running receiver."""
    path = tmp_path / "private_key.pem"
    path.write_bytes(receiver.register_asw(ASW_ID).to_pem())
    return path


def submit(receiver: Receiver, key_file: Path, *paths: Path) -> Any:
    args = [
        "submit",
        *map(str, paths),
        "--url",
        receiver.url,
        "--asw-id",
        ASW_ID,
        "--key",
        str(key_file),
    ]
    return CliRunner().invoke(cli, args)


def test_receipts_are_printed_one_json_object_per_line(
    tmp_path: Path, key_file: Path, receiver: Receiver, fresh: dict[str, Any]
) -> None:
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(fresh))
    result = submit(receiver, key_file, path)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["referral_id"] == fresh["referral_id"] and line["status"] == "accepted"
    assert line["receiver_id"] == RECEIVER_ID and len(line["envelope_sha256"]) == 64
    # The receipt envelope is printed as the exact text the receiver signed: it verifies.
    receipt = verify_receipt(
        line["receipt_envelope"].encode(), [receiver.settings.signing_key.public_key]
    )
    assert receipt.referral_id == fresh["referral_id"]
    again = submit(receiver, key_file, path)
    assert json.loads(again.stdout)["status"] == "replayed"


def test_ndjson_with_a_rejected_line_exits_1_with_the_problem_on_stderr(
    tmp_path: Path, key_file: Path, receiver: Receiver, fresh: dict[str, Any]
) -> None:
    good = [dict(fresh, referral_id=str(uuid.uuid4())) for _ in range(3)]
    bad = dict(fresh, referral_id=str(uuid.uuid4()))
    del bad["narrative"]
    path = tmp_path / "batch.ndjson"
    path.write_text("\n".join(json.dumps(d) for d in [good[0], bad, good[1], good[2]]) + "\n")
    result = submit(receiver, key_file, path)
    assert result.exit_code == 1
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == [1, 3, 4]
    assert '"pointer": "/narrative"' in result.stderr and "missing_field" in result.stderr
    assert "4 referral(s): 3 accepted, 1 rejected" in result.stderr
    # The local problem uses the catalogue's one spelling of the code.
    assert '"type": "urn:strive:problem:referral_invalid"' in result.stderr


def test_a_bad_key_file_is_a_usage_error(
    tmp_path: Path, receiver: Receiver, fresh: dict[str, Any]
) -> None:
    key = tmp_path / "not-a-key.pem"
    key.write_text("hello")
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(fresh))
    result = submit(receiver, key, path)
    assert result.exit_code == 2 and "cannot use the key" in result.output
