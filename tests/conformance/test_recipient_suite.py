"""The recipient suite: the reference recipient (``strive package open``) opens the good
package and refuses each bad one with its code; a recipient that opens anything, or trusts
the addressee the file names, is named for each failure."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import CliRunner

from strive_client._cli.disseminate import package_group
from strive_client.conformance.recipient import CASES, RecipientMock, recipient_public_keys
from strive_schema.keys import PublicKey
from strive_schema.sealed import RecipientDecryptionKeys, SealedPackageError, open_package

from ..conftest import STRIVE

RECIPIENT = "conformance-force"


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    """A recipient's keys as ``strive keys generate --purpose recipient`` writes them."""
    out = tmp_path / "recipient-keys"
    result = subprocess.run(
        [STRIVE, "keys", "generate", "--out", str(out), "--purpose", "recipient"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out / "public_key.jwk", out / "decryption_key.json"


def _open_with_the_cli(url: str, sealed: Path, key_file: Path, out: Path) -> dict[str, str]:
    result = CliRunner().invoke(
        package_group,
        ["open", str(sealed), "--key", str(key_file), "--recipient-id", RECIPIENT,
         "--out", str(out), "--url", url],
    )  # fmt: skip
    if result.exit_code == 0:
        manifest = json.loads((out / "manifest.json").read_text())
        return {"result": "opened", "package_sha256": manifest["package_sha256"]}
    match = re.search(r"error: (sealed_[a-z_]+):", result.output)
    return {"result": match.group(1) if match else f"exit {result.exit_code}"}


def _session(
    mock: RecipientMock, tmp_path: Path, opener: Callable[[Path, Path], dict[str, str]]
) -> None:
    with httpx.Client(base_url=mock.url, timeout=10) as http:
        listing = http.get("/conformance/packages").json()
        for case, path in listing["cases"].items():
            sealed = tmp_path / f"{case}.sealed"
            sealed.write_bytes(http.get(path).content)
            verdict = opener(sealed, tmp_path / f"out-{case}")
            assert (
                http.post("/conformance/results", json={"case": case, **verdict}).status_code == 200
            )


def test_the_reference_recipient_is_conformant(tmp_path: Path) -> None:
    public, private = _keys(tmp_path)
    keys = recipient_public_keys(json.loads(public.read_text()))
    mock = RecipientMock(RECIPIENT, keys, timeout=60)
    mock.start()
    try:
        _session(
            mock, tmp_path, lambda sealed, out: _open_with_the_cli(mock.url, sealed, private, out)
        )
    finally:
        report = mock.stop()
    print(report.table())
    assert report.conformant, report.table()
    assert [r.id for r in report.results if r.status == "pass"] == [
        "P-01", "P-02", "P-03", "P-04", "P-05", "P-06",
    ]  # fmt: skip


def test_a_careless_recipient_is_named_for_each_failure(tmp_path: Path) -> None:
    """It reads the addressee from the file (so a forwarded package opens) and accepts any
    signature it can parse."""
    keys = RecipientDecryptionKeys.generate()
    mock = RecipientMock(RECIPIENT, keys.public_keys(), timeout=60)
    mock.start()

    def careless(sealed: Path, _out: Path) -> dict[str, str]:
        header = json.loads(sealed.read_bytes())["header"]
        stranger = mock.stranger.public_key  # it trusts whatever key signed it ...
        try:
            opened = open_package(
                sealed.read_bytes(), keys, receiver_keys=[mock.key.public_key, stranger],
                expected_recipient_id=header["recipient_id"],  # ... and whoever it names
            )  # fmt: skip
        except SealedPackageError as exc:
            return {"result": exc.code.value}
        return {"result": "opened", "package_sha256": opened.package_sha256}

    try:
        _session(mock, tmp_path, careless)
    finally:
        report = mock.stop()
    assert report.failed_ids() == {"P-04", "P-05"}, report.table()
    assert "opened the 'addressed-elsewhere' package" in report.result("P-05").reason


def test_a_recipient_that_reports_nothing_fails(tmp_path: Path) -> None:
    keys = RecipientDecryptionKeys.generate()
    mock = RecipientMock(RECIPIENT, keys.public_keys(), timeout=60)
    mock.start()
    httpx.post(f"{mock.url}/conformance/results", json={"case": "valid", "result": "opened",
                                                        "package_sha256": "0" * 64})  # fmt: skip
    report = mock.stop()
    assert report.failed_ids() == {f"P-0{i}" for i in range(1, 7)}
    assert "digest" in report.result("P-01").reason
    assert "not fetched" in report.result("P-02").reason


def test_the_command_reports_the_recipient(tmp_path: Path) -> None:
    public, private = _keys(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    report_file = tmp_path / "recipient-report.json"
    process = subprocess.Popen(
        [STRIVE, "conformance", "recipient", "--port", str(port), "--recipient-id", RECIPIENT,
         "--public-key", str(public), "--timeout", "60", "--report", str(report_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/conformance/packages", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        _session_at(url, tmp_path, private)
        stdout, _ = process.communicate(timeout=30)  # ends by itself: every case reported
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stdout
    assert "P-05" in stdout and "conformant" in stdout
    report = json.loads(report_file.read_text())
    assert report["kind"] == "recipient" and report["counts"]["pass"] == len(CASES)


def _session_at(url: str, tmp_path: Path, private: Path) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for case, path in http.get("/conformance/packages").json()["cases"].items():
            sealed = tmp_path / f"{case}.sealed"
            sealed.write_bytes(http.get(path).content)
            verdict = _open_with_the_cli(url, sealed, private, tmp_path / f"out-{case}")
            http.post("/conformance/results", json={"case": case, **verdict})


def test_the_mock_publishes_only_its_own_receiver_key(tmp_path: Path) -> None:
    keys = RecipientDecryptionKeys.generate()
    mock = RecipientMock(RECIPIENT, keys.public_keys(), timeout=5)
    mock.start()
    mock.stop()
    published = [PublicKey.from_jwk(k) for k in mock.discovery()["jwks"]["keys"]]
    assert published == [mock.key.public_key]
    assert mock.stranger.public_key not in published
