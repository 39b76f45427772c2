"""Casework end to end: an analyst works a referral to an outcome that the ASW then sees,
requests for information and their answers, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_client import NotFound, ReferralRejected
from strive_schema.httpsig import sign_request
from strive_server.db import tables

from .conftest import Receiver, fresh_referral

ASW = "example-adverts"
OTHER = "demo-classifieds"
WORKED = ("triaged", "under_assessment", "package_developed", "disseminated")


def submit(receiver: Receiver, asw_id: str = ASW, example: str = "op-strive-1-london.json") -> str:
    referral = fresh_referral(example, asw_id=asw_id)
    with receiver.client(asw_id) as client:
        client.submit_referral(referral)
    return str(referral["referral_id"])


def move(receiver: Receiver, role: str, referral_id: str, to_state: str, **body: Any) -> httpx.Response:  # fmt: skip
    with receiver.http(role) as http:
        return http.post(
            f"/v1/referrals/{referral_id}/transitions",
            json={"to_state": to_state, "reason": f"{role} moves it to {to_state}", **body},
        )


def state_of(receiver: Receiver, referral_id: str) -> tuple[str, str | None]:
    with receiver.session() as session:
        row = session.scalars(
            sa.select(tables.Referral).where(tables.Referral.referral_id == referral_id)
        ).one()
        return row.state, row.outcome


def audit_actions(receiver: Receiver, referral_id: str) -> list[tuple[str, str, str | None]]:
    with receiver.session() as session:
        pk = session.scalars(
            sa.select(tables.Referral.id).where(tables.Referral.referral_id == referral_id)
        ).one()
        events = session.scalars(
            sa.select(tables.AuditEvent)
            .where(tables.AuditEvent.referral_pk == pk)
            .order_by(tables.AuditEvent.id)
        )
        return [(e.action, e.actor, e.role) for e in events]


def signed_get(receiver: Receiver, asw_id: str, path: str) -> httpx.Response:
    """A signed request without the SDK, to see members the SDK's models do not carry."""
    url = receiver.url + path
    headers = {"Strive-Asw-Id": asw_id}
    headers |= sign_request("GET", url, headers, b"", receiver.keys[asw_id])
    return httpx.get(url, headers=headers, timeout=30)


def test_an_analyst_works_a_referral_to_an_outcome_and_a_supervisor_closes_it(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    for to_state in WORKED:
        response = move(receiver, "analyst", referral_id, to_state)
        assert response.status_code == 200, response.text
        assert response.json() == {"referral_id": referral_id, "state": to_state, "outcome": None}
    # Only a supervisor closes, and only with an outcome.
    refused = move(receiver, "analyst", referral_id, "closed", outcome="arrest")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    missing = move(receiver, "supervisor", referral_id, "closed")
    assert (missing.status_code, missing.json()["code"]) == (422, "outcome_required")
    unknown = move(receiver, "supervisor", referral_id, "closed", outcome="dismissed_by_magic")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "outcome_required")
    assert state_of(receiver, referral_id) == ("disseminated", None)
    closed = move(receiver, "supervisor", referral_id, "closed", outcome="arrest")
    assert closed.json() == {"referral_id": referral_id, "state": "closed", "outcome": "arrest"}
    # A further outcome: the charge after the arrest, by a supervisor only.
    with receiver.http("analyst") as http:
        denied = http.post(
            f"/v1/referrals/{referral_id}/outcomes", json={"outcome": "charge", "reason": "CPS"}
        )
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    with receiver.http("supervisor") as http:
        charged = http.post(
            f"/v1/referrals/{referral_id}/outcomes", json={"outcome": "charge", "reason": "CPS"}
        )
    assert charged.json() == {"referral_id": referral_id, "state": "closed", "outcome": "charge"}
    # Reopening is a supervisor's move too.
    assert move(receiver, "analyst", referral_id, "under_assessment").status_code == 403
    reopened = move(receiver, "supervisor", referral_id, "under_assessment")
    assert reopened.json()["state"] == "under_assessment"

    with receiver.http("analyst") as http:
        history = http.get(f"/v1/referrals/{referral_id}/history").json()
    assert [(h["kind"], h["from_state"], h["to_state"], h["outcome"]) for h in history] == [
        ("transition", None, "received", None),
        ("transition", "received", "triaged", None),
        ("transition", "triaged", "under_assessment", None),
        ("transition", "under_assessment", "package_developed", None),
        ("transition", "package_developed", "disseminated", None),
        ("transition", "disseminated", "closed", "arrest"),
        ("outcome", "closed", "closed", "charge"),
        ("transition", "closed", "under_assessment", None),
    ]
    assert [h["actor"] for h in history[1:]] == ["test-analyst"] * 4 + ["test-supervisor"] * 3
    assert history[5]["reason"] == "supervisor moves it to closed"
    assert history[6]["reason"] == "CPS"
    changes = [a for a in audit_actions(receiver, referral_id) if not a[0].endswith("_read")]
    assert changes == [
        ("referral.submitted", ASW, None),
        *[("referral.transitioned", "test-analyst", "analyst")] * 4,
        ("referral.transitioned", "test-supervisor", "supervisor"),
        ("referral.outcome_recorded", "test-supervisor", "supervisor"),
        ("referral.transitioned", "test-supervisor", "supervisor"),
    ]
    # The stored outcome stays the latest; the first outcome's time is the time to outcome.
    with receiver.session() as session:
        row = session.scalars(sa.select(tables.Referral)).one()
        assert row.outcome == "charge" and row.first_triaged_at is not None
        closed_at = datetime.fromisoformat(history[5]["at"].replace("Z", "+00:00"))
        assert row.outcome_at == closed_at


