"""The validator reports every finding with a pointer and a stable code, and never raises."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from strive_schema import Referral
from strive_schema._internal.ecma_regex import check_portable
from strive_schema.codes import SCHEMA_CODES, SEMANTIC_CODES, WARNING_CODES, ValidationCode
from strive_schema.taxonomy import is_known_indicator
from strive_schema.validator import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    iter_ndjson,
    validate_document,
    validate_json,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "spec/examples").glob("*.json"))
INVALID_DIR = ROOT / "tests/schema/invalid"
EXPECTED = (
    json.loads((INVALID_DIR / "expected.json").read_text())
    if (INVALID_DIR / "expected.json").exists()
    else {}
)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def findings(result: Any) -> list[tuple[str, str]]:
    return [(f.pointer, f.code) for f in result.errors]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_published_example_is_valid(path: Path) -> None:
    result = validate_json(path.read_bytes(), now=NOW)
    assert result.valid, findings(result)
    assert result.referral is not None


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=str)
def test_invalid_corpus_reports_the_expected_pointers_and_codes(name: str) -> None:
    result = validate_json((INVALID_DIR / name).read_bytes(), now=NOW)
    expected = [(e["pointer"], e["code"]) for e in EXPECTED[name]]
    assert sorted(findings(result)) == sorted(expected)


def test_every_invalid_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in INVALID_DIR.glob("*.json")} - {"expected.json"}
    assert files == set(EXPECTED)


# --- Reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_document"),
        (b"   \n", "empty_document"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b'{"schema_version": ', "invalid_json"),
        (b"{'single': 'quotes'}", "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": Infinity}', "invalid_json"),
        (b'{"a": 1, "a": 2}', "duplicate_key"),
        (b"[" * 100_000, "too_deep"),
        (b'{"extensions": {"x-a-b": ' + b"[" * 40 + b"]" * 40 + b"}}", "too_deep"),
        (b'{"phones": [{"extensions": {"x-a-b": ' + b"[" * 30 + b"]" * 30 + b"}}]}", "too_deep"),
        (b"[]", "not_an_object"),
        (b'"referral"', "not_an_object"),
        (b"null", "not_an_object"),
        (b" " * (MAX_DOCUMENT_BYTES + 1), "too_large"),
    ],
)
def test_unreadable_input_is_a_finding_not_a_traceback(raw: bytes, code: str) -> None:
    result = validate_json(raw)
    assert findings(result) == [("", code)]


def test_messages_never_quote_the_offending_value(minimal: dict[str, Any]) -> None:
    secret = "07700 900999 Jane Secret-Name"
    minimal["is_test"] = secret
    minimal["narrative"] = 12345
    minimal["reporter"]["case_reference"] = secret * 20
    result = validate_document(minimal)
    assert len(result.errors) == 3
    assert all(secret not in f.message and "12345" not in f.message for f in result.errors)


def test_every_error_is_reported_not_just_the_first(minimal: dict[str, Any]) -> None:
    del minimal["referral_id"]
    minimal["urgency"] = {"level": "immediate"}
    minimal["indicators"][0]["risk"] = "severe"
    minimal["handling"]["declaration"]["accurate_to_best_of_knowledge"] = False
    assert sorted(findings(validate_document(minimal))) == [
        ("/handling/declaration/accurate_to_best_of_knowledge", "invalid_value"),
        ("/indicators/0/risk", "invalid_value"),
        ("/referral_id", "missing_field"),
        ("/urgency/reason", "missing_field"),
    ]


# --- Semantic rules ---------------------------------------------------------------------------


def with_entities(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["accounts"] = [
        {"id": "acc-1", "platform_account_id": "A1", "phone_refs": ["ph-1"]},
        {"id": "acc-2", "platform_account_id": "A2"},
    ]
    document["phones"] = [{"id": "ph-1", "raw": "07700 900123", "e164": "+447700900123"}]
    document["emails"] = [{"id": "em-1", "address": "Jane@Example.com"}]
    document["adverts"] = [
        {
            "id": "ad-1",
            "platform_advert_id": "AD1",
            "account_ref": "acc-1",
            "first_seen_at": "2026-11-01T10:00:00Z",
            "last_seen_at": "2026-11-02T10:00:00Z",
        }
    ]
    document["indicators"][0]["evidence_refs"] = ["ad-1"]
    return document


def test_a_consistent_referral_has_no_semantic_findings(minimal: dict[str, Any]) -> None:
    result = validate_document(with_entities(minimal), now=NOW)
    assert result.valid and result.warnings == ()


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        (
            lambda d: d["phones"].append({"id": "acc-1", "raw": "x"}),
            "/phones/1/id",
            "duplicate_local_id",
        ),
        (
            lambda d: d["adverts"][0].update(account_ref="acc-9"),
            "/adverts/0/account_ref",
            "unknown_reference",
        ),
        (
            lambda d: d["adverts"][0].update(account_ref="ph-1"),
            "/adverts/0/account_ref",
            "reference_wrong_kind",
        ),
        (
            lambda d: d["accounts"][0]["phone_refs"].append("em-1"),
            "/accounts/0/phone_refs/1",
            "reference_wrong_kind",
        ),
        (
            lambda d: d["accounts"][0].update(
                linked_accounts=[{"account_ref": "acc-1", "basis": ["other"]}]
            ),
            "/accounts/0/linked_accounts/0/account_ref",
            "self_reference",
        ),
        (
            lambda d: d["indicators"][0]["evidence_refs"].append("nope"),
            "/indicators/0/evidence_refs/1",
            "unknown_reference",
        ),
        (lambda d: d.update(created_at="2099-01-01T00:00:00Z"), "/created_at", "created_in_future"),
        (
            lambda d: d["adverts"][0].update(last_seen_at="2026-10-01T10:00:00Z"),
            "/adverts/0/last_seen_at",
            "time_order",
        ),
        (
            lambda d: d["adverts"][0].update(
                first_seen_at="2026-11-30T10:00:00Z", last_seen_at="2026-11-30T11:00:00Z"
            ),
            "/adverts/0/first_seen_at",
            "time_order",
        ),
        (
            lambda d: d.update(
                payments=[
                    {
                        "id": "pay-1",
                        "occurred_at": "2026-11-01T10:00:00Z",
                        "declined": False,
                        "method": "debit_card",
                        "card_fingerprint": "4111111111111111",
                    }
                ]
            ),
            "/payments/0/card_fingerprint",
            "card_number_forbidden",
        ),
        (
            lambda d: d.update(
                supplements={"referral_id": d["referral_id"], "relationship": "adds_information"}
            ),
            "/supplements/referral_id",
            "self_reference",
        ),
    ],
)
def test_each_semantic_rule_points_at_the_field(
    minimal: dict[str, Any], change: Any, pointer: str, code: str
) -> None:
    document = with_entities(minimal)
    change(document)
    result = validate_document(document, now=NOW)
    assert (pointer, code) in findings(result)
    assert all(f.kind == "semantic" for f in result.errors)
    with pytest.raises(ValidationError, match=code):
        Referral.model_validate_json(json.dumps(document))


def test_a_payment_token_is_not_mistaken_for_a_card_number(minimal: dict[str, Any]) -> None:
    document = with_entities(minimal)
    document["payments"] = [
        {
            "id": "p",
            "occurred_at": "2026-11-01T10:00:00Z",
            "declined": True,
            "method": "prepaid_card",
            "card_fingerprint": "4111111111111112",
        }  # not Luhn-valid: a provider token
    ]
    assert validate_document(document, now=NOW).valid


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        (
            lambda d: (
                d["phones"][0].update(raw="call me on WhatsApp", e164=None)
                or d["phones"][0].pop("e164")
            ),
            "/phones/0/raw",
            "phone_unparseable",
        ),
        (
            lambda d: d["phones"][0].update(e164="+447700900124"),
            "/phones/0/e164",
            "phone_e164_mismatch",
        ),
        (
            lambda d: d["emails"][0].update(address="jane at example dot com"),
            "/emails/0/address",
            "email_unparseable",
        ),
        (
            lambda d: d["adverts"][0].update(advertised_age=16),
            "/adverts/0/advertised_age",
            "advertised_age_under_18",
        ),
        (
            lambda d: d["adverts"][0].update(
                image_hashes=[{"algorithm": "sha256", "value": "0" * 40}]
            ),
            "/adverts/0/image_hashes/0/value",
            "image_hash_length_unexpected",
        ),
        (
            lambda d: d["indicators"][0].update(evidence_refs=[]),
            "/indicators/0/evidence_refs",
            "indicator_without_evidence",
        ),
    ],
)
def test_untidy_selectors_warn_but_never_reject(
    minimal: dict[str, Any], change: Any, pointer: str, code: str
) -> None:
    document = with_entities(minimal)
    change(document)
    result = validate_document(document, now=NOW)
    assert result.valid
    assert [(w.pointer, w.code) for w in result.warnings] == [(pointer, code)]


def test_ndjson_reports_per_line(minimal: dict[str, Any]) -> None:
    good = json.dumps(minimal).encode()
    raw = b"\n".join([good, b"", b"{not json", good])
    results = list(iter_ndjson(raw))
    assert [line for line, _ in results] == [1, 3, 4]
    assert [r.valid for _, r in results] == [True, False, True]


def test_codes_are_partitioned_and_documented() -> None:
    assert not (SCHEMA_CODES & SEMANTIC_CODES) and not (SEMANTIC_CODES & WARNING_CODES)
    catalogue = (ROOT / "spec/errors.md").read_text(encoding="utf-8")
    missing = [code.value for code in ValidationCode if f"`{code.value}`" not in catalogue]
    assert missing == []


# --- One rule for bytes and parsed documents (issue: validator and receiver disagreed) ---------


def nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(extensions={"x-a-b": nested(MAX_DEPTH)}), ("", "too_deep")),
        (lambda d: d.update(extensions={"x-a-b": nested(MAX_DEPTH - 2)}), None),
        (lambda d: d.update(unknown=nested(40)), ("", "too_deep")),
        (lambda d: d.update(narrative=nested(500)), ("", "too_deep")),
        (lambda d: d.update(narrative="a lone \ud800 surrogate"), ("/narrative", "lone_surrogate")),
        (
            lambda d: d.update(extensions={"x-a-b": [1, {"k": "\udc00"}]}),
            ("/extensions/x-a-b/1/k", "lone_surrogate"),
        ),
        # A member name cannot be written into a pointer: the pointer names its object.
        (
            lambda d: d.update(extensions={"x-a-b": {"\ud800": 1}}),
            ("/extensions/x-a-b", "lone_surrogate"),
        ),
        (lambda d: d.update(narrative="a paired \U0001f600 surrogate is text"), None),
    ],
    ids=[
        "extension too deep",
        "extension at the limit",
        "unknown member too deep",
        "wrong type too deep",
        "lone surrogate",
        "lone surrogate in an extension",
        "lone surrogate in a name",
        "surrogate pair",
    ],
)
def test_parsed_documents_and_bytes_get_the_same_reading_findings(
    minimal: dict[str, Any], change: Any, expected: tuple[str, str] | None
) -> None:
    change(minimal)
    as_bytes = validate_json(json.dumps(minimal))  # ASCII: surrogates as \u escapes
    as_text = validate_json(json.dumps(minimal, ensure_ascii=False))  # raw surrogate code points
    parsed = validate_document(minimal)
    for result in (as_bytes, as_text, parsed):
        assert findings(result) == ([expected] if expected else [])
        assert all(f.kind == "semantic" for f in result.errors)


def test_the_size_of_a_parsed_document_is_its_compact_form(minimal: dict[str, Any]) -> None:
    minimal["extensions"] = {"x-test-padding": ""}
    base = len(json.dumps(minimal, separators=(",", ":")).encode())
    minimal["extensions"]["x-test-padding"] = "a" * (MAX_DOCUMENT_BYTES - base)
    assert validate_document(minimal).valid
    pretty = json.dumps(minimal, indent=2).encode()
    assert findings(validate_json(pretty)) == [("", "too_large")]  # the bytes as given
    minimal["extensions"]["x-test-padding"] += "é"  # two bytes of UTF-8
    assert findings(validate_document(minimal)) == [("", "too_large")]


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("port", 443.0, None),
        ("port", -0.0, None),
        ("port", 443.5, ("/technical_events/0/port", "wrong_type")),
        ("port", 65536.0, ("/technical_events/0/port", "out_of_range")),
        ("port", True, ("/technical_events/0/port", "wrong_type")),
        ("port", "443", ("/technical_events/0/port", "wrong_type")),
    ],
)
def test_integral_numbers_are_integers_as_in_json_schema(
    minimal: dict[str, Any], member: str, value: object, expected: tuple[str, str] | None
) -> None:
    event = {"id": "ev-1", "event_type": "login", "occurred_at": minimal["created_at"]}
    minimal["technical_events"] = [{**event, member: value}]
    result = validate_document(minimal, now=NOW)
    assert findings(result) == ([expected] if expected else [])
    if expected is None:
        assert result.referral is not None
        assert result.referral.technical_events[0].port == int(value)  # type: ignore[call-overload]


def test_every_constrained_string_of_the_examples_refuses_nul() -> None:
    # Walk one occurrence of every member the examples use; U+0000 appended to it is reported
    # as nul_character at its pointer, whatever else constrains the member.
    seen: set[tuple[str, ...]] = set()
    checked = 0
    for path in EXAMPLES:
        document = json.loads(path.read_text(encoding="utf-8"))
        stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
        while stack:
            node, where = stack.pop()
            if isinstance(node, dict):
                stack.extend((v, (*where, k)) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((v, (*where, i)) for i, v in enumerate(node))
            elif isinstance(node, str):
                shape = tuple("*" if isinstance(s, int) else s for s in where)
                if shape in seen:
                    continue
                seen.add(shape)
                mutated = copy.deepcopy(document)
                parent: Any = mutated
                for step in where[:-1]:
                    parent = parent[step]
                parent[where[-1]] = node + "\x00"
                pointer = "".join(f"/{step}" for step in where)
                assert (pointer, "nul_character") in findings(validate_document(mutated)), pointer
                checked += 1
    assert checked >= 90


def test_extension_indicator_codes_are_matched_as_ecma_262() -> None:
    assert is_known_indicator("x-acme-flag")
    assert not is_known_indicator("x-acme-flag\n")


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\s$",
        r"^\d+$",
        r"^\w$",
        r"^a.b$",
        r"^(?=a)a$",
        r"^[a-z&&[^b]]$",
        r"^[[:alpha:]]$",
        r"\bx",
        r"a\-b",
    ],
)
def test_patterns_that_mean_different_things_to_ecma_262_and_rust_are_refused(
    pattern: str,
) -> None:
    with pytest.raises(ValueError, match=r"ECMA-262|portable"):
        check_portable(pattern)


def test_a_renamed_local_id_with_a_newline_is_a_schema_error_not_a_dangling_reference(
    minimal: dict[str, Any],
) -> None:
    # "em-1\n" matched the local-id pattern under Python's re ("$" before a final newline);
    # the semantic rules then ran and reported only unknown_reference.
    document = with_entities(minimal)
    document["emails"][0]["id"] = "em-1\n"
    document["indicators"][0]["evidence_refs"] = ["em-1\n"]
    result = validate_document(document, now=NOW)
    assert sorted(findings(result)) == [
        ("/emails/0/id", "invalid_format"),
        ("/indicators/0/evidence_refs/0", "invalid_format"),
    ]
    assert all(f.kind == "schema" for f in result.errors)


def test_every_published_pattern_is_portable_and_anchored() -> None:
    schema = json.loads((ROOT / "spec/schema/v1/referral.schema.json").read_text())
    patterns: list[str] = []
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    assert len(set(patterns)) > 15
    for pattern in set(patterns):
        check_portable(pattern)
        assert pattern.startswith("^") and pattern.endswith("$"), pattern
