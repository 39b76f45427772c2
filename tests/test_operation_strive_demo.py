"""The Operation Strive demo from referral to outcome, as processes and commands: the demo
receiver, the pilot's referrals, a THRIVE assessment and research, the package disseminated
sealed to the demo London force's key, opened with `strive package open`, an arrest and then a
charge reported by the force with signed requests, both in the history and the statistics,
and the ASW reading the released outcome with the SDK."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from strive_client import StriveClient
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey

from .conftest import STRIVE, strive_serve, wait_until_linked

ROOT = Path(__file__).resolve().parent.parent
OP_STRIVE = [f"spec/examples/op-strive-{n}.json" for n in
             ("1-london", "2-south-east", "3-north-east", "4-crossplatform")]  # fmt: skip
THRIVE = {name: f"demo {name}" for name in (
    "threat", "harm", "risk", "investigation", "vulnerability", "engagement", "rationale")}  # fmt: skip


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRIVE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_operation_strive_from_referral_to_outcome(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "examples", tmp_path / "spec" / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIVE_")}
    with strive_serve(["--demo"], env=env, cwd=tmp_path, log=tmp_path / "serve.log") as url:
        assert (
            "package open package.sealed.json --recipient-id met-cse"
            in (tmp_path / "serve.log").read_text()
        )
        demo = tmp_path / ".strive" / "demo"
        force = tmp_path / ".strive" / "demo-recipients" / "met-cse"
        by_asw: dict[str, list[str]] = {}
        for name in OP_STRIVE:
            asw = json.loads((tmp_path / name).read_text())["reporter"]["organisation_id"]
            by_asw.setdefault(asw, []).append(name)
        for asw, files in by_asw.items():
            done = _run(["submit", *files, "--url", url, "--asw-id", asw,
                         "--key", str(demo / asw / "private_key.pem"),
                         "--attachments", "spec/examples/files"], tmp_path, env)  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert "attachment_uploaded" in done.stdout
        wait_until_linked(url)
        tokens = json.loads((demo / "tokens.json").read_text())
        first = json.loads((tmp_path / OP_STRIVE[0]).read_text())
        analyst = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['analyst']}"}
        )
        with analyst:
            cluster_id = analyst.get(f"/v1/referrals/{first['referral_id']}/links").json()[
                "cluster_id"
            ]
            # The same photograph under two names on two sites ("Larisa", "Lara"): linked by
            # its PDQ hash, shown in the cluster (spec/evidence-files.md).
            pictures = analyst.get(f"/v1/clusters/{cluster_id}").json()["image_matches"]
            near = {(m["asw_id"], m["entity_ref"], m["matched_asw_id"], m["matched_entity_ref"])
                    for m in pictures if m["distance"] > 0}  # fmt: skip
            assert near == {
                ("demo-classifieds", "dc-photo-lara", "example-adverts", "photo-larisa")
            }
            assert (tmp_path / "strive-evidence").is_dir()  # beside the demo's strive.db
            suggested = analyst.get(f"/v1/clusters/{cluster_id}/recipient-suggestions").json()
            assert suggested["suggestions"][0]["recipient_id"] == "met-cse"
            assessed = analyst.post(f"/v1/clusters/{cluster_id}/assessments",
                                    json={**THRIVE, "priority": "P1"})  # fmt: skip
            assert assessed.status_code == 201, assessed.text
            researched = analyst.post("/v1/research-findings", json={
                "cluster_id": cluster_id, "finding": "Two payer names on an earlier report",
                "source_reference": "INT/2026/001",
                "grading": {"source_evaluation": "2", "intelligence_assessment": "B",
                            "handling_code": "P"}})  # fmt: skip
            assert researched.status_code == 201, researched.text

        sealed = tmp_path / "package.sealed.json"
        sent = _run(["disseminate", "cluster", str(cluster_id), "--recipient", "met-cse",
                     "--url", url, "--token", tokens["supervisor"], "--out", str(sealed),
                     "--format", "json", "--format", "csv"], tmp_path, env)  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        opened = _run(["package", "open", "--recipient-id", "met-cse", str(sealed), "--key", str(force / "decryption_key.json"),
                       "--out", str(tmp_path / "package"), "--url", url], tmp_path, env)  # fmt: skip
        assert opened.returncode == 0, opened.stderr
        manifest = json.loads((tmp_path / "package" / "manifest.json").read_text())
        assert len(manifest["referrals"]) == 4

        key = SigningKey.from_file(force / "private_key.pem")
        for outcome, reference in (("arrest", "CAD/1"), ("charge", "CPS/1")):
            body = json.dumps({"dissemination_id": manifest["dissemination_id"],
                               "referral_id": first["referral_id"],
                               "asw_id": first["reporter"]["organisation_id"],
                               "outcome": outcome, "force_reference": reference,
                               "release_to_asw": True}).encode()  # fmt: skip
            target = f"{url}/v1/recipient/outcomes"
            headers = {"Content-Type": "application/json", "Strive-Recipient-Id": "met-cse"}
            headers |= sign_request("POST", target, headers, body, key)
            reported = httpx.post(target, content=body, headers=headers, timeout=30)
            assert reported.status_code == 201, reported.text

        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['supervisor']}"}
        ) as le:
            history = le.get(f"/v1/referrals/{first['referral_id']}/outcomes").json()
            stats = le.get("/v1/stats").json()
        assert [o["outcome"] for o in history["outcomes"]] == ["arrest", "charge"]
        assert stats["pathway"]["arrest"] == stats["pathway"]["charge"] == "<5"
        asw = first["reporter"]["organisation_id"]
        with StriveClient(url, asw_id=asw, key=demo / asw / "private_key.pem") as client:
            status = client.get_referral_status(first["referral_id"])
        assert status.outcome == "charge"
