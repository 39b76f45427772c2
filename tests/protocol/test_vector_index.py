"""``spec/vectors/index.json``: it lists every vector file with the outcome the file states,
every refusal code of the specification has a vector or a stated reason and a place that
covers it, and every kind of vector is run through the library by some test."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from _protocol_support import VECTORS

from strive_schema._vectors_index import NOT_OFFLINE, registry_codes
from strive_schema.codes import ProblemCode, ValidationCode
from strive_schema.errors import LogCode, ProtocolCode, SealedCode

ROOT = Path(__file__).resolve().parents[2]
INDEX: dict[str, Any] = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))

#: The test module that runs each kind of vector through the library.
RUNNERS = {
    "canonical": "tests/protocol/test_canonical_vectors.py",
    "envelope": "tests/protocol/test_protocol_vectors.py",
    "receipt": "tests/protocol/test_protocol_vectors.py",
    "httpsig": "tests/protocol/test_protocol_vectors.py",
    "referral": "tests/protocol/test_negative_vectors.py",
    "log": "tests/protocol/test_negative_vectors.py",
    "lifecycle": "tests/protocol/test_key_lifecycle.py",
    "sealed": "tests/schema/test_sealed_vectors.py",
}

#: Problem codes no test of this repository produces yet: known gaps, reported, not hidden.
UNTESTED_PROBLEM_CODES: set[str] = set()


def test_the_index_lists_exactly_the_vector_files() -> None:
    on_disk = sorted(
        path.relative_to(VECTORS).as_posix()
        for path in VECTORS.rglob("*.json")
        if path.name not in ("index.json", "keys.json")
    )
    assert [entry["path"] for entry in INDEX["vectors"]] == on_disk


def test_each_entry_states_the_outcome_its_file_states() -> None:
    for entry in INDEX["vectors"]:
        document = json.loads((VECTORS / entry["path"]).read_text(encoding="utf-8"))
        if entry["kind"] == "sealed":
            expected = document["expected"]
            stated = None if expected["opens"] else expected["code"]
        elif entry["kind"] == "lifecycle":
            stated = document["expected"]["code"]
        else:
            stated = document["expected_error"]
        assert entry["expected_error"] == stated, entry["path"]
        assert entry["expected_outcome"] in ("accept", "accept_with_warnings", "refuse")
        assert (entry["expected_outcome"] == "refuse") == (stated is not None), entry["path"]
        assert entry["kind"].split("/")[0] in INDEX["procedures"], entry["path"]


def test_every_kind_of_vector_has_a_test_that_runs_it() -> None:
    kinds = {entry["kind"].split("/")[0] for entry in INDEX["vectors"]}
    assert kinds <= set(RUNNERS), kinds - set(RUNNERS)
    for kind in kinds:
        text = (ROOT / RUNNERS[kind]).read_text(encoding="utf-8")
        assert f'"{kind}"' in text, (kind, RUNNERS[kind])  # it loads that directory


def test_the_registry_is_every_code_of_the_specification() -> None:
    expected = {
        code.value
        for enum in (ProtocolCode, ValidationCode, SealedCode, LogCode, ProblemCode)
        for code in enum
    }
    assert set(registry_codes()) == expected
    assert set(INDEX["codes"]) == expected
    spec_codes = json.loads((ROOT / "spec/validation-codes.json").read_text(encoding="utf-8"))
    assert {c for group in spec_codes.values() for c in group} <= expected
    errors_md = (ROOT / "spec/errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", errors_md, re.MULTILINE))
    assert documented <= expected, documented - expected
    # ...and the other way round: every code of the registry is defined in spec/.
    spec_text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "spec").glob("*.md")))
    assert {c for c in expected if f"`{c}`" not in spec_text} == set()


def test_every_code_has_a_vector_or_a_reason_and_a_place_that_covers_it() -> None:
    untested = set()
    for code, entry in INDEX["codes"].items():
        if entry["vectors"]:
            for path in entry["vectors"]:
                assert (VECTORS / path).is_file(), path
            assert code not in NOT_OFFLINE, f"{code} has a vector now: drop it from NOT_OFFLINE"
            continue
        assert entry["not_offline"], code
        covered_by = entry["covered_by"]
        if covered_by is None:
            untested.add(code)
            continue
        text = (ROOT / covered_by).read_text(encoding="utf-8")
        member = next(
            m.name
            for enum in (ProtocolCode, ValidationCode, LogCode, ProblemCode)
            for m in enum
            if m.value == code
        )
        assert code in text or f".{member}" in text, (code, covered_by)
    assert untested == UNTESTED_PROBLEM_CODES


def test_only_server_state_codes_lack_a_vector() -> None:
    without = {code for code, entry in INDEX["codes"].items() if not entry["vectors"]}
    library = {
        c.value for enum in (ProtocolCode, ValidationCode, SealedCode, LogCode) for c in enum
    }
    # Every library code has a vector but the ones NOT_OFFLINE names, each with its reason.
    assert without & library == set(NOT_OFFLINE)
    assert without - library <= {c.value for c in ProblemCode}
