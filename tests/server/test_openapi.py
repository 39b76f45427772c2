"""The committed OpenAPI document is current, 3.1, and its operation ids are stable."""

from __future__ import annotations

import json
from pathlib import Path

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
