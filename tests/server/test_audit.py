"""The audit trail and least exposure: every read of content and every change is recorded
with who, role and why; the trail, the logs and the metrics hold no personal data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from strive_client import ReferralRejected
from strive_server.core.logging import JsonFormatter
from strive_server.db import tables

from ..conftest import load_example
from .conftest import Receiver, fresh_referral

ASW = "example-adverts"
EXAMPLE = "op-strive-1-london.json"
READER = "DC Reader"
WHY = "Op Larch triage, ticket 42"


def personal_values(example: str = EXAMPLE) -> list[str]:
    """Values from the example that identify or concern people: none may leak."""
    document = load_example(example)
    values = [p["raw"] for p in document["phones"]]
    values += [p["e164"] for p in document["phones"] if "e164" in p]
    values += [p["raw"].replace(" ", "").replace("-", "")[-10:] for p in document["phones"]]
    values += [e["address"] for e in document["emails"]]
    values += [e["address"].lower() for e in document["emails"]]
    values += [p["payer_name"] for p in document["payments"]]
    values += [p["card_fingerprint"] for p in document["payments"]]
    values += [name for person in document["persons"] for name in person.get("names", [])]
    values += [a["platform_account_id"] for a in document["accounts"]]
    values += [name for a in document["accounts"] for name in a["display_names"]]
    values += [e["ip_address"] for e in document["technical_events"]]
    values += [e["device_id"] for e in document["technical_events"]]
    values += [document["reporter"]["safeguarding_contact"]["email"]]
    values += ["Whitechapel", "Paddington", "Stratford", "Romanian", "late 30s"]
    values += [document["handling"]["declaration"]["submitted_by"]]
    return sorted(set(values))


def leaks(text: str, values: list[str]) -> list[str]:
    return [value for value in values if value in text]


def audit_dump(receiver: Receiver) -> str:
    with receiver.session() as session:
        rows = session.execute(sa.select(tables.AuditEvent.__table__)).all()
    return json.dumps([[str(value) for value in row] for row in rows], ensure_ascii=False)


def work_a_referral(receiver: Receiver) -> str:
    """Submit the London example and do everything people do with a referral."""
    referral = fresh_referral(EXAMPLE, asw_id=ASW)
    referral_id = str(referral["referral_id"])
    with receiver.client(ASW) as client:
        client.submit_referral(referral)
    reader = receiver.token("analyst", name=READER)
    reads = {"Authorization": f"Bearer {reader}", "Strive-Reason": WHY}
    with receiver.http() as http:
        for suffix in ("", "/evidence", "/history"):
            assert (
                http.get(f"/v1/referrals/{referral_id}{suffix}", headers=reads).status_code == 200
            )

        def post(role: str, path: str, body: dict[str, Any]) -> None:
            headers = {"Authorization": f"Bearer {receiver.token(role)}"}
            response = http.post(f"/v1/referrals/{referral_id}{path}", json=body, headers=headers)
            assert response.status_code in (200, 201), response.text

        for to_state in ("triaged", "under_assessment", "package_developed", "disseminated"):
            post("analyst", "/transitions", {"to_state": to_state, "reason": f"to {to_state}"})
        post("supervisor", "/assignment", {"assignee": "DC Khan", "reason": "lead"})
        post("analyst", "/information-requests", {"question": "Payment history, please."})
        post("supervisor", "/transitions",
             {"to_state": "closed", "outcome": "arrest", "reason": "arrested"})  # fmt: skip
        post("supervisor", "/outcomes", {"outcome": "charge", "reason": "charged"})
        post("analyst", "/feedback",
             {"message": "Thank you.", "outcome": "charge", "release_to_asw": True})  # fmt: skip
    with receiver.client(ASW) as client:
        client.get_referral_status(referral_id)
    return referral_id


def test_every_read_and_change_is_audited_with_who_role_and_why(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    referral_id = work_a_referral(receiver)
    with receiver.http("auditor") as http:
        page = http.get("/v1/audit", params={"referral_id": referral_id, "limit": 500}).json()
    events = [(e["action"], e["actor"], e["role"], e["reason"]) for e in page["items"]]
    assert events == [
        ("referral.submitted", ASW, None, None),
        ("referral.read", READER, "analyst", WHY),
        ("referral.evidence_verified", READER, "analyst", WHY),
        ("referral.history_read", READER, "analyst", WHY),
        ("referral.transitioned", "test-analyst", "analyst", "to triaged"),
        ("referral.transitioned", "test-analyst", "analyst", "to under_assessment"),
        ("referral.transitioned", "test-analyst", "analyst", "to package_developed"),
        ("referral.transitioned", "test-analyst", "analyst", "to disseminated"),
        ("referral.assigned", "test-supervisor", "supervisor", "lead"),
        ("information_request.created", "test-analyst", "analyst", None),
        ("referral.transitioned", "test-supervisor", "supervisor", "arrested"),
        ("referral.outcome_recorded", "test-supervisor", "supervisor", "charged"),
        ("referral.feedback_added", "test-analyst", "analyst", None),
        ("referral.status_read", ASW, None, None),
    ]
    assert len({e["referral_pk"] for e in page["items"]}) == 1
    assert all(e["at"] for e in page["items"])
    closing = page["items"][10]["detail"]
    assert closing == {"from": "disseminated", "to": "closed", "outcome": "arrest"}
    # A read without a reason is still recorded, with no reason.
    with receiver.http("supervisor") as http:
        http.get(f"/v1/referrals/{referral_id}")
    with receiver.session() as session:
        last = session.scalars(
            sa.select(tables.AuditEvent).order_by(tables.AuditEvent.id.desc()).limit(1)
        ).one()
    assert (last.action, last.actor, last.role, last.reason) == (
        "referral.read", "test-supervisor", "supervisor", None,
    )  # fmt: skip
    # The auditor's own reading is on the record too.
    with receiver.session() as session:
        reads = session.scalars(
            sa.select(tables.AuditEvent.actor).where(tables.AuditEvent.action == "audit.read")
        ).all()
    assert reads == ["test-auditor"]


def test_the_audit_trail_holds_no_referral_content(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    work_a_referral(receiver)
    values = personal_values()
    dump = audit_dump(receiver)
    assert "referral.read" in dump  # the dump is the real trail
    assert leaks(dump, values) == []
    with receiver.http("auditor") as http:
        served = http.get("/v1/audit", params={"limit": 500}).text
    assert leaks(served, values) == []
    # The narrative, word for word, is nowhere either.
    narrative_words = {w.strip('.,"();') for w in load_example(EXAMPLE)["narrative"].split()}
    proper_nouns = sorted(w for w in narrative_words if w[:1].isupper() and len(w) > 4)
    assert leaks(dump, proper_nouns) == [] and leaks(served, proper_nouns) == []


def test_audit_rows_cannot_be_updated_or_deleted(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    work_a_referral(receiver)
    audit = tables.AuditEvent
    statements: list[Any] = [
        sa.update(audit).values(actor="someone else"),
        sa.update(audit).values(reason=None),
        sa.update(audit).values(detail={}),
        sa.update(audit).where(audit.action == "referral.read").values(action="nothing"),
        sa.delete(audit).where(audit.action == "referral.read"),
        sa.delete(audit),
    ]
    with receiver.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            statements.append(sa.text("TRUNCATE audit_events"))
        before = audit_dump(receiver)
        for statement in statements:
            with pytest.raises(sa.exc.DBAPIError, match="strive"), session.begin():
                session.execute(statement)
    assert audit_dump(receiver) == before


def test_the_audit_trail_pages_with_after(receiver: Receiver) -> None:
    receiver.register_asw(ASW)
    work_a_referral(receiver)
    with receiver.session() as session:
        existing = session.scalars(sa.select(tables.AuditEvent.id).order_by(tables.AuditEvent.id))
        ids = list(existing)
    assert len(ids) > 15
    seen: list[int] = []
    after: int | None = 0
    with receiver.http("auditor") as http:
        while after is not None:
            page = http.get("/v1/audit", params={"after": after, "limit": 7}).json()
            assert len(page["items"]) <= 7
            seen += [item["id"] for item in page["items"]]
            after = page["next_after"]
        # Each page read was itself recorded, after the events read so far.
        assert seen == sorted(set(seen)) and seen[: len(ids)] == ids
        assert len(seen) > len(ids)
        for params in ({"after": -1}, {"limit": 0}, {"limit": 501}, {"after": "x"}):
            response = http.get("/v1/audit", params=params)
            assert (response.status_code, response.json()["code"]) == (422, "request_invalid")


class Collecting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def strive_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record of the 'strive' loggers, at every level, whatever their propagation."""
    logger = logging.getLogger("strive")
    previous = logger.level
    handler = Collecting()
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_personal_data_never_reaches_logs_or_metrics(
    receiver: Receiver, strive_logs: list[logging.LogRecord]
) -> None:
    receiver.register_asw(ASW)
    referral_id = work_a_referral(receiver)
    # A rejected referral too: an error message must not echo the bad value.
    bad = fresh_referral(EXAMPLE, asw_id=ASW)
    bad["phones"][0]["e164"] = "+4477009001019 ext"  # not E.164: a schema error
    bad["emails"][0]["address"] = "not-an-address-bianca.ldn"
    with receiver.client(ASW, validate=False) as client, pytest.raises(ReferralRejected) as no:
        client.submit_referral(bad)
    assert leaks(json.dumps(no.value.problem), ["+4477009001019", "bianca.ldn"]) == []
    with receiver.http("auditor") as http:
        metrics = http.get("/metrics").text
    assert "strive_http_requests_total" in metrics and "strive_submissions_total" in metrics
    formatter = JsonFormatter()
    logs = "\n".join(formatter.format(record) for record in strive_logs)
    assert any(getattr(r, "event", None) == "http_request" for r in strive_logs)
    values = [*personal_values(), "+4477009001019", "not-an-address"]
    assert leaks(logs, values) == []
    assert leaks(metrics, values) == []
    # Metrics are labelled by route template: not even the referral id appears.
    assert referral_id not in metrics and referral_id not in logs
    assert 'route="/v1/referrals/{referral_id}"' in metrics
