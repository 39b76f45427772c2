"""What a newcomer does after `make run`, in the console: the printed address and sign-in,
the demo analyst signed in, the Operation Strive network at the top of the queue."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx

from ..conftest import STRIVE, strive_serve, wait_until_linked

ROOT = Path(__file__).resolve().parent.parent.parent
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_demo_prints_the_console_and_its_analyst_signs_in(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "examples", tmp_path / "spec" / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIVE_")}
    with strive_serve(["--demo"], env=env, cwd=tmp_path, log=tmp_path / "serve.log") as url:
        printed = (tmp_path / "serve.log").read_text()
        assert f"{url}/console/" in printed and "['analyst']" in printed
        demo = tmp_path / ".strive" / "demo"
        for asw in ("example-adverts", "demo-classifieds"):
            files = sorted(
                str(p) for p in (tmp_path / "spec" / "examples").glob("op-strive-*.json")
                if json.loads(p.read_text())["reporter"]["organisation_id"] == asw
            )  # fmt: skip
            subprocess.run(
                [STRIVE, "submit", *files, "--url", url, "--asw-id", asw,
                 "--key", str(demo / asw / "private_key.pem")],
                cwd=tmp_path, env=env, capture_output=True, timeout=120, check=True,
            )  # fmt: skip
        wait_until_linked(url)
        command = re.search(r"python3 -c \"(.+\['analyst'\]\))\"", printed)
        assert command
        token = subprocess.run(
            ["python3", "-c", command.group(1)], cwd=tmp_path, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip
        with httpx.Client(base_url=url, timeout=30) as client:
            form = client.get("/console/sign-in")
            found = CSRF.search(form.text)
            assert found
            client.post("/console/sign-in", data={"token": token, "csrf_token": found.group(1)})
            queue = client.get("/console/queue")
        assert queue.status_code == 200 and "demo-analyst (analyst)" in queue.text
        first = queue.text.split("<tbody")[1].split("</tr>")[0]
        assert "P1" in first and "4<span" in first  # the four-referral Strive cluster on top
