"""The witness suite: the reference witness (``strive log witness``) cosigns what extends
its tree and refuses a rollback, a fork and a checkpoint by another key; a witness that
cosigns whatever it is shown is named for each of them."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from strive_client._auth import RequestSigner
from strive_client._cli.log import log_group
from strive_client.conformance.witness import STAGES, WitnessMock
from strive_schema.keys import SigningKey
from strive_schema.note import ALG_COSIGNATURE_V1, NoteSigner, parse_note

from ..conftest import STRIVE

NAME = "oversight.example/w1"


@pytest.fixture
def mock() -> Iterator[WitnessMock]:
    log = WitnessMock(0, timeout=60)
    log.start()
    yield log
    log.stop()


def _run_witness(url: str, state: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        log_group, ["witness", "--url", url, "--state", str(state), "--name", NAME]
    )
    return result.exit_code, result.output


def test_the_reference_witness_is_conformant(tmp_path: Path) -> None:
    state = tmp_path / "witness"
    created = CliRunner().invoke(log_group, ["witness", "--url", "http://127.0.0.1:9",
                                             "--state", str(state), "--name", NAME])  # fmt: skip
    assert created.exit_code == 1  # the key is made before the (unreachable) log is read
    signer = NoteSigner.from_skey((state / "witness.key").read_text())
    mock = WitnessMock(0, timeout=60, witness_key=signer.verifier.vkey)  # verify everything
    mock.start()
    outcomes = [_run_witness(mock.url, state) for _ in STAGES]
    report = mock.stop()
    print(report.table())
    assert report.conformant, report.table()
    assert {r.id for r in report.results if r.status == "pass"} == {
        "W-01", "W-02", "W-03", "W-04", "W-05", "W-06", "W-07",
    }  # fmt: skip
    codes = [code for code, _ in outcomes]
    assert codes == [0, 0, 1, 1, 1, 0], outcomes  # it refuses with exit status 1
    assert "log_rollback" in outcomes[2][1] and "log_consistency_failed" in outcomes[3][1]


def _careless_witness(url: str, signer: NoteSigner) -> None:
    """Cosigns every checkpoint it fetches, checking nothing; and sends it unsigned."""
    with httpx.Client(base_url=url, timeout=10) as http:
        auth = RequestSigner(
            SigningKey(signer.private_key), signer.name, header="Strive-Witness-Id"
        )
        for _ in STAGES:
            note = http.get("/v1/log/checkpoint", auth=auth).text
            text = parse_note(note).text
            line = f"\u2014 {signer.name} {base64.b64encode(signer.sign(text)).decode()}\n"
            http.post(
                "/v1/log/cosignature", content=(text + "\n" + line).encode(),
                headers={"Content-Type": "text/plain; charset=utf-8", "Strive-Witness-Id": NAME},
            )  # fmt: skip


def test_a_witness_that_cosigns_anything_is_named(mock: WitnessMock) -> None:
    signer = NoteSigner.generate(NAME, ALG_COSIGNATURE_V1)
    mock.record.witness_key = signer.verifier
    _careless_witness(mock.url, signer)
    report = mock.stop()
    assert report.failed_ids() == {"W-02", "W-04", "W-05", "W-06"}, report.table()
    assert "request_signature_missing" in report.result("W-02").reason
    assert report.result("W-01").status == "pass"


def test_a_cosignature_by_another_key_or_of_an_unserved_note_is_named(mock: WitnessMock) -> None:
    witness = NoteSigner.generate(NAME, ALG_COSIGNATURE_V1)
    mock.record.witness_key = witness.verifier
    stranger = NoteSigner.generate(NAME, ALG_COSIGNATURE_V1)  # its name, another key
    auth = RequestSigner(SigningKey(witness.private_key), NAME, header="Strive-Witness-Id")
    with httpx.Client(base_url=mock.url, timeout=10, auth=auth) as http:
        text = parse_note(http.get("/v1/log/checkpoint").text).text
        for signer, cosigned in (
            (stranger, text),
            (witness, "example.org/other\n1\n" + text[-45:]),
        ):
            line = f"\u2014 {NAME} {base64.b64encode(signer.sign(cosigned)).decode()}\n"
            http.post("/v1/log/cosignature", content=(cosigned + "\n" + line).encode())
    report = mock.stop()
    assert "does not verify under the witness key" in report.result("W-01").reason
    assert report.result("W-07").status == "fail"
    assert report.result("W-04").status == "fail"  # never run for the later stages


def test_the_command_reports_the_witness(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    report_file = tmp_path / "witness-report.json"
    process = subprocess.Popen(
        [STRIVE, "conformance", "witness", "--port", str(port), "--timeout", "60",
         "--report", str(report_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/.well-known/strive-configuration", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        for _ in STAGES:
            _run_witness(url, tmp_path / "witness")
        stdout, _ = process.communicate(timeout=30)  # ends by itself: every stage served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stdout
    assert "W-05" in stdout and "conformant" in stdout
    report = json.loads(report_file.read_text())
    assert report["kind"] == "witness" and report["conformant"] is True
