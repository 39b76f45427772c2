"""Receiver checks: signed reads, the RFC 9421 profile (spec/protocol.md section 14,
spec/api.md "What the ASW reads")."""

from __future__ import annotations

import uuid
from datetime import timedelta

from strive_schema.envelope import parse_timestamp
from strive_schema.keys import SigningKey

from ._framework import Failed, Registry
from ._session import ReceiverSession, describe, json_object, utc_now

checks: Registry[ReceiverSession] = Registry("signed-reads")

VERIFY = "protocol.md#144-verifying-a-request"
READS = "api.md#what-the-asw-reads"


def _is_timestamp(value: object) -> bool:
    """Whether ``value`` is a timestamp of the one form of spec/api.md, "Conventions"."""
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


def _status_path(session: ReceiverSession) -> str:
    return f"/v1/referrals/{session.baseline().referral['referral_id']}/status"


@checks.add("R-READ-01", "MUST", READS, "a signed read of the ASW's own referral status")
def own_status(session: ReceiverSession) -> str:
    path = _status_path(session)
    response = session.signed_get(path)
    if response.status_code != 200:
        raise Failed(f"GET {path} signed as the ASW got {describe(response)}, not 200")
    body = json_object(response)
    if body.get("referral_id") != session.baseline().referral["referral_id"]:
        raise Failed("the status names another referral_id")
    if not isinstance(body.get("state"), str):
        raise Failed("the status has no state string")
    for member in ("received_at", "updated_at"):
        if not _is_timestamp(body.get(member)):
            raise Failed(f"{member} is not a timestamp of the one form YYYY-MM-DDTHH:MM:SSZ")
    return f"200, state {body['state']!r}"


@checks.add("R-READ-02", "MUST", READS, "the ASW's signed list of requests for information")
def information_requests(session: ReceiverSession) -> str:
    response = session.signed_get("/v1/information-requests")
    if response.status_code != 200:
        raise Failed(f"GET /v1/information-requests got {describe(response)}, not 200")
    body = json_object(response)
    if not isinstance(body.get("items"), list):
        raise Failed("the answer has no items array")
    return f"200 with {len(body['items'])} item(s)"


@checks.add("R-READ-03", "MUST", VERIFY, "H1: unsigned -> 401 request_signature_missing")
def unsigned(session: ReceiverSession) -> str:
    response = session.http.get(_status_path(session), headers={"Strive-Asw-Id": session.asw_id})
    return session.expect_problem(response, 401, "request_signature_missing")


@checks.add(
    "R-READ-04",
    "MUST",
    "protocol.md#142-the-strive-profile",
    "no Strive-Asw-Id -> 401 authentication_required",
)
def no_asw_id(session: ReceiverSession) -> str:
    path = _status_path(session)
    headers = session.signed_headers("GET", path)
    del headers["Strive-Asw-Id"]
    return session.expect_problem(
        session.http.get(path, headers=headers), 401, "authentication_required"
    )


@checks.add("R-READ-05", "MUST", VERIFY, "H10: the same nonce again -> 401 nonce_replayed")
def nonce_replay(session: ReceiverSession) -> str:
    path = _status_path(session)
    headers = session.signed_headers("GET", path)
    first = session.http.get(path, headers=headers)
    if first.status_code != 200:
        raise Failed(f"the first use of the signed request got {describe(first)}, not 200")
    return session.expect_problem(session.http.get(path, headers=headers), 401, "nonce_replayed")


@checks.add(
    "R-READ-06", "MUST", VERIFY, "H6: created beyond the age limit -> 401 request_signature_stale"
)
def stale_created(session: ReceiverSession) -> str:
    age = session.limit("request_max_age_seconds")
    path = _status_path(session)
    response = session.signed_get(path, created=utc_now() - timedelta(seconds=age + 120))
    return session.expect_problem(response, 401, "request_signature_stale")


@checks.add(
    "R-READ-07",
    "MUST",
    VERIFY,
    "H5: created beyond the future limit -> 401 request_signature_from_future",
)
def future_created(session: ReceiverSession) -> str:
    ahead = session.limit("request_max_future_seconds")
    path = _status_path(session)
    response = session.signed_get(path, created=utc_now() + timedelta(seconds=ahead + 120))
    return session.expect_problem(response, 401, "request_signature_from_future")


@checks.add(
    "R-READ-08",
    "MUST",
    VERIFY,
    "H8: body not matching Content-Digest -> 400 content_digest_mismatch",
)
def digest_mismatch(session: ReceiverSession) -> str:
    path = _status_path(session)
    headers = session.signed_headers("GET", path, body=b"conformance")
    return session.expect_problem(
        session.http.get(path, headers=headers), 400, "content_digest_mismatch"
    )


@checks.add("R-READ-09", "MUST", VERIFY, "H9: a key not registered -> 401 key_unknown")
def read_unknown_key(session: ReceiverSession) -> str:
    response = session.signed_get(_status_path(session), key=SigningKey.generate())
    return session.expect_problem(response, 401, "key_unknown")


@checks.add("R-READ-10", "MUST", VERIFY, "H9: signed for another path -> 401 signature_invalid")
def signed_for_other_path(session: ReceiverSession) -> str:
    path = _status_path(session)
    headers = session.signed_headers("GET", "/v1/information-requests")
    return session.expect_problem(session.http.get(path, headers=headers), 401, "signature_invalid")


@checks.add(
    "R-READ-11",
    "MUST",
    "api.md#who-may-do-what",
    "a referral that is not the ASW's -> 404 not_found",
)
def unknown_referral(session: ReceiverSession) -> str:
    session.baseline()  # signed reads work at all
    response = session.signed_get(f"/v1/referrals/{uuid.uuid4()}/status")
    return session.expect_problem(response, 404, "not_found")