def test_invalid_moves_are_refused_and_change_nothing(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    for to_state in (
        "disseminated", "package_developed", "under_assessment", "received", "bogus",
        "CLOSED", "", "triaged ",
    ):  # fmt: skip
        for role in ("analyst", "supervisor"):
            response = move(receiver, role, referral_id, to_state)
            assert response.status_code == 409, (to_state, role, response.text)
            assert response.json()["code"] == "transition_invalid"
            assert response.json()["state"] == "received"
    # An outcome belongs to closing; a move that is not a close cannot carry one.
    sneaky = move(receiver, "analyst", referral_id, "triaged", outcome="conviction")
    assert (sneaky.status_code, sneaky.json()["code"]) == (422, "request_invalid")
    with receiver.http("supervisor") as http:
        early = http.post(
            f"/v1/referrals/{referral_id}/outcomes", json={"outcome": "arrest", "reason": "r"}
        )
        unknown = http.post(
            f"/v1/referrals/{referral_id}/outcomes", json={"outcome": "hanged", "reason": "r"}
        )
        no_reason = http.post(
            f"/v1/referrals/{referral_id}/transitions", json={"to_state": "triaged"}
        )
        missing = http.post("/v1/referrals/no-such-referral/transitions",
                            json={"to_state": "triaged", "reason": "r"})  # fmt: skip
    assert (early.status_code, early.json()["code"]) == (409, "transition_invalid")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "request_invalid")
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "request_invalid")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert state_of(receiver, referral_id) == ("received", None)
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.StateTransition)) == 1
        row = session.scalars(sa.select(tables.Referral)).one()
        assert row.first_triaged_at is None and row.outcome_at is None
    assert [a for a, _, _ in audit_actions(receiver, referral_id)] == ["referral.submitted"]
    # Closing straight from received is allowed (to a supervisor, with an outcome).
    closed = move(receiver, "supervisor", referral_id, "closed", outcome="no_further_action")
    assert closed.status_code == 200 and state_of(receiver, referral_id) == (
        "closed",
        "no_further_action",
    )


