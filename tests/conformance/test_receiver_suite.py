"""The receiver suite passes against the reference receiver (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from strive_client.conformance import receiver_checks, run_receiver_suite
from strive_schema.keys import SigningKey
from tests.server.conftest import Receiver

from ..conftest import STRIVE


def test_reference_receiver_passes(receiver: Receiver) -> None:
    key = receiver.register_asw("conformance-asw")
    report = run_receiver_suite(
        receiver.url, asw_id="conformance-asw", key=key, analyst_token=receiver.token("analyst")
    )
    print(report.table())
    assert report.conformant, report.table()
    skipped = [r.id for r in report.results if r.status == "skip"]
    assert not skipped, report.table()  # the log and the files are tested, not skipped


def test_the_command_passes_against_the_reference_receiver(
    receiver: Receiver, tmp_path: Path
) -> None:
    key = receiver.register_asw("conformance-asw")
    key_file = tmp_path / "private_key.pem"
    key_file.write_bytes(key.to_pem(b"correct horse"))
    key_file.chmod(0o600)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse\n")
    report_file = tmp_path / "report.json"
    result = subprocess.run(
        [STRIVE, "conformance", "receiver", "--url", receiver.url, "--asw-id", "conformance-asw",
         "--key", str(key_file), "--passphrase-file", str(passphrase),
         "--analyst-token", receiver.token("analyst"), "--report", str(report_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conformant: every MUST tested passed" in result.stdout
    report = json.loads(report_file.read_text())
    assert report["conformant"] is True
    assert {row["id"] for row in report["results"]} == {c.id for c in receiver_checks()}
    assert report["counts"]["fail"] == 0


def test_an_unregistered_key_fails_loudly(receiver: Receiver) -> None:
    """The suite is only as good as its ASW: with a key the receiver does not know, the
    baseline submission fails and every check resting on it says why."""
    receiver.register_asw("conformance-asw")
    report = run_receiver_suite(receiver.url, asw_id="conformance-asw", key=SigningKey.generate())
    assert not report.conformant
    assert "R-SUBMIT-01" in report.failed_ids()
    assert "needs an accepted submission" in report.result("R-RECEIPT-01").reason
