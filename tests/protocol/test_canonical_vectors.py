"""``spec/vectors/canonical/``: every expected JCS form is what this package writes, what the
``rfc8785`` package writes, and (where Node.js is installed) what a JCS written on
ECMAScript's own ``JSON.stringify`` and UTF-16 ``sort`` writes; every refusal is refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from typing import Any

import pytest
import rfc8785
from _protocol_support import load_vectors

from strive_schema._vectors_canonical import canonicalise_text

CANONICAL = load_vectors("canonical")
ACCEPTED = [(name, v) for name, v in CANONICAL if v["expected_error"] is None]
REFUSED = [(name, v) for name, v in CANONICAL if v["expected_error"] is not None]
NODE = shutil.which("node")
REFUSAL_MESSAGES = {
    "duplicate_member": "duplicate member name",
    "lone_surrogate": "lone surrogate",
    "integer_outside_i_json": "no RFC 8785 canonical form",
    "number_not_finite": "no RFC 8785 canonical form",
    "not_json": "is not JSON",
}


class NotJSONError(Exception):
    """NaN or Infinity met by the standard library's reader."""


def _refuse_constant(name: str) -> None:
    raise NotJSONError(name)


def test_the_boundaries_the_issue_names_are_all_there() -> None:
    names = {name for name, _ in CANONICAL}
    for required in (
        "number-rfc8785-0000000000000000",  # 0
        "number-rfc8785-8000000000000000",  # -0
        "number-rfc8785-0000000000000001",  # 5e-324
        "number-rfc8785-7fefffffffffffff",  # the largest double
        "number-1e20-plain",
        "number-1e21-exponent",
        "number-1e-6-plain",
        "number-1e-7-exponent",
        "integer-at-the-i-json-limit",
        "integer-beyond-the-i-json-limit",
        "integer-below-the-i-json-limit",
        "string-control-characters",
        "string-delete-and-line-separators",
        "string-quote-backslash-solidus",
        "string-lone-high-surrogate",
        "sort-utf16-astral-before-private-use",
        "nested-empty-containers",
        "string-no-unicode-normalisation",
        "duplicate-member",
        "rfc8785-example-3-2-2",
        "rfc8785-example-3-2-3",
    ):
        assert required in names, required
    assert len(REFUSED) >= 8


@pytest.mark.parametrize(("name", "vector"), ACCEPTED, ids=[n for n, _ in ACCEPTED])
def test_this_package_and_rfc8785_write_the_expected_bytes(
    name: str, vector: dict[str, Any]
) -> None:
    expected = vector["expected"]
    canonical = bytes.fromhex(expected["canonical_hex"])
    assert canonical == expected["canonical"].encode("utf-8")
    assert hashlib.sha256(canonical).hexdigest() == expected["sha256"]
    assert hashlib.sha256(vector["input"].encode()).hexdigest() == vector["input_sha256"]
    assert canonicalise_text(vector["input"]) == canonical, name
    # The second implementation reads with the standard library and writes with rfc8785.
    assert rfc8785.dumps(json.loads(vector["input"])) == canonical, name


@pytest.mark.parametrize(("name", "vector"), REFUSED, ids=[n for n, _ in REFUSED])
def test_refused_inputs_are_refused_by_both(name: str, vector: dict[str, Any]) -> None:
    assert vector["expected_error"] == "payload_malformed"
    refusal = vector["refusal"]
    with pytest.raises(ValueError, match=REFUSAL_MESSAGES[refusal]):
        canonicalise_text(vector["input"])
    if refusal == "duplicate_member":  # rfc8785 has no reader: show a name repeats
        repeated: list[bool] = []

        def record(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            repeated.append(len({k for k, _ in pairs}) != len(pairs))
            return dict(pairs)

        json.loads(vector["input"], object_pairs_hook=record)
        assert any(repeated), name
    elif refusal == "not_json":
        with pytest.raises(NotJSONError):
            json.loads(vector["input"], parse_constant=_refuse_constant)
    else:
        expected: type[Exception] | tuple[type[Exception], ...] = {
            "integer_outside_i_json": rfc8785.IntegerDomainError,
            "number_not_finite": rfc8785.FloatDomainError,
            # in a member name rfc8785 fails while sorting by UTF-16: a refusal all the same
            "lone_surrogate": (rfc8785.CanonicalizationError, UnicodeEncodeError),
        }[refusal]
        with pytest.raises(expected):
            rfc8785.dumps(json.loads(vector["input"]))


def test_appendix_b_vectors_hold_the_double_they_name() -> None:
    rows = [(n, v) for n, v in ACCEPTED if "ieee754_hex" in v]
    assert len(rows) == 24
    for name, vector in rows:
        value = json.loads(vector["input"])["n"]
        assert struct.pack(">d", value).hex() in (
            vector["ieee754_hex"],
            # JSON has no -0 integer; -0.0 reads back as the same double
            "8000000000000000" if vector["ieee754_hex"] == "8000000000000000" else "",
        ), name


# A third writer: JCS is ECMAScript's JSON.stringify for scalars, with members sorted by
# Array.prototype.sort, which compares UTF-16 code units.
_NODE_JCS = r"""
const jcs = (v) => v === null || typeof v !== "object" ? JSON.stringify(v)
  : Array.isArray(v) ? "[" + v.map(jcs).join(",") + "]"
  : "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + jcs(v[k])).join(",") + "}";
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map((text) => jcs(JSON.parse(text)))));
});
"""


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_ecmascript_writes_the_expected_bytes() -> None:
    assert NODE is not None
    completed = subprocess.run(
        [NODE, "-e", _NODE_JCS],
        input=json.dumps([v["input"] for _, v in ACCEPTED]).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    written = json.loads(completed.stdout.decode("utf-8"))
    for (name, vector), text in zip(ACCEPTED, written, strict=True):
        assert text.encode("utf-8").hex() == vector["expected"]["canonical_hex"], name
