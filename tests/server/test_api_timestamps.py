"""Every timestamp the receiver writes in an API body has one form (spec/api.md,
"Conventions"): RFC 3339, UTC, whole seconds, ``Z``. The referral document itself is the
ASW's and is returned as it was sent, so it is not scanned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from strive_schema.httpsig import sign_request

from .conftest import Receiver, fresh_referral

ASW = "example-adverts"
LOOKS_LIKE_A_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
API_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ASW_CONTENT = frozenset({"document"})  # the referral as the ASW sent it


def timestamps(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string that looks like a date-time, with its JSON Pointer."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name not in ASW_CONTENT:
                yield from timestamps(item, f"{path}/{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from timestamps(item, f"{path}/{index}")
    elif isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        yield path, value


def signed_get(receiver: Receiver, path: str) -> httpx.Response:
    url = f"{receiver.url}{path}"
    headers = {"Strive-Asw-Id": ASW}
    headers.update(sign_request("GET", url, headers, b"", receiver.keys[ASW]))
    return httpx.get(url, headers=headers)


def test_every_timestamp_in_every_body_has_the_one_form(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral = fresh_referral("op-strive-1-london.json", asw_id=ASW)
    referral_id = referral["referral_id"]
    with receiver.client(ASW) as client:
        client.submit_referral(referral)
    path = f"/v1/referrals/{referral_id}"
    bodies: dict[str, Any] = {}
    with receiver.http("supervisor") as http:
        writes = {
            "transition": http.post(
                f"{path}/transitions", json={"to_state": "triaged", "reason": "seen"}
            ),
            "feedback": http.post(
                f"{path}/feedback", json={"message": "Thank you.", "release_to_asw": True}
            ),
            "information request": http.post(
                f"{path}/information-requests",
                # An offset and a fraction in the request; the answer is in the one form.
                json={"question": "Payer details?", "due_by": "2027-01-02T09:30:15.250+01:00"},
            ),
        }
        for name, response in writes.items():
            assert response.status_code in (200, 201), (name, response.text)
            bodies[name] = response.json()
        for read in (
            path,
            f"{path}/history",
            f"{path}/information-requests",
            f"{path}/links",
            "/v1/triage",
            "/v1/stats",
        ):
            response = http.get(read)
            assert response.status_code == 200, (read, response.text)
            bodies[read] = response.json()
    with receiver.http("auditor") as http:
        bodies["/v1/audit"] = http.get("/v1/audit").json()
    with receiver.http("admin") as http:
        asked = http.post("/v1/admin/tokens", json={"name": "scan", "role": "analyst"})
        assert asked.status_code == 202, asked.text
        bodies["approval request"] = asked.json()
    second_admin = receiver.token("admin", name="second admin")
    with httpx.Client(
        base_url=receiver.url, headers={"Authorization": f"Bearer {second_admin}"}, timeout=30
    ) as http:
        approved = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
        assert approved.status_code == 200, approved.text
        bodies["approved token"] = approved.json()
    with receiver.http("admin") as http:
        collected = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/collect")
        assert collected.status_code == 200, collected.text
        bodies["collected token half"] = collected.json()
    for read in (f"{path}/status", "/v1/information-requests"):
        response = signed_get(receiver, read)
        assert response.status_code == 200, (read, response.text)
        bodies[f"asw {read}"] = response.json()

    found = [(name, *hit) for name, body in bodies.items() for hit in timestamps(body)]
    assert len(found) >= 10, found  # the scan saw the bodies' times
    wrong = [hit for hit in found if not API_TIMESTAMP.fullmatch(hit[2])]
    assert wrong == [], "\n".join(map(str, wrong))
    [request] = bodies["asw /v1/information-requests"]["items"]
    assert request["due_by"] == "2027-01-02T08:30:15Z"
