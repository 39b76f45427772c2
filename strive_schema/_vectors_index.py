"""The manifest of ``spec/vectors/`` (``index.json``) and the registry of negative codes.

``index.json`` lists every vector file with its kind, the procedure that runs it and its
expected outcome, so a second implementation can run them all without reading the Python.
Its ``codes`` section lists every refusal code the specification defines, with the vectors
that produce it, or, for a code no offline vector can produce (it needs a receiver's state:
a nonce store, stored referrals, a rate limiter, a log server), why not and which check or
test covers it instead. ``tests/protocol/test_vector_index.py`` fails when a code has neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from strive_schema.codes import ProblemCode, ValidationCode
from strive_schema.errors import LogCode, ProtocolCode, SealedCode

__all__ = ["NOT_OFFLINE", "build_index", "registry_codes"]

#: Where each kind of vector is run, and how (spec/vectors/README.md has the details).
PROCEDURES: Mapping[str, str] = {
    "canonical": "read `input` as strict JSON (protocol.md 2.2) and write its RFC 8785 form "
    "(protocol.md 12): `expected.canonical`, or refuse with `expected_error`",
    "envelope": "verify the envelope (protocol.md 8, E1-E7), then open the submission "
    "(protocol.md 10, S1-S5)",
    "receipt": "verify the envelope, then check the receipt (protocol.md 13, R1-R2)",
    "httpsig": "verify the signed request (protocol.md 14.4, H1-H9)",
    "referral": "validate the document bytes (validation.md) with `validate.now` and "
    "`validate.default_region`: exactly `expected.errors` and `expected.warnings`",
    "log": "run the check named by `check` (transparency-log.md) on `input`",
    "lifecycle": "verify the envelope (or receipt) under `public_keys`, then judge the signing "
    "key's lifecycle `key_validity` at `received_at` (protocol.md 9.1; never at "
    "`issued_at_claimed`): `expected.valid`, `expected.rule`, or refuse with `expected.code`",
    "sealed": "open the sealed package (sealed-package.md)",
}

_TEST_BASE = "tests/"
_CONFORMANCE = "client_sdk/strive_client/conformance/"

#: Codes no offline vector can produce: ``code -> (why, where it is covered)``. Each
#: ``where`` is a file of this repository that names the code (the test checks it does).
NOT_OFFLINE: Mapping[str, tuple[str, str | None]] = {
    ProtocolCode.NONCE_REPLAYED: (
        "needs the receiver's nonce store (protocol.md 14.4, H10)",
        _CONFORMANCE + "checks_reads.py",
    ),
    ValidationCode.DEPRECATED_FIELD: (
        "no member of schema 1.x is deprecated yet; tested with a synthetic schema",
        _TEST_BASE + "schema/test_versioning.py",
    ),
    LogCode.ENTRY_UNKNOWN: (
        "needs the log's index of entries (a receiver's look-up)",
        _TEST_BASE + "server/test_tlog.py",
    ),
    LogCode.CHECKPOINT_UNKNOWN: (
        "needs the checkpoints a log has signed (a witness submitting a cosignature)",
        _TEST_BASE + "server/test_tlog.py",
    ),
    LogCode.PROMISE_BROKEN: (
        "needs a log that failed to include an entry by the promised time",
        _TEST_BASE + "server/test_tlog.py",
    ),
    LogCode.KEY_CHANGED: (
        "needs a client's pin of the receiver's log key from an earlier visit",
        _TEST_BASE + "server/test_tlog.py",
    ),
}

_SERVER = "a receiver's answer to an API call (errors.md, API problem codes)"
_PROBLEM_COVERAGE: Mapping[str, str | None] = {
    ProblemCode.REQUEST_MALFORMED: _CONFORMANCE + "checks_batch.py",
    ProblemCode.REQUEST_INVALID: _TEST_BASE + "server/test_casework.py",
    ProblemCode.BODY_TOO_LARGE: _CONFORMANCE + "checks_submission.py",
    ProblemCode.BATCH_TOO_LARGE: _CONFORMANCE + "checks_batch.py",
    ProblemCode.UNSUPPORTED_MEDIA_TYPE: _CONFORMANCE + "checks_submission.py",
    ProblemCode.NOT_FOUND: _TEST_BASE + "server/test_casework.py",
    ProblemCode.METHOD_NOT_ALLOWED: _CONFORMANCE + "checks_access.py",
    ProblemCode.AUTHENTICATION_REQUIRED: _CONFORMANCE + "checks_reads.py",
    ProblemCode.TOKEN_INVALID: _CONFORMANCE + "checks_access.py",
    ProblemCode.KEY_REVOKED: _TEST_BASE + "server/test_ingestion.py",
    ProblemCode.FORBIDDEN: _TEST_BASE + "server/test_casework.py",
    ProblemCode.RATE_LIMITED: _TEST_BASE + "server/test_ingestion.py",
    ProblemCode.REFERRAL_INVALID: _CONFORMANCE + "checks_submission.py",
    ProblemCode.REFERRAL_CONFLICT: _CONFORMANCE + "checks_replay.py",
    ProblemCode.REFERRAL_AMBIGUOUS: _TEST_BASE + "server/test_casework.py",
    ProblemCode.SUPPLEMENTED_REFERRAL_UNKNOWN: _TEST_BASE + "server/test_casework.py",
    ProblemCode.INFORMATION_REQUEST_UNKNOWN: _TEST_BASE + "server/test_casework.py",
    ProblemCode.TRANSITION_INVALID: _TEST_BASE + "server/test_casework.py",
    ProblemCode.OUTCOME_REQUIRED: _TEST_BASE + "server/test_casework.py",
    ProblemCode.CONFLICT: _TEST_BASE + "server/test_casework.py",
    ProblemCode.INTERNAL_ERROR: _TEST_BASE + "server/test_hostile_http.py",
    ProblemCode.APPROVAL_BY_REQUESTER: _TEST_BASE + "server/test_recipient_dual_control.py",
    ProblemCode.APPROVAL_EXPIRED: _TEST_BASE + "server/test_admin_dual_control.py",
    ProblemCode.APPROVAL_CLOSED: _TEST_BASE + "server/test_admin_dual_control.py",
    ProblemCode.APPROVAL_NOT_REQUESTER: _TEST_BASE + "server/test_admin_dual_control.py",
    ProblemCode.APPROVAL_COLLECTED: _TEST_BASE + "server/test_admin_dual_control.py",
    ProblemCode.ASSESSMENT_REQUIRED: _TEST_BASE + "server/test_dissemination.py",
    ProblemCode.RECIPIENT_UNKNOWN: _TEST_BASE + "server/test_dissemination.py",
    ProblemCode.RECIPIENT_REVOKED: _TEST_BASE + "server/test_dissemination.py",
    ProblemCode.SANDBOX_REFERRAL: _TEST_BASE + "server/test_hardening.py",
    ProblemCode.OUTCOME_NOT_DISSEMINATED: _TEST_BASE + "server/test_recipient_signed_requests.py",
    ProblemCode.REVIEW_NOT_DUE: _TEST_BASE + "server/test_dissemination_retention.py",
    ProblemCode.REQUEST_TIMEOUT: _TEST_BASE + "server/test_hostile_http.py",
    ProblemCode.SERVICE_UNAVAILABLE: _TEST_BASE + "server/test_hostile_http.py",
    ProblemCode.ATTACHMENT_NOT_DECLARED: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.ATTACHMENT_DIGEST_MISMATCH: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.ATTACHMENT_SIZE_MISMATCH: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.ATTACHMENT_TYPE_MISMATCH: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.ATTACHMENT_INCOMPLETE: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.ATTACHMENT_NOT_RECEIVED: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.IMAGE_TOO_LARGE: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.SANDBOX_LIMIT_EXCEEDED: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.CHILD_IMAGE_REFUSED: _TEST_BASE + "server/test_evidence_files.py",
    ProblemCode.ATTACHMENT_QUARANTINED: _TEST_BASE + "server/test_evidence_hardening.py",
    ProblemCode.REASON_REQUIRED: _TEST_BASE + "server/test_evidence_files.py",
}


def _families() -> Mapping[str, Iterable[StrEnum]]:
    return {
        "protocol": ProtocolCode,
        "validation": ValidationCode,
        "sealed": SealedCode,
        "log": LogCode,
        "problem": ProblemCode,
    }


def registry_codes() -> dict[str, str]:
    """Every refusal code the specification defines: ``{code: family}``."""
    return {code.value: family for family, enum in _families().items() for code in enum}


def _not_offline(code: str) -> tuple[str, str | None] | None:
    if code in NOT_OFFLINE:
        return NOT_OFFLINE[code]
    if code in _PROBLEM_COVERAGE:
        if code == ProblemCode.REFERRAL_INVALID:
            return (
                "a receiver's 422 carrying the findings of the referral/ vectors",
                _PROBLEM_COVERAGE[code],
            )
        return _SERVER, _PROBLEM_COVERAGE[code]
    return None


def _entry(path: str, document: Mapping[str, Any]) -> dict[str, object]:
    kind = path.split("/", 1)[0] if "/" in path else path.removesuffix(".json")
    entry: dict[str, object] = {"path": path, "kind": kind}
    if kind == "log":
        entry["kind"] = f"log/{document['check']}"
    if kind == "sealed":
        expected = document.get("expected", {})
        error = None if expected.get("opens") else expected.get("code")
    elif kind == "lifecycle":
        error = document["expected"]["code"]
    else:
        error = document.get("expected_error")
    entry["expected_error"] = error
    entry["expected_outcome"] = "accept" if error is None else "refuse"
    if kind == "referral":
        expected = document["expected"]
        entry["expected_codes"] = sorted(
            {f["code"] for f in (*expected["errors"], *expected["warnings"])}
        )
        if not expected["errors"] and expected["warnings"]:
            entry["expected_outcome"] = "accept_with_warnings"
    if kind in PROCEDURES:
        entry["procedure"] = PROCEDURES[kind]
    return entry


def build_index(files: Mapping[str, bytes]) -> dict[str, object]:
    """The manifest of ``files`` (``{relative path: bytes}``, every vector file).

    Raises:
        ValueError: a code of the registry has no vector and is not listed in
            :data:`NOT_OFFLINE` or the problem-code coverage.
    """
    entries = [
        _entry(path, json.loads(content))
        for path, content in sorted(files.items())
        if path.endswith(".json") and path not in ("keys.json", "index.json")
    ]
    produced: dict[str, list[str]] = {}
    for entry in entries:
        listed = entry.get("expected_codes")
        found = listed if isinstance(listed, list) else [entry["expected_error"]]
        for code in found:
            if code is not None:
                produced.setdefault(str(code), []).append(str(entry["path"]))
    codes: dict[str, dict[str, object]] = {}
    for code, family in sorted(registry_codes().items()):
        if code in produced:
            codes[code] = {"family": family, "vectors": produced[code]}
            continue
        exception = _not_offline(code)
        if exception is None:
            raise ValueError(f"no vector produces {code} and it is not listed as not offline")
        reason, covered_by = exception
        codes[code] = {
            "family": family,
            "vectors": [],
            "not_offline": reason,
            "covered_by": covered_by,
        }
    return {
        "description": "Every vector file in this directory, its kind, how to run it and its "
        "expected outcome; and every refusal code of the specification with the vectors "
        "that produce it (or why none can, and what covers it). keys.json holds the "
        "test-only keys the vectors name.",
        "origin": "Generated by `python -m strive_schema._vectors` "
        "(strive_schema/_vectors_index.py). Do not edit by hand.",
        "procedures": dict(PROCEDURES),
        "vectors": entries,
        "codes": codes,
    }
