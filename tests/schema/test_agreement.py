"""The published JSON Schema, the pydantic models and the validator agree on every document,
and so do independent JSON Schema implementations.

The only documented exceptions are the semantic rules (spec/semantic-rules.md), reading rules
included: a document may pass the JSON Schema and still be invalid for a semantic reason,
never the other way.

Two JSON Schema implementations judge the published schema here:

* ``jsonschema-rs`` (Rust; its own ECMA-262 regular expressions and format checks): the
  independent one. It shares no code with the project.
* ``ajv`` under Node (JavaScript's own ECMA-262 engine), when Node and ``tests/schema/ajv``
  are installed; the test says how to install it when they are not.
* ``python-jsonschema``, as the validator uses it to explain a rejection, with ``pattern``
  evaluated as ECMA-262 (its own check uses ``re.search``, where ``$`` also matches before a
  final newline).

The documents are the examples, the invalid corpus, systematic mutations of the examples
(every string with a trailing newline, white space that ECMA-262 and Python disagree on, NUL,
a lone surrogate and a very long value; every integer as an integral float; every local id
renamed with its references) and random mutations drawn by hypothesis.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.validators import extend
from pydantic import ValidationError

from strive_schema._internal.ecma_regex import search as ecma_search
from strive_schema.codes import READ_CODES
from strive_schema.models import SKIP_SEMANTICS, Referral
from strive_schema.validator import MAX_DEPTH, validate_json

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_SCHEMA = json.loads(
    (ROOT / "spec/schema/v1/referral.schema.json").read_text(encoding="utf-8")
)


def _ecma_pattern(validator: Any, pattern: str, instance: object, schema: object) -> Iterator[Any]:
    if isinstance(instance, str) and not ecma_search(pattern, instance):
        yield SchemaViolation("does not match the pattern")


JSON_SCHEMA = extend(Draft202012Validator, {"pattern": _ecma_pattern})(
    COMMITTED_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)
INDEPENDENT = jsonschema_rs.validator_for(COMMITTED_SCHEMA, validate_formats=True)
EXAMPLES = sorted((ROOT / "spec/examples").glob("*.json"))
INVALID = sorted((ROOT / "tests/schema/invalid").glob("*.json"))
EXAMPLE_DOCUMENTS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES}


def model_accepts(document: object) -> bool:
    try:
        Referral.model_validate_json(
            json.dumps(document, ensure_ascii=False), context={SKIP_SEMANTICS: True}
        )
    except ValidationError:
        return False
    return True


def is_unicode_text(document: object) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def depth(node: object) -> int:
    if isinstance(node, dict):
        return 1 + max((depth(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((depth(v) for v in node), default=0)
    return 0


def assert_agreement(document: object) -> None:
    result = validate_json(json.dumps(document))
    if not is_unicode_text(document) or depth(document) > MAX_DEPTH:
        # Reading rules (lone_surrogate, too_deep): documented, outside JSON Schema, and the
        # only finding. jsonschema-rs cannot even be handed a string that is not Unicode.
        assert [e.code for e in result.errors] in (["lone_surrogate"], ["too_deep"])
        return
    independent_ok = INDEPENDENT.is_valid(document)
    assert JSON_SCHEMA.is_valid(document) == independent_ok, "jsonschema and jsonschema-rs differ"
    assert model_accepts(document) == independent_ok, "models and jsonschema-rs disagree"
    schema_errors = [e for e in result.errors if e.kind == "schema"]
    assert (not schema_errors) == independent_ok, (
        "validator schema errors disagree with jsonschema-rs",
        [(e.pointer, e.code) for e in result.errors],
    )
    if not independent_ok:
        assert not result.valid
        assert all(e.code not in READ_CODES or e.code == "not_an_object" for e in result.errors)


def test_the_format_checker_asserts_date_times() -> None:
    # Without rfc3339-validator, jsonschema silently skips date-time; agreement would be luck.
    checker = Draft202012Validator.FORMAT_CHECKER
    assert not checker.conforms("2026-02-30T10:00:00Z", "date-time")


def test_the_independent_implementation_reads_patterns_as_ecma_262() -> None:
    # What the issue found: Python's "$" and "\s" are not ECMA-262's.
    assert not INDEPENDENT.is_valid({"schema_version": "1.0\n"})
    pattern = jsonschema_rs.validator_for({"pattern": r"^\s$"})
    assert pattern.is_valid("\ufeff") and not pattern.is_valid("\x1c")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_agree(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert INDEPENDENT.is_valid(document)
    assert_agreement(document)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_corpus_agrees(path: Path) -> None:
    assert_agreement(json.loads(path.read_text(encoding="utf-8")))


# --- Systematic mutations --------------------------------------------------------------------

Path_ = tuple[str | int, ...]

#: Characters ECMA-262 and Python's re disagree on (white space), and their neighbours.
WHITE_SPACE_PROBES = ["\ufeff", "\x1c", "\x1f", "\x85", "\u3000", "\u00a0", "\u2028", "\t"]


def leaves(node: object, prefix: Path_ = ()) -> Iterator[tuple[Path_, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*prefix, index))
    else:
        yield prefix, node


def template(path: Path_) -> tuple[str, ...]:
    return tuple("*" if isinstance(step, int) else step for step in path)


def replaced(document: dict[str, Any], path: Path_, value: object) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    parent: Any = mutated
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return mutated


def string_variants(value: str) -> Iterator[tuple[str, str]]:
    yield "trailing newline", value + "\n"
    yield "leading newline", "\n" + value
    yield "NUL", value + "\x00"
    yield "lone surrogate", value + "\ud800"
    yield "very long", value + "a" * 20_001
    yield "empty", ""
    for char in WHITE_SPACE_PROBES:
        yield f"U+{ord(char):04X} inside", value[:1] + char + value[1:]


def number_variants(value: int | float) -> Iterator[tuple[str, object]]:
    yield "integral float", float(value)
    yield "fraction", value + 0.5
    yield "negative integral float", -float(value) - 1.0
    yield "large", 2**53


def renamed_ids(document: dict[str, Any], suffix: str) -> Iterator[dict[str, Any]]:
    """One document per entity: its id, and every reference to it, get ``suffix``."""
    for path, value in leaves(document):
        if path[-1] != "id" or not isinstance(value, str):
            continue
        mutated = copy.deepcopy(document)
        for where, other in leaves(document):
            if other == value:
                parent: Any = mutated
                for step in where[:-1]:
                    parent = parent[step]
                parent[where[-1]] = value + suffix
        yield mutated


def systematic_mutations() -> Iterator[Any]:
    seen: set[tuple[str, ...]] = set()
    # The smallest example holding each member first, so each document is cheap to judge.
    for document in sorted(EXAMPLE_DOCUMENTS.values(), key=lambda d: len(json.dumps(d))):
        for path, value in leaves(document):
            if not path or template(path) in seen:
                continue
            seen.add(template(path))
            if isinstance(value, str):
                for label, variant in string_variants(value):
                    yield pytest.param(replaced(document, path, variant), id=f"{path} {label}")
            elif isinstance(value, int | float) and not isinstance(value, bool):
                for label, number in number_variants(value):
                    yield pytest.param(replaced(document, path, number), id=f"{path} {label}")
    base = EXAMPLE_DOCUMENTS["messy-selectors.json"]
    for suffix in ("\n", "\x00", "\ufeff", "\ud800"):
        for index, mutated in enumerate(renamed_ids(base, suffix)):
            yield pytest.param(mutated, id=f"local id {index} renamed with {suffix!r}")
    for name in ("x-acme-note", "x-acme-note\n", "x-acme-note\x00", "x-acme\ud800-note"):
        for value in ("text", "text\n", "text\x00", {"k\x00": 1}, ["a", ["b\x00"]], 443.0):
            yield pytest.param(
                {**base, "extensions": {name: value}}, id=f"extension {name!r}: {value!r}"
            )
    for code in ("x-acme-flag", "x-acme-flag\n", "x-acme-" + "a" * 100, "x-acme-flag\x00"):
        indicators = [{**base["indicators"][0], "code": code}]
        yield pytest.param({**base, "indicators": indicators}, id=f"indicator code {code!r}")
    nested: Any = "deep"
    for _ in range(MAX_DEPTH):
        nested = [nested]
    yield pytest.param({**base, "extensions": {"x-acme-deep": nested}}, id="extension at depth")


@pytest.mark.parametrize("document", list(systematic_mutations()))
def test_systematic_mutations_agree(document: Any) -> None:
    assert_agreement(document)


def test_the_systematic_mutations_cover_what_the_issue_found() -> None:
    ids = [param.id for param in systematic_mutations()]
    assert len(ids) > 1000
    for fragment in ("'country') trailing newline", "'e164') trailing newline", "U+FEFF"):
        assert any(fragment in i for i in ids), fragment


# --- Random mutations ------------------------------------------------------------------------

REPLACEMENTS: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    151,
    65536,
    1.5,
    443.0,
    1e2,
    -0.0,
    2**53,
    "",
    "x",
    "1.0",
    "2.0",
    "routine",
    "immediate",
    "GB",
    "GB\n",
    "gb",
    "GBP",
    "GBP\n",
    "49.99",
    "-1",
    "1e3",
    "+447700900123",
    "+447700900101\n",
    "07700 900123",
    "2026-11-02T10:15:00Z",
    "2026-11-02T10:15:00Z\n",
    "2026-11-02T10:15:00",
    "2026-11-02 10:15:00Z",
    "2026-02-30T10:15:00Z",
    "2026-11-02",
    "2026-13-02",
    "0b6f3f1e-7c2a-4d4e-9a51-2f0c8d7e1a01",
    "0B6F3F1E-7C2A-4D4E-9A51-2F0C8D7E1A01",
    "0b6f3f1e7c2a4d4e9a512f0c8d7e1a01",
    "192.0.2.1",
    "192.0.2.1\n",
    "2001:db8::1",
    "fe80::1%eth0",
    "999.1.1.1",
    "https://adverts.example/a/1",
    "https://adverts.example/a\ufeff1",
    "https://adverts.example/a\x1c1",
    "ftp://adverts.example/",
    "jane@example.org",
    "jane\ufeff@example.org",
    "jane\x85@example.org",
    "a" * 201,
    "a" * 20_001,
    "nul\x00",
    "lone\ud800",
    "x-example-flag",
    "x-example-flag\n",
    "X-Example",
    "OFFICIAL-SENSITIVE",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    [],
    ["a"],
    [1],
    {},
    {"x-example-note": 1},
    {"x-example-note\n": 1},
    {"x-example-note": "a\x00"},
    {"unknown": 1},
]


def paths_of(node: object, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths_of(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths_of(value, (*prefix, index)))
    return found


def mutate(document: dict[str, Any], path: Path_, action: str, value: object) -> Any:
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


@st.composite
def mutated_examples(draw: st.DrawFn) -> object:
    document = draw(st.sampled_from(list(EXAMPLE_DOCUMENTS.values())))
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


# --- ajv under Node, when it is installed -----------------------------------------------------

AJV_DIR = Path(__file__).parent / "ajv"


def ajv_verdicts(documents: list[Any]) -> list[bool]:
    """Judge every document with ajv in one Node process, or skip saying why not."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: ajv, the optional second independent judge, needs it")
    if not (AJV_DIR / "node_modules" / "ajv").is_dir():
        pytest.skip(f"ajv is not installed: npm install --no-package-lock --prefix {AJV_DIR}")
    lines = "".join(json.dumps(d) + "\n" for d in documents)
    completed = subprocess.run(
        [node, str(AJV_DIR / "judge.cjs"), str(ROOT / "spec/schema/v1/referral.schema.json")],
        input=lines, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return [line == "true" for line in completed.stdout.splitlines()]


def test_ajv_agrees_with_jsonschema_rs_on_every_document() -> None:
    documents = [json.loads(p.read_text(encoding="utf-8")) for p in [*EXAMPLES, *INVALID]]
    documents += [param.values[0] for param in systematic_mutations()]
    documents = [d for d in documents if is_unicode_text(d) and depth(d) <= MAX_DEPTH]
    verdicts = ajv_verdicts(documents)
    assert len(verdicts) == len(documents)
    disagreements = [
        d
        for d, ajv_ok in zip(documents, verdicts, strict=True)
        if ajv_ok != INDEPENDENT.is_valid(d)
    ]
    assert disagreements == []
