"""Shared fixtures: the repository root and the published examples."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "spec" / "examples"


def load_example(name: str) -> dict[str, Any]:
    """Return a published example as a fresh dict."""
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


@pytest.fixture
def minimal() -> dict[str, Any]:
    """The smallest valid referral (a sandbox referral)."""
    return load_example("sandbox-minimal.json")


STRIVE = str(Path(sys.executable).parent / "strive")


def _working_copy_state(folder: Path) -> set[str]:
    """The files under ``folder`` (a receiver's key folder), with their sizes and times."""
    if not folder.exists():
        return set()
    return {
        f"{path.relative_to(folder)}:{path.stat().st_size}:{path.stat().st_mtime_ns}"
        for path in folder.rglob("*")
    }


@pytest.fixture(scope="session", autouse=True)
def tests_leave_the_working_copy_alone() -> Iterator[None]:
    """Fail the run when a test wrote a receiver's files (``.strive/``: keys, demo tokens) into
    the repository or the current directory: tests write only under their temporary
    directories."""
    folders = {ROOT / ".strive", Path.cwd() / ".strive"}
    before = {folder: _working_copy_state(folder) for folder in folders}
    yield
    changed = {
        str(folder): sorted(_working_copy_state(folder) - before[folder]) for folder in folders
    }
    changed = {folder: files for folder, files in changed.items() if files}
    if changed:
        pytest.fail(f"tests wrote into the working copy: {changed}", pytrace=False)


@contextmanager
def strive_serve(args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """Run `strive serve ARGS --port P` as a real process on a free loopback port until it is
    ready; yield its URL; stop it (and only it) afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        process = subprocess.Popen(
            [STRIVE, "serve", *args, "--port", str(port)],
            cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"strive serve did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_until_linked(url: str, timeout: float = 60) -> None:
    """Wait until a running receiver's linking worker has linked every referral stored so far
    (its backlog in ``/readyz`` is empty): linking runs off the request path."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/readyz", timeout=5).json()["linking_backlog"]:
        if time.monotonic() > deadline:
            pytest.fail("the linking worker did not empty its backlog")
        time.sleep(0.05)
