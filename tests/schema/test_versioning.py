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
    if "enum" in old:
        removed = set(old["enum"]) - set(new.get("enum", old["enum"]))
        problems.extend(f"{where}: enum value {v!r} removed" for v in sorted(removed))
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
    found = breaking_changes(old, new)
    assert any("title: removed" in p for p in found)
    assert any("'priority' removed" in p for p in found)
    assert any("accounts became required" in p for p in found)


@pytest.mark.parametrize("version", ["1.1", "2.0", "0.9", "1"])
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
