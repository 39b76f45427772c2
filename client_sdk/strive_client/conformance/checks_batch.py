"""Receiver checks: batches (spec/api.md, "Batches")."""

from __future__ import annotations

import hashlib

from strive_schema.errors import VerificationError
from strive_schema.receipts import verify_receipt

from ._framework import Failed, Registry
from ._session import ReceiverSession, describe, json_object

checks: Registry[ReceiverSession] = Registry("batch")

BATCHES = "api.md#batches"


@checks.add("R-BATCH-01", "MUST", BATCHES, "one result per line: accepted, duplicate, rejected")
def per_item_results(session: ReceiverSession) -> str:
    original = session.baseline()
    new = session.new_referral()
    invalid = session.new_referral()
    del invalid["narrative"]
    lines = [session.envelope(new), original.envelope, session.envelope(invalid)]
    response = session.submit_batch(lines)
    if response.status_code != 200:
        raise Failed(f"a batch of three got {describe(response)}, not 200")
    results = json_object(response).get("results")
    if not isinstance(results, list) or len(results) != len(lines):
        raise Failed("the answer has no results array with one result per line")
    expected = ("accepted", "duplicate", "rejected")
    for index, (result, status) in enumerate(zip(results, expected, strict=True)):
        if not isinstance(result, dict) or result.get("index") != index:
            raise Failed(f"result {index} does not carry its index")
        if result.get("status") != status:
            raise Failed(f"line {index} is {result.get('status')!r}, not {status!r}")
    for index in (0, 1):
        text = results[index].get("receipt_envelope")
        if not isinstance(text, str):
            raise Failed(f"result {index} has no receipt_envelope string")
        try:
            receipt = verify_receipt(text.encode(), session.receiver_keys())
        except VerificationError as exc:
            raise Failed(f"result {index}'s receipt does not verify: {exc.code}") from None
        if (
            receipt.envelope_sha256
            != hashlib.sha256(lines[index] if index == 0 else original.envelope).hexdigest()
        ):
            raise Failed(f"result {index}'s receipt acknowledges other bytes")
    if results[1].get("receipt_envelope") != original.body.get("receipt_envelope"):
        raise Failed("the duplicate line did not get the original receipt")
    problem = results[2].get("problem")
    if not isinstance(problem, dict) or problem.get("code") != "referral_invalid":
        raise Failed("the rejected line carries no problem with code referral_invalid")
    return "accepted + duplicate (original receipt) + rejected (referral_invalid)"


@checks.add("R-BATCH-02", "MUST", BATCHES, "more than max_batch_items lines -> 413 batch_too_large")
def too_many(session: ReceiverSession) -> str:
    limit = session.limit("max_batch_items")
    line = session.baseline().envelope
    return session.expect_problem(
        session.submit_batch([line] * (limit + 1)), 413, "batch_too_large"
    )


@checks.add(
    "R-BATCH-03", "MUST", "errors.md#api-problem-codes", "an empty batch -> 400 request_malformed"
)
def empty(session: ReceiverSession) -> str:
    return session.expect_problem(session.submit_batch([]), 400, "request_malformed")
