"""Every committed generated artefact equals what the code generates today."""

from __future__ import annotations

from pathlib import Path

import pytest

from strive_schema.generate import ARTEFACTS, main, render_all

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("relative", sorted(ARTEFACTS))
def test_committed_artefact_is_current(relative: str) -> None:
    committed = (ROOT / relative).read_text(encoding="utf-8")
    assert committed == render_all()[relative], (
        f"{relative} is stale: run `python -m strive_schema.generate` and commit the result"
    )


def test_check_mode_reports_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    assert main(["--root", str(tmp_path)]) == 0
    target = tmp_path / "spec/schema/v1/referral.schema.json"
    target.write_text("{}\n", encoding="utf-8")
    assert main(["--root", str(tmp_path), "--check"]) == 1
    assert target.read_text(encoding="utf-8") == "{}\n"


def test_published_schema_is_2020_12_with_a_versioned_id() -> None:
    import json

    schema = json.loads((ROOT / "spec/schema/v1/referral.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:strive:schema:referral:1.1"
    assert schema["properties"]["schema_version"]["enum"] == ["1.0", "1.1"]
    assert {"schema_version", "referral_id"} <= set(schema["required"])
