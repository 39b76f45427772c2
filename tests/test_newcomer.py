"""What a newcomer does after `make run`: the demo server, the printed `strive submit`
commands, receipts that verify, a replay recognised, and an analyst's outcome the ASW sees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from strive_client import StriveClient

from .conftest import STRIVE, strive_serve

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_flow_from_make_run(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "examples", tmp_path / "spec" / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIVE_")}
    with strive_serve(["--demo"], env=env, cwd=tmp_path, log=tmp_path / "serve.log") as url:
        printed = (tmp_path / "serve.log").read_text()
        assert "strive submit" in printed and "tokens.json" in printed
        assert (tmp_path / "strive.db").exists()  # the embedded database, in the working folder

        # Submit every example the demo lists, with the printed per-ASW commands.
        demo = tmp_path / ".strive" / "demo"
        receipts = []
        for asw_dir in sorted(p for p in demo.iterdir() if p.is_dir()):
            asw = asw_dir.name
            files = [
                str(p) for p in sorted((tmp_path / "spec" / "examples").glob("*.json"))
                if json.loads(p.read_text())["reporter"]["organisation_id"] == asw
                and json.loads(p.read_text()).get("supplements", {}).get("relationship") != "answers_request"
            ]  # fmt: skip
            done = subprocess.run(
                [STRIVE, "submit", *files, "--url", url, "--asw-id", asw, "--key", str(asw_dir / "private_key.pem")],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            receipts += [json.loads(line) for line in done.stdout.splitlines()]
        assert len(receipts) == 8 and {r["status"] for r in receipts} == {"accepted"}

        # Submitting again is recognised as a replay.
        again = subprocess.run(
            [STRIVE, "submit", "spec/examples/op-strive-1-london.json", "--url", url,
             "--asw-id", "example-adverts", "--key", str(demo / "example-adverts" / "private_key.pem")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert json.loads(again.stdout)["status"] == "replayed"

        # A supervisor works it to an outcome and releases feedback; the ASW sees it.
        tokens = json.loads((demo / "tokens.json").read_text())
        referral_id = json.loads((tmp_path / "spec/examples/op-strive-1-london.json").read_text())[
            "referral_id"
        ]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['supervisor']}"}
        ) as le:
            for state in ("triaged", "under_assessment", "package_developed", "disseminated"):
                moved = le.post(
                    f"/v1/referrals/{referral_id}/transitions",
                    json={"to_state": state, "reason": "demo"},
                )
                assert moved.status_code == 200, moved.text
            closed = le.post(
                f"/v1/referrals/{referral_id}/transitions",
                json={
                    "to_state": "closed",
                    "outcome": "safeguarding_visit",
                    "reason": "visit made",
                },
            )
            assert closed.status_code == 200, closed.text
            feedback = le.post(
                f"/v1/referrals/{referral_id}/feedback",
                json={"message": "A safeguarding visit was made. Thank you.", "outcome": "safeguarding_visit",
                      "release_to_asw": True},
            )  # fmt: skip
            assert feedback.status_code == 201
        with StriveClient(
            url, asw_id="example-adverts", key=demo / "example-adverts" / "private_key.pem"
        ) as asw:
            status = asw.get_referral_status(referral_id)
        assert status.state == "closed" and status.outcome == "safeguarding_visit"
        assert status.feedback[-1].message.startswith("A safeguarding visit")
