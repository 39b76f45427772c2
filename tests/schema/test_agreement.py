"""The published JSON Schema, the pydantic models and the validator agree on every document.

The only documented exceptions are the semantic rules (spec/semantic-rules.md): a document
may pass the JSON Schema and still be invalid for a semantic reason, never the other way.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from strive_schema.models import SKIP_SEMANTICS, Referral
from strive_schema.validator import validate_json

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_SCHEMA = json.loads(
    (ROOT / "spec/schema/v1/referral.schema.json").read_text(encoding="utf-8")
)
JSON_SCHEMA = Draft202012Validator(
    COMMITTED_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)
EXAMPLES = sorted((ROOT / "spec/examples").glob("*.json"))
INVALID = sorted((ROOT / "tests/schema/invalid").glob("*.json"))


def model_accepts(document: object) -> bool:
    try:
        Referral.model_validate_json(json.dumps(document), context={SKIP_SEMANTICS: True})
    except ValidationError:
        return False
    return True


def assert_agreement(document: object) -> None:
    schema_ok = JSON_SCHEMA.is_valid(document)
    assert model_accepts(document) == schema_ok, "model and published JSON Schema disagree"
    result = validate_json(json.dumps(document))
    schema_errors = [e for e in result.errors if e.kind == "schema"]
    assert (not schema_errors) == schema_ok, "validator schema errors disagree with JSON Schema"
    if not schema_ok:
        assert not result.valid
        assert all(e.pointer is not None and e.code for e in result.errors)


def test_the_format_checker_asserts_date_times() -> None:
    # Without rfc3339-validator, jsonschema silently skips date-time; agreement would be luck.
    checker = Draft202012Validator.FORMAT_CHECKER
    assert not checker.conforms("2026-02-30T10:00:00Z", "date-time")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_agree(path: Path) -> None:
    assert_agreement(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_corpus_agrees(path: Path) -> None:
    assert_agreement(json.loads(path.read_text(encoding="utf-8")))


# --- Generated mutations of the examples -----------------------------------------------------

REPLACEMENTS: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    151,
    65536,
    1.5,
    "",
    "x",
    "1.0",
    "2.0",
    "routine",
    "immediate",
    "GB",
    "gb",
    "GBP",
    "49.99",
    "-1",
    "1e3",
    "+447700900123",
    "07700 900123",
    "2026-11-02T10:15:00Z",
    "2026-11-02T10:15:00",
    "2026-11-02 10:15:00Z",
    "2026-02-30T10:15:00Z",
    "2026-11-02",
    "2026-13-02",
    "0b6f3f1e-7c2a-4d4e-9a51-2f0c8d7e1a01",
    "0B6F3F1E-7C2A-4D4E-9A51-2F0C8D7E1A01",
    "0b6f3f1e7c2a4d4e9a512f0c8d7e1a01",
    "192.0.2.1",
    "2001:db8::1",
    "fe80::1%eth0",
    "999.1.1.1",
    "https://adverts.example/a/1",
    "ftp://adverts.example/",
    "a" * 201,
    "x-example-flag",
    "X-Example",
    "OFFICIAL-SENSITIVE",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    [],
    ["a"],
    [1],
    {},
    {"x-example-note": 1},
    {"unknown": 1},
]


def paths_of(node: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths_of(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths_of(value, (*prefix, index)))
    return found


def mutate(
    document: dict[str, Any], path: tuple[str | int, ...], action: str, value: object
) -> Any:
    mutated = copy.deepcopy(document)
    if not path:
        return value if action == "replace" else mutated
    parent: Any = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}_extra" if isinstance(last, str) else "extra"] = value
    elif action == "add":
        parent.append(copy.deepcopy(parent[last]))
    return mutated


EXAMPLE_DOCUMENTS = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES]


@st.composite
def mutated_examples(draw: st.DrawFn) -> object:
    document = draw(st.sampled_from(EXAMPLE_DOCUMENTS))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if not isinstance(document, dict):
            break
        path = draw(st.sampled_from(paths_of(document)))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        value = draw(st.one_of(st.sampled_from(REPLACEMENTS), st.text(max_size=12)))
        document = mutate(document, path, action, value)
    return document


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(mutated_examples())
def test_mutated_examples_agree(document: object) -> None:
    assert_agreement(document)
