"""The refusal for a signature made with a key that is outside its lifecycle.

A key that is retired, revoked, expired or not yet valid at the time of receipt is not in the
set a signature is verified against (spec/protocol.md, "Key lifecycle"). When that
verification fails, the receiver tries each such key of the signer on its own: the first
that verifies names the refusal (``key_retired``, ``key_revoked``, ``key_expired``,
``key_not_yet_valid``) in place of ``key_unknown`` / ``signature_invalid``, after every
earlier check, exactly as ``key_revoked`` always was (spec/protocol.md section 9).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from strive_schema.codes import ProblemCode
from strive_schema.errors import ProtocolCode
from strive_schema.key_validity import KeyJudgement, KeyValidity, judge_key
from strive_schema.keys import PublicKey, SigningKey
from strive_server.core.config import Settings
from strive_server.problems import Problem

__all__ = [
    "JudgedKey",
    "judged_keys",
    "lifecycle_refusal",
    "receiver_signing_key",
    "refusal_problem",
]

JudgedKey = tuple[PublicKey, KeyJudgement]

_STATE = {
    ProtocolCode.KEY_REVOKED: "revoked",
    ProtocolCode.KEY_RETIRED: "retired",
    ProtocolCode.KEY_EXPIRED: "expired",
    ProtocolCode.KEY_NOT_YET_VALID: "not yet valid",
}

#: Verification failures that a key outside its lifecycle may explain.
EXPLAINABLE = frozenset({ProtocolCode.KEY_UNKNOWN, ProtocolCode.SIGNATURE_INVALID})


def judged_keys(
    keys: Sequence[tuple[PublicKey, KeyValidity]], at: datetime, *also: datetime
) -> tuple[list[PublicKey], list[JudgedKey]]:
    """Split keys into those a signature received at ``at`` (and at each of ``also``) may
    verify under and the others, each with the first judgement that excludes it.

    A submission is judged at the clock as it is now and at its recorded time of receipt, so
    that what is accepted is also valid when the evidence is re-checked at that time."""
    usable: list[PublicKey] = []
    refused: list[JudgedKey] = []
    for key, validity in keys:
        judgements = [judge_key(validity, moment) for moment in (at, *also)]
        failed = next((j for j in judgements if not j.valid), None)
        if failed is None:
            usable.append(key)
        else:
            refused.append((key, failed))
    return usable, refused


def refusal_problem(judgement: KeyJudgement, what: str) -> Problem:
    """The 401 problem for ``what`` ("the envelope", "the request") signed with a key the
    judgement refuses."""
    code = judgement.code
    assert code is not None, "a valid judgement is no refusal"
    return Problem(
        401, code, f"{what} is signed with a {_STATE[code]} key ({judgement.explanation})"
    )


def lifecycle_refusal(
    refused: Sequence[JudgedKey], verifies: Callable[[list[PublicKey]], bool], what: str
) -> Problem | None:
    """The refusal naming the first refused key under which the signature verifies, or
    ``None`` when none does (then the verifier's own code stands)."""
    for key, judgement in refused:
        if verifies([key]):
            return refusal_problem(judgement, what)
    return None


def receiver_signing_key(settings: Settings, now: datetime) -> SigningKey:
    """The receiver's signing key (receipts, sealed packages), if its configured lifecycle
    lets it sign at ``now``: a receiver never signs what clients must refuse.

    Raises:
        Problem: 503 ``service_unavailable`` (with ``Retry-After``) naming the rule.
    """
    key = settings.signing_key
    judgement = judge_key(settings.receipt_validity(key.key_id), now)
    if not judgement.valid:
        raise Problem(
            503, ProblemCode.SERVICE_UNAVAILABLE,
            f"the receiver's signing key cannot sign ({judgement.explanation}); "
            "the operator must rotate it", headers={"Retry-After": "60"},
        )  # fmt: skip
    return key
