"""Retention and review: a referral's review date, and a supervisor's erasure of its content
after review; the digests, audit trail and statistics remain, and the database still refuses
any other change to the evidence. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from strive_server.db import tables
from strive_server.services.retention import DEFAULT_REVIEW_DAYS

from .conftest import Receiver
from .test_linking import OP_STRIVE, submit_examples


def _close(receiver: Receiver, referral_id: str, outcome: str) -> None:
    with receiver.http("supervisor") as http:
        for to_state, extra in (("triaged", {}), ("closed", {"outcome": outcome})):
            response = http.post(f"/v1/referrals/{referral_id}/transitions",
                                 json={"to_state": to_state, "reason": "reviewed", **extra})  # fmt: skip
            assert response.status_code == 200, response.text


def _set_retention(receiver: Receiver, days: dict[str, int]) -> None:
    settings = receiver.app.state.settings
    object.__setattr__(
        receiver.app.state, "settings", settings.model_copy(update={"retention_review_days": days})
    )


def test_review_dates_follow_the_most_consequential_outcome(receiver: Receiver) -> None:
    documents = submit_examples(receiver, OP_STRIVE[:1])
    referral_id = next(iter(documents.values()))["referral_id"]
    with receiver.http("analyst") as http:
        before = http.get(f"/v1/referrals/{referral_id}/review").json()
    assert before["basis"] == "none" and before["erased"] is False
    _close(receiver, referral_id, "arrest")
    with receiver.http("analyst") as http:
        after = http.get(f"/v1/referrals/{referral_id}/review").json()
    due = datetime.fromisoformat(after["review_due"])
    assert after["basis"] == "arrest"
    expected = datetime.now(UTC) + timedelta(days=DEFAULT_REVIEW_DAYS["arrest"])
    assert abs((due - expected).total_seconds()) < 120


def test_erasure_after_review_keeps_digests_audit_and_statistics(receiver: Receiver) -> None:
    documents = submit_examples(receiver, OP_STRIVE[:2])
    referral_id, other_id = (d["referral_id"] for d in documents.values())
    erase = {"reason": "MoPI review: no further need to retain"}
    with receiver.http("supervisor") as http:
        open_refused = http.post(f"/v1/referrals/{referral_id}/erasure", json=erase)
    assert (open_refused.status_code, open_refused.json()["code"]) == (409, "review_not_due")
    _close(receiver, referral_id, "no_further_action")
    with receiver.http("supervisor") as http:
        early = http.post(f"/v1/referrals/{referral_id}/erasure", json=erase)
    assert (early.status_code, early.json()["code"]) == (409, "review_not_due")
    _set_retention(receiver, {"no_further_action": 0})
    with receiver.http("analyst") as http:
        denied = http.post(f"/v1/referrals/{referral_id}/erasure", json=erase)
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    with receiver.http("supervisor") as http:
        erased = http.post(f"/v1/referrals/{referral_id}/erasure", json=erase)
        again = http.post(f"/v1/referrals/{referral_id}/erasure", json=erase)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True and erased.json()["basis"] == "no_further_action"
    assert (again.status_code, again.json()["code"]) == (409, "conflict")

    with receiver.session() as session:
        row = session.scalars(
            sa.select(tables.Referral).where(tables.Referral.referral_id == referral_id)
        ).one()
        assert row.envelope == b"" and row.document == {} and row.cluster_id is None
        assert len(row.envelope_sha256) == 64 and row.receipt_envelope
        assert (
            session.scalars(
                sa.select(tables.Selector).where(tables.Selector.referral_pk == row.id)
            ).all()
            == []
        )
        assert row.indicators  # codes only: the statistics by indicator stay right
    with receiver.http("auditor") as http:
        audit = http.get("/v1/audit", params={"referral_id": referral_id}).json()["items"]
        stats = http.get("/v1/stats").json()
    erasure = [e for e in audit if e["action"] == "referral.erased"]
    assert len(erasure) == 1 and erasure[0]["reason"] == erase["reason"]
    assert stats["pathway"]["received"] == "<5" and stats["referrals"] == "<5"
    # The ASW that sent it still gets its original receipt on a retry.
    document = documents[OP_STRIVE[0]]
    with receiver.client(document["reporter"]["organisation_id"]) as client:
        replay = client.submit_referral(document)
    assert replay.replayed

    # Any other change of evidence is still refused by the database.
    refused = sa.update(tables.Referral).where(tables.Referral.referral_id == other_id)
    with receiver.session() as session, pytest.raises(sa.exc.DBAPIError), session.begin():
        session.execute(refused.values(envelope=b"", document={}))
    with receiver.session() as session, pytest.raises(sa.exc.DBAPIError), session.begin():
        session.execute(sa.delete(tables.ReferralErasure))