def test_two_people_moving_one_referral_at_once_make_one_move(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    receiver.token("analyst")
    barrier = threading.Barrier(6)
    results: list[int] = []

    def race() -> None:
        barrier.wait()
        results.append(move(receiver, "analyst", referral_id, "triaged").status_code)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [409] * 5
    with receiver.session() as session:
        moves = session.scalars(sa.select(tables.StateTransition.to_state)).all()
    assert sorted(moves) == ["received", "triaged"]


def test_feedback_reaches_the_asw_only_when_released(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    referral_id = submit(receiver)

    def feedback(role: str, message: str, *, outcome: str | None = None, release: bool) -> httpx.Response:  # fmt: skip
        with receiver.http(role) as http:
            return http.post(
                f"/v1/referrals/{referral_id}/feedback",
                json={"message": message, "outcome": outcome, "release_to_asw": release},
            )

    assert feedback("analyst", "Internal: matches Op Larch.", release=False).status_code == 201
    with receiver.client(ASW) as client:
        status = client.get_referral_status(referral_id)
    assert (status.state, status.outcome, status.feedback) == ("received", None, [])
    # Feedback reports outcomes; it cannot announce one that was never recorded.
    invented = feedback("analyst", "Arrested.", outcome="arrest", release=True)
    assert (invented.status_code, invented.json()["code"]) == (422, "request_invalid")
    for to_state in WORKED:
        move(receiver, "analyst", referral_id, to_state)
    move(receiver, "supervisor", referral_id, "closed", outcome="safeguarding_visit")
    with receiver.client(ASW) as client:
        status = client.get_referral_status(referral_id)
    # The state is the ASW's to see; the outcome only once released.
    assert (status.state, status.outcome, status.feedback) == ("closed", None, [])
    released = feedback(
        "analyst", "Thank you: officers visited.", outcome="safeguarding_visit", release=True
    )
    assert released.status_code == 201 and released.json()["released"] is True
    with receiver.client(ASW) as client:
        status = client.get_referral_status(referral_id)
    assert status.outcome == "safeguarding_visit"
    assert [(f.message, f.outcome) for f in status.feedback] == [
        ("Thank you: officers visited.", "safeguarding_visit")
    ]
    # Another ASW sees nothing of it: the same 404 as for an id that does not exist.
    with receiver.client(OTHER) as client:
        with pytest.raises(NotFound) as foreign:
            client.get_referral_status(referral_id)
        with pytest.raises(NotFound) as missing:
            client.get_referral_status("7d5c0e1a-0000-4000-8000-000000000000")
    assert foreign.value.code == missing.value.code == "not_found"
    assert foreign.value.problem["detail"] == missing.value.problem["detail"]


def test_a_request_for_information_is_answered_with_a_linked_supplement(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    due = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    with receiver.http("analyst") as http:
        created = http.post(
            f"/v1/referrals/{referral_id}/information-requests",
            json={"question": "Please send the payment history since January.",
                  "due_by": due.isoformat()},
        )  # fmt: skip
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    assert created.json()["state"] == "open" and created.json()["answer_referral_id"] is None
    with receiver.client(ASW) as client:
        page = client.list_information_requests()
        assert [(r.id, r.referral_id, r.state) for r in page.items] == [
            (request_id, referral_id, "open")
        ]
        assert page.items[0].due_by == due and page.next_cursor is None
        answer = fresh_referral("op-strive-2-south-east.json", asw_id=ASW)
        result = client.answer_information_request(page.items[0], answer)
        assert result.replayed is False
        assert client.list_information_requests().items == []
        answered = client.list_information_requests(state="answered").items
    assert [(r.id, r.state) for r in answered] == [(request_id, "answered")]
    listed = signed_get(receiver, ASW, "/v1/information-requests?state=answered").json()
    assert listed["items"][0]["answer_referral_id"] == answer["referral_id"]
    with receiver.http("analyst") as http:
        view = http.get(f"/v1/referrals/{answer['referral_id']}").json()
        original = http.get(f"/v1/referrals/{referral_id}").json()
        requests = http.get(f"/v1/referrals/{referral_id}/information-requests").json()
    assert view["supplements_referral_id"] == referral_id
    assert view["document"]["supplements"]["information_request_id"] == request_id
    assert original["supplemented_by"] == [answer["referral_id"]]
    assert [(r["id"], r["state"], r["answer_referral_id"]) for r in requests] == [
        (request_id, "answered", answer["referral_id"])
    ]


def test_an_answer_to_another_asws_or_an_unknown_request_is_refused_and_stores_nothing(
    receiver: Receiver,
) -> None:
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    referral_id = submit(receiver)
    second_id = submit(receiver)
    theirs = submit(receiver, OTHER)
    with receiver.http("analyst") as http:
        request_id = http.post(
            f"/v1/referrals/{referral_id}/information-requests", json={"question": "More?"}
        ).json()["id"]
    # The other ASW cannot see the request...
    with receiver.client(OTHER) as client:
        assert client.list_information_requests().items == []
        assert client.list_information_requests(state="answered").items == []
    cases = [
        # ...nor answer it, naming its own referral as the original,
        (OTHER, request_id, theirs, "information_request_unknown"),
        # ...nor naming the first ASW's referral, which it does not hold.
        (OTHER, request_id, referral_id, "supplemented_referral_unknown"),
        # A request that does not exist.
        (ASW, "rfi-00000000000000000000000000", referral_id, "information_request_unknown"),
        # The right ASW's request, but about another of its referrals.
        (ASW, request_id, second_id, "information_request_unknown"),
    ]
    for asw_id, request, original, code in cases:
        answer = fresh_referral(asw_id=asw_id)
        with receiver.client(asw_id) as client, pytest.raises(ReferralRejected) as refused:
            client.answer_information_request(request, answer, original_referral_id=original)
        assert (refused.value.status, refused.value.code) == (422, code), (asw_id, request)
        assert refused.value.pointer is not None
        assert refused.value.pointer.startswith("/supplements/")
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Referral)) == 3
        request_row = session.get(tables.InformationRequest, request_id)
        assert request_row is not None
        assert request_row.state == "open" and request_row.answer_referral_pk is None


def test_a_request_is_answered_once(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    with receiver.http("analyst") as http:
        http.post(f"/v1/referrals/{referral_id}/information-requests", json={"question": "More?"})
    with receiver.client(ASW) as client:
        request = client.list_information_requests().items[0]
        first = fresh_referral(asw_id=ASW)
        client.answer_information_request(request, first)
        with pytest.raises(ReferralRejected) as refused:
            client.answer_information_request(request, fresh_referral(asw_id=ASW))
    assert refused.value.code == "information_request_unknown"
    listed = signed_get(receiver, ASW, "/v1/information-requests?state=answered").json()
    assert listed["items"][0]["answer_referral_id"] == first["referral_id"]


def test_a_request_withdrawn_by_an_analyst_can_no_longer_be_answered(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id, other_id = submit(receiver), submit(receiver)
    with receiver.http("analyst") as http:
        request_id = http.post(
            f"/v1/referrals/{referral_id}/information-requests", json={"question": "More?"}
        ).json()["id"]
        path = f"/v1/referrals/{referral_id}/information-requests/{request_id}/withdrawal"
        wrong_referral = http.post(
            f"/v1/referrals/{other_id}/information-requests/{request_id}/withdrawal",
            json={"reason": "sent in error"},
        )
        no_reason = http.post(path, json={})
        withdrawn = http.post(path, json={"reason": "asked of the wrong ASW"})
        again = http.post(path, json={"reason": "twice"})
    assert (wrong_referral.status_code, wrong_referral.json()["code"]) == (404, "not_found")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["pointer"] == "/reason"
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["id"], withdrawn.json()["state"]) == (request_id, "withdrawn")
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    with receiver.client(ASW) as client:
        assert client.list_information_requests().items == []  # open ones only, by default
        [request] = client.list_information_requests(state="withdrawn").items
        assert (request.id, request.state) == (request_id, "withdrawn")
        with pytest.raises(ReferralRejected) as refused:
            client.answer_information_request(request, fresh_referral(asw_id=ASW))
    assert (refused.value.status, refused.value.code) == (422, "information_request_unknown")
    with receiver.session() as session:
        events = session.scalars(
            sa.select(tables.AuditEvent).where(
                tables.AuditEvent.action == "information_request.withdrawn"
            )
        ).all()
        assert [(e.actor, e.reason) for e in events] == [("test-analyst", "asked of the wrong ASW")]
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Referral)) == 2


