"""From referral to outcome: assessment, research, sealed dissemination to a force, outcomes
the force reports with its own signed requests, statistics, and every refusal; on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from strive_schema.errors import SealedCode, SealedPackageError
from strive_schema.httpsig import sign_request
from strive_schema.keys import SigningKey
from strive_schema.sealed import RecipientDecryptionKeys, SealSuite, open_package
from strive_server.db import tables
from strive_server.services import assessment
from strive_server.services.audit import Actor
from strive_server.services.pathway_stats import pathway_statistics

from .conftest import Receiver, fresh_referral
from .test_casework import signed_get
from .test_linking import OP_STRIVE, links_of, submit_examples

THRIVE = {
    "threat": "Third parties control adverts for several women",
    "harm": "Sexual exploitation",
    "risk": "High: movement between regions",
    "investigation": "Payer names and phones to research",
    "vulnerability": "Possible trafficking victims",
    "engagement": "Force to consider safeguarding visits",
    "rationale": "Indicators of control across three regions",
    "priority": "P1",
}
GRADING = {"source_evaluation": "2", "intelligence_assessment": "B", "handling_code": "P"}


class Force:
    """A recipient: its signing key and decryption keys."""

    def __init__(self, recipient_id: str, regions: list[str]) -> None:
        self.recipient_id = recipient_id
        self.regions = regions
        self.signing = SigningKey.generate()
        self.decryption = RecipientDecryptionKeys.generate()

    def jwks(self, *, classic_only: bool = False) -> dict[str, Any]:
        keys = [k for k in self.decryption.public_keys()
                if not classic_only or k.suite is SealSuite.CLASSIC]  # fmt: skip
        return {"keys": [self.signing.public_key.to_jwk(), *(k.to_jwk() for k in keys)]}

    def register(self, receiver: Receiver, **kwargs: Any) -> None:
        """Registered over the API: one admin asks, a second approves (dual control)."""
        with receiver.http("admin") as http:
            asked = http.post(
                "/v1/admin/recipients",
                json={"recipient_id": self.recipient_id, "name": self.recipient_id,
                      "regions": self.regions, "public_keys": self.jwks(**kwargs)},
            )  # fmt: skip
        assert asked.status_code == 202, asked.text
        second = receiver.tokens.get("second-admin") or receiver.token("admin", name="Second")
        receiver.tokens["second-admin"] = second
        with httpx.Client(base_url=receiver.url, headers={"Authorization": f"Bearer {second}"},
                          timeout=30) as http:  # fmt: skip
            approved = http.post(f"/v1/admin/approval-requests/{asked.json()['id']}/approve")
        assert approved.status_code == 200, approved.text

    def report(self, receiver: Receiver, report: dict[str, Any]) -> httpx.Response:
        url = f"{receiver.url}/v1/recipient/outcomes"
        body = json.dumps(report).encode()
        headers = {"Content-Type": "application/json", "Strive-Recipient-Id": self.recipient_id}
        headers |= sign_request("POST", url, headers, body, self.signing)
        return httpx.post(url, content=body, headers=headers, timeout=30)


@pytest.fixture
def cluster(receiver: Receiver) -> dict[str, Any]:
    documents = submit_examples(receiver, OP_STRIVE)
    first = documents[OP_STRIVE[0]]
    return {"id": links_of(receiver, first["referral_id"])["cluster_id"], "documents": documents}


def _assess(receiver: Receiver, cluster_id: int) -> None:
    with receiver.http("analyst") as http:
        response = http.post(f"/v1/clusters/{cluster_id}/assessments", json=THRIVE)
    assert response.status_code == 201, response.text


def _disseminate(
    receiver: Receiver, cluster_id: int, recipient_id: str, role: str = "supervisor",
    **extra: Any,
) -> httpx.Response:  # fmt: skip
    body = {"recipient_id": recipient_id, "reason": "adverts in the force's area",
            "grading": GRADING, **extra}  # fmt: skip
    with receiver.http(role) as http:
        return http.post(f"/v1/clusters/{cluster_id}/disseminations", json=body)


def _receiver_keys(receiver: Receiver) -> list[Any]:
    return receiver.settings.published_keys


def test_from_assessment_to_outcome_end_to_end(receiver: Receiver, cluster: dict[str, Any]) -> None:
    london = Force("met-cse", ["TLI"])
    london.register(receiver)
    Force("northumbria", ["TLC", "TLD"]).register(receiver)
    with receiver.http("analyst") as http:
        suggestions = http.get(f"/v1/clusters/{cluster['id']}/recipient-suggestions").json()
        finding = http.post(
            "/v1/research-findings",
            json={"selector": {"kind": "phone", "value": "07700 900101"},
                  "finding": "Phone on a 2025 intelligence report", "source_reference": "PNC 1234",
                  "grading": {**GRADING, "handling_code": "C",
                              "handling_conditions": "CSE unit only"}},
        )  # fmt: skip
    assert {s["recipient_id"] for s in suggestions["suggestions"]} >= {"met-cse", "northumbria"}
    assert finding.status_code == 201, finding.text
    _assess(receiver, cluster["id"])

    response = _disseminate(receiver, cluster["id"], "met-cse", formats=["json", "md"])
    assert response.status_code == 201, response.text
    dissemination_id = response.headers["strive-dissemination-id"]
    sealed = response.content
    opened = open_package(
        sealed, london.decryption, receiver_keys=_receiver_keys(receiver),
        expected_recipient_id="met-cse",
    )  # fmt: skip
    assert opened.header.suite is SealSuite.PQ_HYBRID
    assert opened.package_sha256 == response.headers["strive-package-sha256"]
    names = [f.name for f in opened.files]
    assert names[-1].endswith("-assessment.json") and len(names) == 3
    research = json.loads(opened.files[-1].content)
    assert research["assessment"]["priority"] == "P1"
    assert research["research_findings"][0]["source_reference"] == "PNC 1234"
    assert opened.manifest.grading.code == "2/B/P"
    summary = next(f for f in opened.files if f.name.endswith(".md")).content.decode()
    assert "## Grading\n\n2/B/P" in summary and "PNC 1234" in summary
    package_json = json.loads(
        next(f for f in opened.files if f.name.endswith(f"{cluster['id']}.json")).content
    )
    assert package_json["grading"]["intelligence_assessment"] == "B"
    assert len(opened.manifest.referrals) == len(OP_STRIVE)

    with receiver.http("analyst") as http:
        record = http.get(f"/v1/disseminations/{dissemination_id}").json()
    assert record["package_sha256"] == opened.package_sha256
    assert record["recipient_id"] == "met-cse" and record["formats"] == ["json", "md"]
    assert "content" not in json.dumps(record)

    asw_id, referral_id = opened.manifest.referrals[0]
    for outcome, ref in (("arrest", "CAD 42"), ("charge", "CPS 7")):
        reported = london.report(receiver, {
            "dissemination_id": dissemination_id, "referral_id": referral_id, "asw_id": asw_id,
            "outcome": outcome, "force_reference": ref, "release_to_asw": True,
        })  # fmt: skip
        assert reported.status_code == 201, reported.text
    with receiver.http("analyst") as http:
        history = http.get(f"/v1/referrals/{referral_id}/outcomes").json()
    assert [o["outcome"] for o in history["outcomes"]] == ["arrest", "charge"]
    assert history["latest"] == "charge"
    assert history["outcomes"][1]["home_office_outcome"] == "1"
    assert history["outcomes"][0]["force_reference"] == "CAD 42"

    with receiver.client(asw_id) as client:
        status = client.get_referral_status(referral_id)
    assert status.outcome == "charge"
    # The ASW sees the released outcome, never the research, the references or the grading.
    seen = signed_get(receiver, asw_id, f"/v1/referrals/{referral_id}/status").text
    assert "PNC 1234" not in seen and "CAD 42" not in seen and "CPS 7" not in seen

    # Outcomes on the whole dissemination apply to each referral in it.
    whole = london.report(receiver, {"dissemination_id": dissemination_id,
                                     "outcome": "safeguarding_visit"})  # fmt: skip
    assert whole.status_code == 201 and len(whole.json()["recorded"]) == len(OP_STRIVE)

    with receiver.http("auditor") as http:
        stats = http.get("/v1/stats").json()
        audit = http.get("/v1/audit", params={"limit": 500}).json()["items"]
    pathway = stats["pathway"]
    assert pathway["assessed"] == pathway["disseminated"] == pathway["received"] == "<5"
    with receiver.session() as session:
        exact = pathway_statistics(session, threshold=1)
    n = len(OP_STRIVE)
    assert (exact["received"], exact["assessed"], exact["disseminated"]) == (n, n, n)
    assert (exact["arrest"], exact["charge"], exact["safeguarding"], exact["conviction"]) == (
        1, 1, n, 0,
    )  # fmt: skip
    assert sum(exact["by_month"]["disseminated"].values()) == n
    assert exact["time_to_dissemination"] == {"referrals": n, "median_days": 0.0}
    assert exact["time_to_first_outcome"]["median_days"] == 0.0
    actions = {e["action"] for e in audit}
    assert {"assessment.recorded", "research.recorded", "cluster.disseminated",
            "referral.outcome_reported"} <= actions  # fmt: skip
    assert "900101" not in json.dumps(audit)


def test_classic_recipient_gets_the_classic_suite(
    receiver: Receiver, cluster: dict[str, Any]
) -> None:
    force = Force("legacy-force", ["TLJ"])
    force.register(receiver, classic_only=True)
    _assess(receiver, cluster["id"])
    response = _disseminate(receiver, cluster["id"], "legacy-force")
    assert response.status_code == 201, response.text
    opened = open_package(
        response.content, force.decryption, receiver_keys=_receiver_keys(receiver)
    )
    assert opened.header.suite is SealSuite.CLASSIC
    other = Force("someone-else", [])
    with pytest.raises(SealedPackageError) as caught:
        open_package(response.content, other.decryption, receiver_keys=_receiver_keys(receiver))
    assert caught.value.code is SealedCode.SEALED_RECIPIENT_MISMATCH


def _code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["code"])


def test_dissemination_refusals(receiver: Receiver, cluster: dict[str, Any]) -> None:
    force = Force("met-cse", ["TLI"])
    force.register(receiver)
    # No assessment yet.
    refused = _disseminate(receiver, cluster["id"], "met-cse")
    assert (refused.status_code, _code(refused)) == (409, "assessment_required")
    _assess(receiver, cluster["id"])
    unknown = _disseminate(receiver, cluster["id"], "no-such-force")
    assert (unknown.status_code, _code(unknown)) == (404, "recipient_unknown")
    for role in ("analyst", "auditor", "admin"):
        wrong = _disseminate(receiver, cluster["id"], "met-cse", role=role)
        assert (wrong.status_code, _code(wrong)) == (403, "forbidden")
    bad_grading = _disseminate(
        receiver, cluster["id"], "met-cse", grading={**GRADING, "handling_code": "C"}
    )
    assert (bad_grading.status_code, _code(bad_grading)) == (422, "request_invalid")
    with receiver.http("admin") as http:
        assert http.delete("/v1/admin/recipients/met-cse").status_code == 200
    revoked = _disseminate(receiver, cluster["id"], "met-cse")
    assert (revoked.status_code, _code(revoked)) == (409, "recipient_revoked")
    # A revoked recipient's signed requests no longer authenticate.
    report = force.report(receiver, {"dissemination_id": "dis-x", "outcome": "arrest"})
    assert (report.status_code, _code(report)) == (401, "key_revoked")


def test_sandbox_referrals_are_never_disseminated(
    receiver: Receiver, cluster: dict[str, Any]
) -> None:
    # Test referrals are never linked; a cluster holding one (a bug, or a database edited by
    # hand) must still never leave the facility.
    receiver.register_asw("example-asw")
    document = fresh_referral("sandbox-minimal.json", asw_id="example-asw")
    with receiver.client("example-asw") as client:
        client.submit_referral(document)
    with receiver.session() as session, session.begin():
        session.execute(
            sa.update(tables.Referral)
            .where(tables.Referral.referral_id == document["referral_id"])
            .values(cluster_id=cluster["id"])
        )
    Force("met-cse", ["TLI"]).register(receiver)
    _assess(receiver, cluster["id"])
    refused = _disseminate(receiver, cluster["id"], "met-cse")
    assert (refused.status_code, _code(refused)) == (409, "sandbox_referral")


def test_outcomes_only_for_what_was_sent_to_the_recipient(
    receiver: Receiver, cluster: dict[str, Any]
) -> None:
    london, kent = Force("met-cse", ["TLI"]), Force("kent", ["TLJ"])
    london.register(receiver)
    kent.register(receiver)
    _assess(receiver, cluster["id"])
    response = _disseminate(receiver, cluster["id"], "met-cse")
    dissemination_id = response.headers["strive-dissemination-id"]
    # Kent was never sent it.
    refused = kent.report(receiver, {"dissemination_id": dissemination_id, "outcome": "arrest"})
    assert (refused.status_code, _code(refused)) == (403, "outcome_not_disseminated")
    # London was, but not this referral.
    receiver.register_asw("other-asw")
    stray = fresh_referral("male-paying-for-adverts.json", asw_id="other-asw")
    with receiver.client("other-asw") as client:
        client.submit_referral(stray)
    refused = london.report(receiver, {"dissemination_id": dissemination_id,
                                       "referral_id": stray["referral_id"], "outcome": "arrest"})  # fmt: skip
    assert (refused.status_code, _code(refused)) == (403, "outcome_not_disseminated")
    # Unsigned, or signed by a key that is not the recipient's.
    unsigned = httpx.post(f"{receiver.url}/v1/recipient/outcomes", json={})
    assert unsigned.status_code == 401
    impostor = Force("met-cse", [])
    forged = impostor.report(receiver, {"dissemination_id": dissemination_id, "outcome": "arrest"})
    assert forged.status_code == 401
    with receiver.http("analyst") as http:
        history = http.get(f"/v1/referrals/{stray['referral_id']}/outcomes").json()
    assert history["outcomes"] == []


def test_assessment_and_research_input_is_checked(
    receiver: Receiver, cluster: dict[str, Any]
) -> None:
    with receiver.http("analyst") as http:
        missing = http.post(f"/v1/clusters/{cluster['id']}/assessments",
                            json={**THRIVE, "harm": ""})  # fmt: skip
        two_subjects = http.post("/v1/research-findings", json={
            "cluster_id": cluster["id"], "referral_id": "x", "finding": "f",
            "source_reference": "s", "grading": GRADING})  # fmt: skip
        no_cluster = http.post("/v1/clusters/999999/assessments", json=THRIVE)
    assert (missing.status_code, _code(missing)) == (422, "request_invalid")
    assert any(e["pointer"] == "/harm" for e in missing.json()["errors"])
    assert (two_subjects.status_code, _code(two_subjects)) == (422, "request_invalid")
    assert no_cluster.status_code == 404
    with receiver.http("auditor") as http:
        forbidden = http.post(f"/v1/clusters/{cluster['id']}/assessments", json=THRIVE)
    assert (forbidden.status_code, _code(forbidden)) == (403, "forbidden")


def test_supervisor_outcomes_are_kept_as_history_and_counted_ever(
    receiver: Receiver, cluster: dict[str, Any]
) -> None:
    referral_id = next(iter(cluster["documents"].values()))["referral_id"]
    with receiver.http("supervisor") as http:
        for to_state in ("triaged", "under_assessment", "package_developed", "disseminated"):
            moved = http.post(f"/v1/referrals/{referral_id}/transitions",
                              json={"to_state": to_state, "reason": "worked"})  # fmt: skip
            assert moved.status_code == 200, moved.text
        closed = http.post(f"/v1/referrals/{referral_id}/transitions",
                           json={"to_state": "closed", "outcome": "arrest", "reason": "arrested"})  # fmt: skip
        assert closed.status_code == 200, closed.text
        charged = http.post(f"/v1/referrals/{referral_id}/outcomes",
                            json={"outcome": "charge", "reason": "CPS", "case_reference": "CPS/1"})  # fmt: skip
        assert charged.status_code == 200, charged.text
        history = http.get(f"/v1/referrals/{referral_id}/outcomes").json()
    assert [(o["outcome"], o["case_reference"]) for o in history["outcomes"]] == [
        ("arrest", None), ("charge", "CPS/1"),
    ]  # fmt: skip
    assert history["latest"] == "charge"
    with receiver.session() as session:
        counts = pathway_statistics(session, threshold=1)
    # Both are counted: the charge did not overwrite the arrest.
    assert (counts["arrest"], counts["charge"], counts["conviction"]) == (1, 1, 0)
    assert counts["time_to_first_outcome"]["median_days"] is not None
    first = next(iter(cluster["documents"].values()))
    assert counts["by_asw"]["arrest"] == {first["reporter"]["organisation_id"]: 1}


def test_assessments_carry_over_cluster_merges(receiver: Receiver) -> None:
    now = datetime.now(UTC)
    with receiver.session() as session, session.begin():
        chain = [tables.Cluster(created_at=now, updated_at=now) for _ in range(3)]
        session.add_all(chain)
        session.flush()
        chain[0].merged_into, chain[1].merged_into = chain[1].id, chain[2].id
        recorded = assessment.record_assessment(
            session, cluster=chain[0], referral=None,
            considerations=dict.fromkeys(assessment.THRIVE_FIELDS, "x"), rationale="r",
            priority="P3", actor=Actor("user", "t", "analyst"),
        )  # fmt: skip
        found = assessment.latest_cluster_assessment(session, chain[2], [])
        assert found is not None and found.id == recorded.id
        assert assessment.latest_cluster_assessment(session, chain[0], []) is not None
        other = tables.Cluster(created_at=now, updated_at=now)
        session.add(other)
        session.flush()
        assert assessment.latest_cluster_assessment(session, other, []) is None


def test_a_cluster_id_beyond_the_column_is_refused_not_a_server_error(receiver: Receiver) -> None:
    # PostgreSQL's integer column cannot hold it: the path parameter is refused first.
    huge = 2**35
    with receiver.http("supervisor") as http:
        answers = [
            http.post(f"/v1/clusters/{huge}/assessments", json=THRIVE),
            http.get(f"/v1/clusters/{huge}/research"),
            http.get(f"/v1/clusters/{huge}/recipient-suggestions"),
            http.post(f"/v1/clusters/{huge}/disseminations",
                      json={"recipient_id": "met-cse", "reason": "r", "grading": GRADING}),
            http.post("/v1/research-findings", json={
                "cluster_id": huge, "finding": "f", "source_reference": "s", "grading": GRADING}),
        ]  # fmt: skip
    assert [(r.status_code, _code(r)) for r in answers] == [(422, "request_invalid")] * 5
