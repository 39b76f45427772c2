"""`strive validate`: exit codes, the pinned JSON output, NDJSON and hostile files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from strive_client._cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(cli, ["validate", *args], input=input)


def write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_all_examples_validate_with_exit_0() -> None:
    examples = sorted(str(p) for p in (ROOT / "spec/examples").glob("*.json"))
    result = run(*examples)
    assert result.exit_code == 0, result.output


def test_json_format_is_one_object_per_document(tmp_path: Path, minimal: dict[str, Any]) -> None:
    good = write(tmp_path, "good.json", json.dumps(minimal).encode())
    del minimal["referral_id"]
    bad = write(tmp_path, "bad.json", json.dumps(minimal).encode())
    result = run(good, bad, "--format", "json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["path"], o["line"], o["valid"]) for o in lines] == [
        (good, None, True),
        (bad, None, False),
    ]
    assert set(lines[1]) == {"path", "line", "valid", "errors", "warnings"}
    assert lines[1]["errors"] == [
        {
            "pointer": "/referral_id",
            "code": "missing_field",
            "message": "is required",
            "kind": "schema",
        }
    ]


def test_ndjson_reports_line_numbers(tmp_path: Path, minimal: dict[str, Any]) -> None:
    good = json.dumps(minimal)
    path = write(tmp_path, "batch.ndjson", f"{good}\n\n{{oops\n{good}\n".encode())
    result = run(path, "--format", "json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["line"], o["valid"]) for o in lines] == [(1, True), (3, False), (4, True)]
    assert lines[1]["errors"][0]["code"] == "invalid_json"


def test_strict_makes_warnings_fail(tmp_path: Path, minimal: dict[str, Any]) -> None:
    path = write(tmp_path, "warn.json", json.dumps(minimal).encode())  # evidence_refs warning
    assert run(path).exit_code == 0
    strict = run(path, "--strict", "--format", "json")
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["valid"] is False


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_document"),
        (b"\xc3\x28", "invalid_utf8"),
        (b"not json at all", "invalid_json"),
        (b"[{}]", "not_an_object"),
        (b"[" * 50_000, "too_deep"),
    ],
)
def test_hostile_files_are_findings_with_exit_1(tmp_path: Path, content: bytes, code: str) -> None:
    result = run(write(tmp_path, "doc.json", content), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["code"] == code
    assert "Traceback" not in result.output


def test_oversized_file_is_rejected_without_reading_it_all(tmp_path: Path) -> None:
    path = write(tmp_path, "big.json", b" " * (3 * 1024 * 1024))
    result = run(path, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["code"] == "too_large"


def test_unreadable_paths_exit_2(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "missing.json"))
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr
    assert run(str(tmp_path)).exit_code == 2


def test_usage_errors_exit_2() -> None:
    assert run().exit_code == 2
    assert run("--format", "xml", "x.json").exit_code == 2


def test_standard_input(minimal: dict[str, Any]) -> None:
    result = run("-", input=json.dumps(minimal).encode())
    assert result.exit_code == 0
    assert "valid" in result.stdout


def test_text_output_names_pointer_and_code(tmp_path: Path, minimal: dict[str, Any]) -> None:
    minimal["urgency"] = {"level": "priority"}
    result = run(write(tmp_path, "doc.json", json.dumps(minimal).encode()))
    assert result.exit_code == 1
    assert "error missing_field at /urgency/reason" in result.stdout


def test_text_output_escapes_unprintable_member_names(
    tmp_path: Path, minimal: dict[str, Any]
) -> None:
    minimal["extensions"] = {"x-acme-note\n": 1, "x-acme-data": {"na\x00me": 1}}
    result = run(write(tmp_path, "doc.json", json.dumps(minimal).encode()))
    assert result.exit_code == 1
    findings = [line for line in result.stdout.splitlines() if line.startswith("  error")]
    assert findings == [
        "  error nul_character at /extensions/x-acme-data/na\\u0000me: "
        "must not contain U+0000 (NUL) [schema]",
        "  error invalid_extension_name at /extensions/x-acme-note\\u000a: "
        "extension members are named x-<organisation>-<name>, lower case [schema]",
    ]
