"""``spec/vectors/referral/`` and ``spec/vectors/log/`` run through the library: the validator
gives exactly the findings a vector lists, and each log check gives exactly its code."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from _protocol_support import load_vectors

from strive_client._tlog import LogTrust, verified_checkpoint
from strive_schema._vectors_negative import referral_document_bytes
from strive_schema.codes import READ_CODES, SCHEMA_CODES, ValidationCode
from strive_schema.envelope import parse_timestamp
from strive_schema.errors import LogError
from strive_schema.note import NoteVerifier, verify_promise
from strive_schema.tlog import parse_entry_bundle, verify_consistency, verify_inclusion
from strive_schema.validator import validate_json

ROOT = Path(__file__).resolve().parents[2]
REFERRALS = load_vectors("referral")
LOGS = load_vectors("log")


@pytest.mark.parametrize(("name", "vector"), REFERRALS, ids=[n for n, _ in REFERRALS])
def test_referral_vectors_give_exactly_their_findings(name: str, vector: dict[str, Any]) -> None:
    raw = referral_document_bytes(vector)
    result = validate_json(
        raw,
        now=parse_timestamp(vector["validate"]["now"]),
        default_region=vector["validate"]["default_region"],
    )
    expected = vector["expected"]
    assert [{"pointer": f.pointer, "code": f.code} for f in result.errors] == expected["errors"]
    assert [{"pointer": f.pointer, "code": f.code} for f in result.warnings] == expected["warnings"]
    assert result.valid is expected["valid"]
    target = vector["target"]
    if target is not None:
        assert target in expected["errors"] + expected["warnings"], name


def test_every_code_a_document_can_produce_has_a_referral_vector() -> None:
    targeted = {v["target"]["code"] for _, v in REFERRALS if v["target"] is not None}
    # No member of schema 1.x is deprecated (spec/vectors/index.json says where it is tested).
    assert targeted == {code.value for code in ValidationCode} - {"deprecated_field"}


SCHEMA_VALIDATOR = jsonschema_rs.validator_for(
    json.loads((ROOT / "spec/schema/v1/referral.schema.json").read_text(encoding="utf-8")),
    validate_formats=True,
)


def test_an_independent_schema_validator_refuses_exactly_the_schema_error_vectors() -> None:
    """The published JSON Schema, read by jsonschema_rs (Rust, ECMA-262 patterns), refuses a
    readable document exactly when its vector lists a schema error."""
    checked = 0
    for name, vector in REFERRALS:
        codes = {f["code"] for f in vector["expected"]["errors"]}
        if codes & READ_CODES or "document" not in vector:
            continue
        refused = not SCHEMA_VALIDATOR.is_valid(json.loads(vector["document"]))
        assert refused == bool(codes & SCHEMA_CODES), name
        checked += 1
    assert checked >= 25


def test_the_too_large_vector_is_one_byte_over_the_limit() -> None:
    (vector,) = [v for n, v in REFERRALS if n == "too-large"]
    assert len(referral_document_bytes(vector)) == 1_500_001


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _run_log_check(check: str, given: dict[str, Any]) -> object:
    if check == "checkpoint":
        trust = LogTrust(
            NoteVerifier.from_vkey(given["log_vkey"]),
            tuple(NoteVerifier.from_vkey(w) for w in given["witness_vkeys"]),
            given["quorum"],
        )
        return verified_checkpoint(given["note"], trust)
    if check == "inclusion":
        verify_inclusion(
            given["leaf_index"],
            given["tree_size"],
            bytes.fromhex(given["leaf_hash_hex"]),
            _hashes(given["proof_hex"]),
            bytes.fromhex(given["root_hash_hex"]),
        )
        return None
    if check == "consistency":
        verify_consistency(
            given["old_size"],
            given["new_size"],
            bytes.fromhex(given["old_root_hex"]),
            bytes.fromhex(given["new_root_hex"]),
            _hashes(given["proof_hex"]),
        )
        return None
    if check == "entry_bundle":
        return [e.hex() for e in parse_entry_bundle(bytes.fromhex(given["bundle_hex"]))]
    if check == "promise":
        return verify_promise(
            given["note"],
            NoteVerifier.from_vkey(given["log_vkey"]),
            bytes.fromhex(given["leaf_hash_hex"]),
        )
    raise AssertionError(f"unknown check {check}")


@pytest.mark.parametrize(("name", "vector"), LOGS, ids=[n for n, _ in LOGS])
def test_log_vectors_give_exactly_their_code(name: str, vector: dict[str, Any]) -> None:
    if vector["expected_error"] is not None:
        with pytest.raises(LogError) as caught:
            _run_log_check(vector["check"], vector["input"])
        assert caught.value.code == vector["expected_error"], name
        return
    result = _run_log_check(vector["check"], vector["input"])
    expected = vector.get("expected", {})
    if vector["check"] == "entry_bundle":
        assert result == expected["entries_hex"]
    if vector["check"] == "promise":
        assert result == expected["include_by"]
    if vector["check"] == "checkpoint":
        size = vector["input"]["note"].split("\n")[1]
        assert getattr(result, "size", None) == int(size)


def test_the_valid_inclusion_vector_names_its_entry() -> None:
    (vector,) = [v for n, v in LOGS if n == "inclusion-valid"]
    entry = bytes.fromhex(vector["expected"]["entry_hex"])
    assert hashlib.sha256(b"\x00" + entry).hexdigest() == vector["input"]["leaf_hash_hex"]


def test_checkpoint_vectors_are_signed_notes_with_base64_signatures() -> None:
    for name, vector in LOGS:
        if vector["check"] != "checkpoint" or name == "checkpoint-no-blank-line":
            continue
        _, block = vector["input"]["note"].rsplit("\n\n", 1)
        for line in block.splitlines():
            assert line.startswith("\u2014 "), name
            base64.b64decode(line.split(" ")[2], validate=True)
        json.dumps(vector)  # plain JSON, nothing binary
