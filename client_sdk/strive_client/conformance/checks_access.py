"""Receiver checks: bearer-token access and the answers every route gives (spec/api.md,
"Conventions" and "Who may do what"); with ``--analyst-token``, what an analyst reads of a
sandbox referral."""

from __future__ import annotations

import secrets

from ._framework import Failed, Registry, Skipped
from ._session import ReceiverSession, describe, json_object

checks: Registry[ReceiverSession] = Registry("access-and-problems")

CONVENTIONS = "api.md#conventions"
WHO = "api.md#who-may-do-what"


@checks.add(
    "R-AUTH-01", "MUST", WHO, "no bearer token on a casework call -> 401 authentication_required"
)
def no_token(session: ReceiverSession) -> str:
    return session.expect_problem(session.http.get("/v1/triage"), 401, "authentication_required")


@checks.add("R-AUTH-02", "MUST", WHO, "an unknown bearer token -> 401 token_invalid")
def bad_token(session: ReceiverSession) -> str:
    headers = {"Authorization": f"Bearer strv_{secrets.token_urlsafe(32)}"}
    return session.expect_problem(
        session.http.get("/v1/triage", headers=headers), 401, "token_invalid"
    )


@checks.add(
    "R-AUTH-03",
    "MUST",
    "api.md#what-the-receiver-guarantees",
    "an analyst reads the exact referral and its evidence verifies",
)
def analyst_reads(session: ReceiverSession) -> str:
    if not session.analyst_token:
        raise Skipped("needs --analyst-token")
    accepted = session.baseline()
    headers = {
        "Authorization": f"Bearer {session.analyst_token}",
        "Strive-Reason": "Strive conformance suite: sandbox referral check",
    }
    referral_id = accepted.referral["referral_id"]
    params = {"asw_id": session.asw_id}
    response = session.http.get(f"/v1/referrals/{referral_id}", headers=headers, params=params)
    if response.status_code != 200:
        raise Failed(f"GET /v1/referrals/{referral_id} got {describe(response)}")
    if json_object(response).get("document") != accepted.referral:
        raise Failed("the stored document differs from the referral sent")
    evidence = session.http.get(
        f"/v1/referrals/{referral_id}/evidence", headers=headers, params=params
    )
    if evidence.status_code != 200:
        raise Failed(f"GET .../evidence got {describe(evidence)}")
    if json_object(evidence).get("verified") is not True:
        raise Failed("the evidence re-check does not say verified: true")
    return "document as sent; evidence re-check passes"


@checks.add("R-PROB-01", "MUST", CONVENTIONS, "an unknown route -> 404 not_found problem")
def unknown_route(session: ReceiverSession) -> str:
    response = session.http.get(f"/v1/conformance-no-such-route-{secrets.token_hex(4)}")
    return session.expect_problem(response, 404, "not_found")


@checks.add(
    "R-PROB-02", "MUST", CONVENTIONS, "a method the route lacks -> 405 method_not_allowed problem"
)
def wrong_method(session: ReceiverSession) -> str:
    response = session.http.delete("/.well-known/strive-configuration")
    return session.expect_problem(response, 405, "method_not_allowed")


@checks.add("R-PROB-03", "MUST", CONVENTIONS, "every refusal seen was an RFC 9457 problem document")
def every_refusal_a_problem(session: ReceiverSession) -> str:
    if session.refusals_seen == 0:
        raise Skipped("no refusal was observed")
    if session.problem_violations:
        raise Failed(
            f"{len(session.problem_violations)} refusal(s) were not problem documents, e.g. "
            + session.problem_violations[0]
        )
    return f"{session.refusals_seen} refusals, each a problem document"
