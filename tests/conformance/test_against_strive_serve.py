"""The suite against a receiver it knows only by URL: `strive serve --demo` as a separate
process, tested by `strive conformance receiver` as another, with a demo ASW's key file and
the demo analyst's token, exactly as a third party would test their own receiver."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..conftest import ROOT, STRIVE, strive_serve


def test_strive_conformance_receiver_against_strive_serve(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "examples", tmp_path / "spec" / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIVE_")}
    with strive_serve(["--demo"], env=env, cwd=tmp_path, log=tmp_path / "serve.log") as url:
        demo = tmp_path / ".strive" / "demo"
        analyst = json.loads((demo / "tokens.json").read_text())["analyst"]
        report_file = tmp_path / "report.json"
        done = subprocess.run(
            [STRIVE, "conformance", "receiver", "--url", url, "--asw-id", "example-adverts",
             "--key", str(demo / "example-adverts" / "private_key.pem"),
             "--analyst-token", analyst, "--report", str(report_file)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_file.read_text())
    statuses = {row["id"]: row["status"] for row in report["results"]}
    assert statuses["R-AUTH-03"] == "pass"  # the analyst read the sandbox referral back
    assert set(statuses.values()) == {"pass"}, done.stdout  # the log and files included