def test_information_requests_page_in_the_order_they_were_made(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    made = []
    with receiver.http("analyst") as http:
        for n in range(53):
            response = http.post(
                f"/v1/referrals/{referral_id}/information-requests", json={"question": f"Q{n}"}
            )
            made.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    with receiver.client(ASW) as client:
        while True:
            page = client.list_information_requests(cursor=cursor)
            seen += [r.id for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == made


def test_a_supervisor_assigns_and_an_analyst_cannot(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    body = {"assignee": "DC Khan", "reason": "Op Larch lead"}
    with receiver.http("analyst") as http:
        refused = http.post(f"/v1/referrals/{referral_id}/assignment", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    with receiver.http("supervisor") as http:
        assigned = http.post(f"/v1/referrals/{referral_id}/assignment", json=body)
        empty = http.post(f"/v1/referrals/{referral_id}/assignment",
                          json={"assignee": "", "reason": "r"})  # fmt: skip
    assert assigned.json() == {"referral_id": referral_id, "assigned_to": "DC Khan"}
    assert (empty.status_code, empty.json()["code"]) == (422, "request_invalid")
    with receiver.http("analyst") as http:
        assert http.get(f"/v1/referrals/{referral_id}").json()["assigned_to"] == "DC Khan"
    assert ("referral.assigned", "test-supervisor", "supervisor") in audit_actions(
        receiver, referral_id
    )


def test_bad_casework_input_is_a_clean_problem(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = submit(receiver)
    with receiver.http("analyst") as http:
        naive = http.post(
            f"/v1/referrals/{referral_id}/information-requests",
            json={"question": "When?", "due_by": "2026-05-01T17:00:00"},
        )
        extra = http.post(
            f"/v1/referrals/{referral_id}/transitions",
            json={"to_state": "triaged", "reason": "r", "as_role": "supervisor"},
        )
        long_reason = http.get(
            f"/v1/referrals/{referral_id}", headers={"Strive-Reason": "x" * 2001}
        )
        not_json = http.post(
            f"/v1/referrals/{referral_id}/feedback",
            content=b"\xff{", headers={"Content-Type": "application/json"},
        )  # fmt: skip
    assert (naive.status_code, naive.json()["code"]) == (422, "request_invalid")
    assert naive.json()["errors"][0]["pointer"] == "/due_by"
    assert (extra.status_code, extra.json()["code"]) == (422, "request_invalid")
    assert (long_reason.status_code, long_reason.json()["code"]) == (422, "request_invalid")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "request_malformed")
    assert state_of(receiver, referral_id) == ("received", None)
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Feedback)) == 0
        count = session.scalar(sa.select(sa.func.count()).select_from(tables.InformationRequest))
        assert count == 0
    with receiver.http() as http:
        assert http.get("/healthz").status_code == 200


def test_a_referral_id_two_asws_used_is_ambiguous_until_the_asw_is_named(
    receiver: Receiver,
) -> None:
    """Referral ids are the ASW's own, unique only per ASW: an id two ASWs chose is a 409
    ``referral_ambiguous`` problem listing the candidates until ``?asw_id=`` chooses one."""
    receiver.register_asw(ASW)
    receiver.register_asw(OTHER)
    shared = fresh_referral("op-strive-1-london.json", asw_id=ASW)
    for asw_id in (ASW, OTHER):
        shared["reporter"]["organisation_id"] = asw_id
        with receiver.client(asw_id) as client:
            client.submit_referral(shared)
    referral_id = str(shared["referral_id"])
    with receiver.http("analyst") as http:
        for path in (f"/v1/referrals/{referral_id}", f"/v1/referrals/{referral_id}/links"):
            response = http.get(path)
            assert response.status_code == 409, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "referral_ambiguous"
            assert response.json()["asw_ids"] == sorted((ASW, OTHER))
        for asw_id in (ASW, OTHER):
            chosen = http.get(f"/v1/referrals/{referral_id}", params={"asw_id": asw_id})
            assert chosen.status_code == 200, chosen.text
            assert chosen.json()["asw_id"] == asw_id
    assert move(receiver, "analyst", referral_id, "triaged").json()["code"] == "referral_ambiguous"
