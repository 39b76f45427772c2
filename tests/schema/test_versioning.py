"""The versioning policy (spec/versioning.md) holds.

* A minor version only adds: optional members, enum values, objects. The baseline of every
  released 1.x schema is kept in tests/schema/baselines/ and the current schema must be a
  compatible superset of each.
* Documents valid under an earlier 1.x release stay valid (the examples are the corpus).
* A document naming a version this validator does not know is rejected with
  ``unsupported_schema_version``.
* Extensions are namespaced; unknown un-namespaced members are rejected.
* Deprecated members still validate and produce a ``deprecated_field`` warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from strive_schema.published import referral_json_schema
from strive_schema.validator import (
    deprecated_member_paths,
    find_deprecated_members,
    validate_document,
)

BASELINES = sorted((Path(__file__).parent / "baselines").glob("referral-1.*.schema.json"))

# Corrections, not changes (spec/versioning.md): each pattern now spells out what ECMA-262's
# "\s" meant in the released one, and also refuses U+0000, which no receiver can store.
_WHITE_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
PATTERN_CORRECTIONS = {
    r"^[^@\s]+@[^@\s]+$": rf"^[^@\u0000{_WHITE_SPACE}]+@[^@\u0000{_WHITE_SPACE}]+$",
    r"^https?://[^\s/$.?#][^\s]*$": (
        rf"^https?://[^\u0000{_WHITE_SPACE}/$.?#][^\u0000{_WHITE_SPACE}]*$"
    ),
}


def breaking_changes(old: Any, new: Any, where: str = "") -> list[str]:
    """List what ``new`` takes away from ``old``; an empty list means additive only."""
    problems: list[str] = []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return problems
    if old.get("type") != new.get("type"):
        problems.append(f"{where}: type changed")
    if "enum" in old or "const" in old:
        before = set(old.get("enum", [old.get("const")]))
        after = set(new.get("enum", [new["const"]] if "const" in new else before))
        problems.extend(f"{where}: value {v!r} removed" for v in sorted(before - after))
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    problems.extend(f"{where}: {name} became required" for name in sorted(newly_required))
    for keyword in ("maxLength", "maxItems", "maximum"):
        if keyword in old and new.get(keyword, float("inf")) < old[keyword]:
            problems.append(f"{where}: {keyword} tightened")
    for keyword in ("minLength", "minItems", "minimum"):
        if keyword in old and new.get(keyword, float("-inf")) > old[keyword]:
            problems.append(f"{where}: {keyword} tightened")
    corrected = PATTERN_CORRECTIONS.get(old.get("pattern"), old.get("pattern"))
    if "pattern" in old and new.get("pattern") != corrected:
        problems.append(f"{where}: pattern changed")
    for name, member in old.get("properties", {}).items():
        if name not in new.get("properties", {}):
            problems.append(f"{where}/{name}: removed")
        else:
            problems.extend(breaking_changes(member, new["properties"][name], f"{where}/{name}"))
    for key in ("items", "then"):
        if key in old:
            problems.extend(breaking_changes(old[key], new.get(key, {}), f"{where}/{key}"))
    for name, definition in old.get("$defs", {}).items():
        if name not in new.get("$defs", {}):
            problems.append(f"$defs/{name}: removed")
        else:
            problems.extend(breaking_changes(definition, new["$defs"][name], f"$defs/{name}"))
    return problems


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda p: p.name)
def test_current_schema_is_additive_over_each_released_minor(baseline: Path) -> None:
    old = json.loads(baseline.read_text(encoding="utf-8"))
    assert breaking_changes(old, referral_json_schema()) == []


@pytest.mark.parametrize(("released", "corrected"), sorted(PATTERN_CORRECTIONS.items()))
def test_pattern_corrections_keep_the_released_meaning_but_for_nul(
    released: str, corrected: str
) -> None:
    # Judged by an independent ECMA-262 implementation: every character the released
    # pattern's "\s" could mean, and its neighbours, is treated alike, U+0000 excepted.
    old = jsonschema_rs.validator_for({"pattern": released})
    new = jsonschema_rs.validator_for({"pattern": corrected})
    probes = [chr(c) for c in [*range(0x21), *range(0x7F, 0xA1), 0x1680, *range(0x2000, 0x2030)]]
    probes += [chr(c) for c in (0x205F, 0x3000, 0xFEFF, 0xFFFE)]
    for char in probes:
        for text in (f"a{char}b@example.org", f"https://{char}x.example/{char}"):
            expected = old.is_valid(text) and char != "\x00"
            assert new.is_valid(text) == expected, (hex(ord(char)), text)


def test_the_compatibility_check_detects_a_breaking_change() -> None:
    old = referral_json_schema()
    new = referral_json_schema()
    del new["$defs"]["Advert"]["properties"]["title"]
    new["$defs"]["Urgency"]["properties"]["level"]["enum"].remove("priority")
    new["required"].append("accounts")
    new["properties"]["schema_version"] = {"type": "string", "const": "1.1"}
    found = breaking_changes(old, new)
    assert any("schema_version: value '1.0' removed" in p for p in found)
    assert any("title: removed" in p for p in found)
    assert any("value 'priority' removed" in p for p in found)
    assert any("accounts became required" in p for p in found)


@pytest.mark.parametrize("version", ["1.2", "2.0", "0.9", "1"])
def test_unknown_schema_versions_are_rejected_by_code(
    minimal: dict[str, Any], version: str
) -> None:
    minimal["schema_version"] = version
    result = validate_document(minimal)
    assert [(e.pointer, e.code) for e in result.errors] == [
        ("/schema_version", "unsupported_schema_version")
    ]


def test_namespaced_extensions_are_accepted_and_bare_members_rejected(
    minimal: dict[str, Any],
) -> None:
    minimal["extensions"] = {"x-example-adverts-risk-score": {"score": 0.93, "model": "v7"}}
    assert validate_document(minimal).valid
    minimal["risk_score"] = 0.93
    minimal["extensions"]["riskscore"] = 1
    codes = {(e.pointer, e.code) for e in validate_document(minimal).errors}
    assert codes == {
        ("/risk_score", "unknown_field"),
        ("/extensions/riskscore", "invalid_extension_name"),
    }


def test_deprecated_members_are_found_and_warned_about() -> None:
    schema = {
        "type": "object",
        "properties": {
            "old": {"type": "string", "deprecated": True},
            "adverts": {"type": "array", "items": {"$ref": "#/$defs/Advert"}},
        },
        "$defs": {"Advert": {"properties": {"legacy_ref": {"deprecated": True}}}},
    }
    paths = deprecated_member_paths(schema)
    assert paths == [("old",), ("adverts", "*", "legacy_ref")]
    document = {"old": "a", "adverts": [{"legacy_ref": 1}, {}, {"legacy_ref": 2}]}
    findings = find_deprecated_members(document, paths)
    assert [(f.pointer, f.code, f.severity) for f in findings] == [
        ("/old", "deprecated_field", "warning"),
        ("/adverts/0/legacy_ref", "deprecated_field", "warning"),
        ("/adverts/2/legacy_ref", "deprecated_field", "warning"),
    ]


def test_version_1_0_has_no_deprecated_members() -> None:
    assert deprecated_member_paths(referral_json_schema()) == []


# --- Validity that does not drift (taxonomy version, clock, numbering plans) -------------------


def test_both_minor_versions_are_read(minimal: dict[str, Any]) -> None:
    assert validate_document(minimal).valid
    minimal.update(schema_version="1.1", taxonomy_version="1.0")
    assert validate_document(minimal).valid


def test_a_member_added_in_1_1_needs_a_1_1_document(minimal: dict[str, Any]) -> None:
    minimal["taxonomy_version"] = "1.0"
    result = validate_document(minimal)
    assert [(e.pointer, e.code) for e in result.errors] == [
        ("/taxonomy_version", "member_newer_than_version")
    ]


@pytest.mark.parametrize("version", ["1", "1.0.0", "01.0", "v1.0", "1.00", ""])
def test_the_taxonomy_version_is_major_dot_minor(minimal: dict[str, Any], version: str) -> None:
    minimal.update(schema_version="1.1", taxonomy_version=version)
    assert [e.pointer for e in validate_document(minimal).errors] == ["/taxonomy_version"]


@pytest.mark.parametrize(
    ("taxonomy_version", "expected"),
    [
        (None, ("error", "unknown_indicator")),
        ("1.0", ("error", "unknown_indicator")),
        ("0.9", ("error", "unknown_indicator")),
        ("1.1", ("warning", "indicator_from_newer_taxonomy")),
        ("2.0", ("warning", "indicator_from_newer_taxonomy")),
    ],
)
def test_a_code_this_validator_does_not_know(
    minimal: dict[str, Any], taxonomy_version: str | None, expected: tuple[str, str]
) -> None:
    """A newer taxonomy's code is accepted by an older validator, with a warning; a code
    unknown to the taxonomy the referral names is an error."""
    minimal["schema_version"] = "1.1"
    if taxonomy_version is not None:
        minimal["taxonomy_version"] = taxonomy_version
    minimal["indicators"][0]["code"] = "recruited_through_a_gaming_platform"
    result = validate_document(minimal)
    findings = [
        (f.severity, f.code)
        for f in (*result.errors, *result.warnings)
        if f.pointer == "/indicators/0/code"
    ]
    assert findings == [expected]
    assert result.valid is (expected[0] == "warning")


def test_an_older_validator_accepts_what_a_newer_one_accepts(
    minimal: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulate a validator one taxonomy release behind: it does not know the code the
    referral uses, yet the verdict (valid) is the same as the current validator's."""
    from strive_schema import semantics

    minimal.update(schema_version="1.1", taxonomy_version="1.0")
    code = minimal["indicators"][0]["code"]
    assert validate_document(minimal).valid
    monkeypatch.setattr(semantics, "TAXONOMY_VERSION", "0.9")
    monkeypatch.setattr(semantics, "is_known_indicator", lambda c: c != code)
    older = validate_document(minimal)
    assert older.valid
    assert "indicator_from_newer_taxonomy" in [f.code for f in older.warnings]


def test_an_impossible_e164_is_a_warning_not_an_error(minimal: dict[str, Any]) -> None:
    """Whether a number is possible depends on libphonenumber's metadata, which changes from
    release to release; the verdict on a referral must not."""
    minimal["phones"] = [{"id": "ph-1", "raw": "+999999999999999", "e164": "+999999999999999"}]
    result = validate_document(minimal)
    assert result.valid
    assert [(w.pointer, w.code) for w in result.warnings if w.pointer.startswith("/phones")] == [
        ("/phones/0/e164", "phone_e164_invalid")
    ]


def test_the_future_is_judged_against_the_time_given(minimal: dict[str, Any]) -> None:
    """A receiver judges ``created_in_future`` at the time of receipt and a re-check uses that
    recorded time, so a stored referral's verdict never changes with the checker's clock."""
    from datetime import UTC, datetime, timedelta

    created = datetime.fromisoformat(minimal["created_at"].replace("Z", "+00:00"))
    assert validate_document(minimal, now=created - timedelta(minutes=5)).valid
    late = validate_document(minimal, now=created - timedelta(minutes=5, seconds=1))
    assert [e.code for e in late.errors] == ["created_in_future"]
    assert validate_document(minimal, now=datetime.now(UTC)).valid
