"""Receiver checks: submitting one envelope, and every refusal the spec defines for it
(spec/protocol.md sections 8 and 10, spec/api.md "Submitting a referral").

Every refusal must be the defined status and code in a problem document, and must store
nothing: R-SUBMIT-18 submits, after several refusals of one referral id, that referral
properly and expects ``201`` (a receiver that had kept any refused copy would answer ``200``
or ``409``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from strive_schema.envelope import RECEIPT_PAYLOAD_TYPE, SUBMISSION_PAYLOAD_TYPE, pae
from strive_schema.keys import SigningKey

from ._framework import Failed, Registry
from ._session import ReceiverSession, describe, json_object, utc_now

checks: Registry[ReceiverSession] = Registry("submission")

ENVELOPE = "protocol.md#8-verifying-an-envelope"
PAYLOAD = "protocol.md#10-the-submission-payload"
SUBMIT = "api.md#submitting-a-referral"

# One referral id refused in many ways, then accepted (R-SUBMIT-18): kept on the session.
_REFUSED_KEY = "refused_referral"


def _refused_referral(session: ReceiverSession) -> dict[str, Any]:
    if _REFUSED_KEY not in session.shared:
        session.shared[_REFUSED_KEY] = session.new_referral()
    referral: dict[str, Any] = session.shared[_REFUSED_KEY]
    return referral


@checks.add("R-SUBMIT-01", "MUST", SUBMIT, "a valid sandbox submission is stored: 201")
def valid_submission(session: ReceiverSession) -> str:
    accepted = session.baseline(strict=True)
    body = accepted.body
    if body.get("replayed") is not False:
        raise Failed(f"replayed is {body.get('replayed')!r}, not false")
    if not isinstance(body.get("receipt_envelope"), str):
        raise Failed("receipt_envelope is not a string holding the envelope's JSON text")
    if not isinstance(body.get("receipt"), dict):
        raise Failed("receipt is not an object")
    return "201 with receipt, receipt_envelope and replayed false"


@checks.add("R-SUBMIT-02", "MUST", ENVELOPE, "E1: not JSON -> 400 envelope_malformed")
def not_json(session: ReceiverSession) -> str:
    return session.expect_problem(
        session.submit(b'{"payloadType": "application/vnd.strive'), 400, "envelope_malformed"
    )


@checks.add("R-SUBMIT-03", "MUST", ENVELOPE, "E2: unknown member -> 400 envelope_malformed")
def unknown_member(session: ReceiverSession) -> str:
    envelope = json.loads(session.envelope(_refused_referral(session)))
    envelope["extra"] = "x"
    body = json.dumps(envelope).encode()
    return session.expect_problem(session.submit(body), 400, "envelope_malformed")


@checks.add("R-SUBMIT-04", "MUST", ENVELOPE, "E4: non-canonical base64 -> 400 envelope_malformed")
def noncanonical_base64(session: ReceiverSession) -> str:
    envelope = json.loads(session.envelope(_refused_referral(session)))
    payload = envelope["payload"]
    envelope["payload"] = payload[:8] + "\n" + payload[8:]  # MIME-style line break
    body = json.dumps(envelope).encode()
    return session.expect_problem(session.submit(body), 400, "envelope_malformed")


@checks.add("R-SUBMIT-05", "MUST", ENVELOPE, "E5: 63-byte signature -> 400 signature_malformed")
def short_signature(session: ReceiverSession) -> str:
    payload = session.payload(_refused_referral(session))
    signature = session.key.sign(pae(SUBMISSION_PAYLOAD_TYPE, payload))[:63]
    body = session.raw_envelope(SUBMISSION_PAYLOAD_TYPE, payload, session.key.key_id, signature)
    return session.expect_problem(session.submit(body), 400, "signature_malformed")


@checks.add(
    "R-SUBMIT-06", "MUST", ENVELOPE, "E6: receipt payload type -> 400 payload_type_unsupported"
)
def wrong_payload_type(session: ReceiverSession) -> str:
    body = session.envelope(_refused_referral(session), payload_type=RECEIPT_PAYLOAD_TYPE)
    return session.expect_problem(session.submit(body), 400, "payload_type_unsupported")


@checks.add(
    "R-SUBMIT-07",
    "MUST",
    ENVELOPE,
    "E7: changed bytes under a registered keyid -> 401 signature_invalid",
)
def bad_signature(session: ReceiverSession) -> str:
    referral = _refused_referral(session)
    signed_payload = session.payload(referral)
    signature = session.key.sign(pae(SUBMISSION_PAYLOAD_TYPE, signed_payload))
    sent_payload = session.payload(referral, issued_at=utc_now() - timedelta(seconds=1))
    if sent_payload == signed_payload:
        sent_payload = signed_payload.replace(b"}", b" }", 1)
    body = session.raw_envelope(
        SUBMISSION_PAYLOAD_TYPE, sent_payload, session.key.key_id, signature
    )
    return session.expect_problem(session.submit(body), 401, "signature_invalid")


@checks.add("R-SUBMIT-08", "MUST", ENVELOPE, "E7: a key not registered -> 401 key_unknown")
def unknown_key(session: ReceiverSession) -> str:
    body = session.envelope(_refused_referral(session), key=SigningKey.generate())
    return session.expect_problem(session.submit(body), 401, "key_unknown")


@checks.add("R-SUBMIT-09", "MUST", PAYLOAD, "S1: payload not a submission -> 400 payload_malformed")
def malformed_payload(session: ReceiverSession) -> str:
    payload = json.dumps(
        {"asw_id": session.asw_id, "audience": session.receiver_id, "referral": {}}
    ).encode()
    signature = session.key.sign(pae(SUBMISSION_PAYLOAD_TYPE, payload))
    body = session.raw_envelope(SUBMISSION_PAYLOAD_TYPE, payload, session.key.key_id, signature)
    return session.expect_problem(session.submit(body), 400, "payload_malformed")


@checks.add("R-SUBMIT-10", "MUST", PAYLOAD, "S2: payload names another ASW -> 403 asw_mismatch")
def other_asw(session: ReceiverSession) -> str:
    body = session.envelope(_refused_referral(session), asw_id=session.asw_id + "-other")
    return session.expect_problem(session.submit(body), 403, "asw_mismatch")


@checks.add(
    "R-SUBMIT-11", "MUST", PAYLOAD, "S3: another receiver's audience -> 401 audience_mismatch"
)
def wrong_audience(session: ReceiverSession) -> str:
    body = session.envelope(_refused_referral(session), audience=session.receiver_id + ".other")
    return session.expect_problem(session.submit(body), 401, "audience_mismatch")


@checks.add(
    "R-SUBMIT-12", "MUST", PAYLOAD, "S4: issued_at beyond the age limit -> 401 envelope_stale"
)
def stale(session: ReceiverSession) -> str:
    age = session.limit("envelope_max_age_seconds")
    issued = utc_now() - timedelta(seconds=age + 120)
    body = session.envelope(_refused_referral(session), issued_at=issued)
    return session.expect_problem(session.submit(body), 401, "envelope_stale")


@checks.add(
    "R-SUBMIT-13",
    "MUST",
    PAYLOAD,
    "S5: issued_at beyond the future limit -> 401 envelope_from_future",
)
def from_future(session: ReceiverSession) -> str:
    ahead = session.limit("envelope_max_future_seconds")
    issued = utc_now() + timedelta(seconds=ahead + 120)
    body = session.envelope(_refused_referral(session), issued_at=issued)
    return session.expect_problem(session.submit(body), 401, "envelope_from_future")


@checks.add("R-SUBMIT-14", "MUST", SUBMIT, "a body over max_envelope_bytes -> 413 body_too_large")
def oversize(session: ReceiverSession) -> str:
    limit = session.limit("max_envelope_bytes")
    envelope = session.envelope(_refused_referral(session))
    body = envelope[:-1] + b" " * (limit + 1 - len(envelope)) + b"}"
    return session.expect_problem(session.submit(body), 413, "body_too_large")


@checks.add(
    "R-SUBMIT-15", "MUST", SUBMIT, "a content type not accepted -> 415 unsupported_media_type"
)
def wrong_content_type(session: ReceiverSession) -> str:
    body = session.envelope(_refused_referral(session))
    response = session.submit(body, content_type="text/plain")
    return session.expect_problem(response, 415, "unsupported_media_type")


@checks.add(
    "R-SUBMIT-16",
    "MUST",
    SUBMIT,
    "an invalid referral -> 422 referral_invalid with pointers and codes",
)
def invalid_referral(session: ReceiverSession) -> str:
    referral = dict(_refused_referral(session))
    del referral["narrative"]
    response = session.submit(session.envelope(referral))
    session.expect_problem(response, 422, "referral_invalid")
    errors = json_object(response).get("errors")
    if not isinstance(errors, list) or not errors:
        raise Failed("the 422 problem has no errors array")
    wanted = [
        e for e in errors
        if isinstance(e, dict) and e.get("pointer") == "/narrative"
        and e.get("code") == "missing_field"
    ]  # fmt: skip
    if not wanted:
        raise Failed(f"no error with pointer /narrative and code missing_field in {errors!r}")
    return "422 referral_invalid naming /narrative missing_field"


@checks.add(
    "R-SUBMIT-17", "MUST", SUBMIT, "a referral reported by another organisation -> 403 asw_mismatch"
)
def reporter_mismatch(session: ReceiverSession) -> str:
    referral = json.loads(json.dumps(_refused_referral(session)))
    referral["reporter"]["organisation_id"] = session.asw_id + "-other"
    response = session.submit(session.envelope(referral))
    return session.expect_problem(response, 403, "asw_mismatch")


@checks.add(
    "R-SUBMIT-18",
    "MUST",
    "api.md#what-the-receiver-guarantees",
    "a refused submission stores nothing",
)
def refused_stores_nothing(session: ReceiverSession) -> str:
    referral = _refused_referral(session)
    response = session.submit(session.envelope(referral))
    if response.status_code != 201:
        raise Failed(
            f"after refusals of referral {referral['referral_id']}, its first valid submission "
            f"got {describe(response)}, not 201: a refused submission left something stored"
        )
    return "the refused referral id was still new afterwards"
