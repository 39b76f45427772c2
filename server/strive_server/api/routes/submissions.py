"""Submitting referrals: one signed envelope, or a batch of them as NDJSON."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from strive_schema._internal import timestamps
from strive_schema.codes import ProblemCode
from strive_schema.note import promise_text, sign_note
from strive_schema.tlog import leaf_hash, receipt_entry
from strive_server.api.contract import problems
from strive_server.api.deps import SessionsDep, SettingsDep, read_body
from strive_server.api.examples import batch_example, submission_examples
from strive_server.api.schemas import BatchResponse, SubmissionResponse
from strive_server.core.config import Settings
from strive_server.problems import Problem
from strive_server.services.ingestion import ingest_batch, ingest_envelope

router = APIRouter(tags=["submissions"])

ENVELOPE_TYPES: Final = frozenset({"application/vnd.dsse.envelope.v1+json", "application/json"})
BATCH_TYPES: Final = frozenset({"application/x-ndjson", "application/jsonl"})
_PROBLEM_RESPONSES: Final = problems(
    400, 401, 403, 409, 413, 415, 422, 429,
    s400="Malformed envelope or payload (a protocol code)",
    s401="Signature, key or freshness check failed (a protocol code, `key_revoked`)",
    s403="Signed by another ASW than the referral names (`asw_mismatch`)",
    s409="Referral id already used with different content (`referral_conflict`)",
    s422="Invalid referral (`referral_invalid`, every error with its JSON Pointer)",
)  # fmt: skip
_EXAMPLES: Final = submission_examples()
_ENVELOPE_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": "A DSSE envelope (spec/protocol.md) whose payload is a submission.",
        "content": {
            "application/vnd.dsse.envelope.v1+json": {
                "example": _EXAMPLES["envelope"],
                "schema": {
                    "type": "object",
                    "required": ["payloadType", "payload", "signatures"],
                    "properties": {
                        "payloadType": {"type": "string"},
                        "payload": {"type": "string", "contentEncoding": "base64"},
                        "signatures": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "keyid": {"type": "string"},
                                    "sig": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            }
        },
    }
}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _now() -> datetime:
    return datetime.now(UTC)


def with_log_promise(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Add the log's signed promise to include the receipt's entry within the maximum merge
    delay of its receipt time (spec/transparency-log.md): deterministic, so a replay gets the
    same promise."""
    envelope, receipt = body.get("receipt_envelope"), body.get("receipt")
    if isinstance(envelope, str) and isinstance(receipt, dict):
        received = timestamps.parse_utc(str(receipt["received_at"]))
        include_by = int(received.timestamp()) + settings.log_max_merge_delay_seconds
        leaf = leaf_hash(receipt_entry(envelope.encode("utf-8")))
        signer = settings.log_signer
        body["log_promise"] = sign_note(promise_text(signer.name, leaf, include_by), [signer])
    return body


@router.post(
    "/v1/referrals",
    operation_id="submitReferral",
    summary="Submit one signed referral; returns the signed receipt",
    status_code=201,
    response_model=SubmissionResponse,
    responses={
        201: {
            "description": "Stored: the signed receipt",
            "content": {"application/json": {"example": _EXAMPLES["response"]}},
        },
        200: {"description": "Already held: the original receipt", "model": SubmissionResponse},
        **_PROBLEM_RESPONSES,
    },
    openapi_extra=_ENVELOPE_BODY,
)
async def submit_referral(
    request: Request, settings: SettingsDep, sessions: SessionsDep
) -> JSONResponse:
    if media_type(request) not in ENVELOPE_TYPES:
        raise Problem(
            415,
            ProblemCode.UNSUPPORTED_MEDIA_TYPE,
            "send the envelope as application/vnd.dsse.envelope.v1+json or application/json",
        )
    raw = await read_body(request, settings.max_envelope_bytes)
    result = await asyncio.to_thread(
        ingest_envelope,
        sessions=sessions,
        settings=settings,
        raw=raw,
        claimed_asw=request.headers.get("strive-asw-id"),
        now=_now(),
    )
    request.app.state.metrics.submissions.labels(result.status).inc()
    body = with_log_promise(dict(result.body), settings)
    return JSONResponse(body, status_code=result.http_status)


@router.post(
    "/v1/referrals/batch",
    operation_id="submitReferralBatch",
    summary="Submit several signed referrals as NDJSON, one envelope per line",
    response_model=BatchResponse,
    responses={
        200: {
            "description": "One result per line, in order",
            "content": {"application/json": {"example": batch_example()}},
        },
        **_PROBLEM_RESPONSES,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Envelopes as NDJSON, one DSSE envelope per line.",
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": json.dumps(_EXAMPLES["envelope"]) + "\n",
                }
            },
        }
    },
)
async def submit_batch(
    request: Request, settings: SettingsDep, sessions: SessionsDep
) -> BatchResponse:
    if media_type(request) not in BATCH_TYPES:
        raise Problem(
            415,
            ProblemCode.UNSUPPORTED_MEDIA_TYPE,
            "send a batch as application/x-ndjson, one envelope per line",
        )
    raw = await read_body(request, settings.max_batch_bytes)
    items = [line.strip() for line in raw.split(b"\n") if line.strip()]
    if not items or len(items) > settings.max_batch_items:
        raise Problem(
            413 if items else 400,
            ProblemCode.BATCH_TOO_LARGE if items else ProblemCode.REQUEST_MALFORMED,
            f"a batch holds 1 to {settings.max_batch_items} envelopes",
        )
    results = await asyncio.to_thread(
        ingest_batch,
        sessions=sessions,
        settings=settings,
        items=items,
        claimed_asw=request.headers.get("strive-asw-id"),
        now=_now(),
    )
    for item in results:
        request.app.state.metrics.submissions.labels(item["status"]).inc()
    results = [with_log_promise(item, settings) for item in results]
    return BatchResponse.model_validate({"results": results})
