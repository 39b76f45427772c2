"""The committed OpenAPI document is current, 3.1, and its operation ids are stable."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strive_server.openapi import OPENAPI_PATH, render_openapi

ROOT = Path(__file__).resolve().parents[2]

PINNED_OPERATIONS = {
    ("post", "/v1/referrals"): "submitReferral",
    ("post", "/v1/referrals/batch"): "submitReferralBatch",
    ("get", "/.well-known/strive-configuration"): "getConfiguration",
    ("get", "/v1/referrals/{referral_id}/status"): "getReferralStatus",
    ("get", "/v1/information-requests"): "listInformationRequests",
    ("get", "/v1/referrals/{referral_id}"): "getReferral",
    ("get", "/v1/stats"): "getStatistics",
}


def test_committed_openapi_is_current() -> None:
    committed = (ROOT / OPENAPI_PATH).read_text(encoding="utf-8")
    assert committed == render_openapi(), (
        "spec/openapi.json is stale: run `python -m strive_server.openapi` and commit it"
    )


def test_openapi_is_3_1_with_stable_unique_operation_ids() -> None:
    document = json.loads((ROOT / OPENAPI_PATH).read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.1")
    operations = {
        (method, path): op["operationId"]
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert len(set(operations.values())) == len(operations)
    for key, operation_id in PINNED_OPERATIONS.items():
        assert operations[key] == operation_id


def test_every_problem_code_is_in_the_catalogue() -> None:
    from strive_schema.codes import ProblemCode
    from strive_schema.errors import LogCode, ProtocolCode

    catalogue = (ROOT / "spec/errors.md").read_text(encoding="utf-8")
    assert [c.value for c in ProblemCode if f"`{c.value}`" not in catalogue] == []
    assert [c.value for c in ProtocolCode if f"`{c.value}`" not in catalogue] == []
    assert [c.value for c in LogCode if f"`{c.value}`" not in catalogue] == []


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / OPENAPI_PATH).read_text(encoding="utf-8"))
    return document


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_refusal_is_a_problem_document_and_no_validation_error_is_published() -> None:
    document = _document()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(document)
    for method, path, operation in _operations():
        refusals = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert "422" in refusals, (method, path)
        for status, response in refusals.items():
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (method, path, status)


def test_the_problem_schema_lists_every_stable_code_and_findings_with_pointers() -> None:
    from strive_schema.codes import ProblemCode
    from strive_schema.errors import LogCode, ProtocolCode

    schemas = _document()["components"]["schemas"]
    problem = schemas["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "code"}
    codes = set(problem["properties"]["code"]["enum"])
    assert codes == {c.value for c in (*ProblemCode, *ProtocolCode, *LogCode)}
    assert "pointer" in schemas["ProblemFinding"]["required"]


def test_no_json_response_is_free_form() -> None:
    def free_form(schema: dict[str, Any]) -> bool:
        if "$ref" in schema:
            return False
        if schema.get("type") == "array":
            return free_form(schema["items"])
        return True

    loose = [
        (method, path, status)
        for method, path, operation in _operations()
        for status, response in operation["responses"].items()
        for media, content in response.get("content", {}).items()
        if media == "application/json" and free_form(content["schema"])
    ]
    # The intelligence package's JSON form is a document of its own (spec/api.md).
    assert loose == [("get", "/v1/clusters/{cluster_id}/export", "200")]


SIGNED_BY = {
    ("get", "/v1/referrals/{referral_id}/status"): ("aswSignature", "Strive-Asw-Id"),
    ("get", "/v1/information-requests"): ("aswSignature", "Strive-Asw-Id"),
    ("put", "/v1/referrals/{referral_id}/attachments/{attachment_id}"): (
        "aswSignature", "Strive-Asw-Id",
    ),
    ("post", "/v1/recipient/outcomes"): ("recipientSignature", "Strive-Recipient-Id"),
    ("post", "/v1/log/cosignature"): ("witnessSignature", "Strive-Witness-Id"),
}  # fmt: skip


def test_security_is_declared_per_operation_as_the_server_enforces_it() -> None:
    document = _document()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    for name in ("aswSignature", "recipientSignature", "witnessSignature"):
        assert schemes[name]["type"] == "apiKey"
        assert (schemes[name]["in"], schemes[name]["name"]) == ("header", "Signature")
        assert "RFC 9421" in schemes[name]["description"]
    operations = {(method, path): operation for method, path, operation in _operations()}
    for key, (scheme, header) in SIGNED_BY.items():
        operation = operations[key]
        assert operation["security"] == [{scheme: []}], key
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        for name in (header, "Signature-Input", "Content-Digest"):
            assert headers[name]["required"] is True, (key, name)
        assert {"400", "401"} <= set(operation["responses"]), key
    assert operations[("get", "/v1/referrals/{referral_id}")]["security"] == [{"bearer": []}]
    assert operations[("get", "/v1/stats")]["security"] == [{}, {"bearer": []}]
    assert operations[("post", "/v1/referrals")]["security"] == []  # the envelope is signed
    assert operations[("get", "/.well-known/strive-configuration")]["security"] == []
    for (method, path), operation in operations.items():
        if operation["security"] == [{"bearer": []}]:
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_submission_examples_verify() -> None:
    from strive_schema._vectors import vector_key
    from strive_schema.envelope import SUBMISSION_PAYLOAD_TYPE, verify_envelope
    from strive_schema.receipts import verify_receipt

    operation = _document()["paths"]["/v1/referrals"]["post"]
    envelope = operation["requestBody"]["content"]["application/vnd.dsse.envelope.v1+json"]
    raw = json.dumps(envelope["example"], separators=(",", ":")).encode()
    verify_envelope(raw, [vector_key("asw-key-1").public_key], payload_type=SUBMISSION_PAYLOAD_TYPE)
    answer = operation["responses"]["201"]["content"]["application/json"]["example"]
    receipt = verify_receipt(
        answer["receipt_envelope"].encode(), [vector_key("receiver-key").public_key],
        expected_envelope_sha256=hashlib.sha256(raw).hexdigest(),
    )  # fmt: skip
    assert receipt.referral_id == answer["receipt"]["referral_id"]
