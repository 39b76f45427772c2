"""Statistics: the counts, their suppression, timeliness, and who may read them."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from strive_server.db import tables
from strive_server.services.stats import SUPPRESSED, suppress

from .conftest import Receiver, fresh_referral

T = 5
SMALL = f"<{T}"
LINKED = "linked_accounts_shared_payer_or_phone"
UNDER_18 = "suspected_under_18"
THIRD_PARTY = "third_party_payment"


# --- the suppression rule, on its own ----------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "shown"),
    [
        ({"a": 12, "b": 7}, {"a": 12, "b": 7}),
        ({"a": 0, "b": 7}, {"b": 7}),
        ({}, {}),
        # One small cell: the next smallest goes too, so the total does not give it away.
        ({"a": 2, "b": 7, "c": 30}, {"a": SMALL, "b": SUPPRESSED, "c": 30}),
        ({"a": 3, "b": 6, "c": 9}, {"a": SMALL, "b": SUPPRESSED, "c": 9}),
        # Two small cells whose sum would give them away (1 + 1 = 2 means both are 1).
        ({"a": 1, "b": 1, "c": 20, "d": 30},
         {"a": SMALL, "b": SMALL, "c": SUPPRESSED, "d": 30}),
        # Withholding 5 beside 1 is not enough: 6 - 5 would leave exactly 1.
        ({"a": 1, "b": 5, "c": 20}, {"a": SMALL, "b": SUPPRESSED, "c": SUPPRESSED}),
        # Every cell small: nothing to subtract from.
        ({"a": 1, "b": 4}, {"a": SMALL, "b": SMALL}),
    ],
)  # fmt: skip
def test_suppression_examples(counts: dict[str, int], shown: dict[str, Any]) -> None:
    assert suppress(counts, T) == shown


def _explains(value: int, others_low: int, others_high: int, hidden_total: int) -> bool:
    """Can the other withheld cells make up ``hidden_total - value``?"""
    return others_low <= hidden_total - value <= others_high


@given(
    st.dictionaries(st.sampled_from("abcdefg"), st.integers(min_value=0, max_value=40)),
    st.integers(min_value=2, max_value=10),
)
def test_no_small_cell_can_be_worked_out_from_the_total(counts: dict[str, int], t: int) -> None:
    shown = suppress(counts, t)
    live = {k: n for k, n in counts.items() if n > 0}
    assert set(shown) == set(live)
    for key, value in shown.items():
        if isinstance(value, int):
            assert value == live[key] >= t
        elif value == f"<{t}":
            assert 1 <= live[key] < t
        else:
            assert value == SUPPRESSED and live[key] >= t
    small = [k for k, v in shown.items() if v == f"<{t}"]
    withheld = [k for k, v in shown.items() if v == SUPPRESSED]
    visible = [v for v in shown.values() if isinstance(v, int)]
    if not small or not visible:
        return  # nothing small, or nothing shown to subtract (the documented limit)
    # The attacker: knows the total, the shown cells, that "<t" is 1..t-1 and that a
    # withheld cell is at least t and at most the smallest shown cell. Each small cell must
    # still be able to take every value from 1 to t-1.
    hidden_total = sum(live.values()) - sum(visible)
    ceiling = min(visible)
    for key in small:
        low = (len(small) - 1) * 1 + len(withheld) * t
        high = (len(small) - 1) * (t - 1) + len(withheld) * ceiling
        assert all(_explains(v, low, high, hidden_total) for v in range(1, t)), (key, shown)


# --- figures from a controlled set of referrals ------------------------------------------------


@dataclass(frozen=True)
class Spec:
    asw: str
    received: datetime
    indicators: tuple[str, ...] = (LINKED,)
    urgency: str = "routine"
    state: str = "received"
    outcome: str | None = None
    triage_hours: float | None = None
    outcome_hours: float | None = None
    is_test: bool = False


def insert(receiver: Receiver, specs: list[Spec]) -> None:
    """Store referrals as ingestion would, with chosen times (which the API cannot set)."""
    with receiver.session() as session, session.begin():
        for spec in specs:
            at = spec.received
            row = tables.Referral(
                asw_id=spec.asw, referral_id=str(uuid.uuid4()), referral_digest="0" * 64,
                envelope=b"{}", envelope_sha256=hashlib.sha256(b"{}").hexdigest(),
                key_id=receiver.keys[spec.asw].key_id, issued_at=at, received_at=at,
                receipt_envelope=b"{}", document={}, schema_version="1.0",
                is_test=spec.is_test, urgency=spec.urgency, source="staff_review",
                protective_marking="OFFICIAL-SENSITIVE", referral_created_at=at,
                state=spec.state, outcome=spec.outcome, updated_at=at,
                first_triaged_at=None if spec.triage_hours is None
                else at + timedelta(hours=spec.triage_hours),
                outcome_at=None if spec.outcome_hours is None
                else at + timedelta(hours=spec.outcome_hours),
            )  # fmt: skip
            row.indicators = [
                tables.ReferralIndicator(code=code, risk="high") for code in spec.indicators
            ]
            session.add(row)


def stats(receiver: Receiver, role: str = "auditor") -> dict[str, Any]:
    with receiver.http(role) as http:
        response = http.get("/v1/stats")
    assert response.status_code == 200, response.text
    figures: dict[str, Any] = response.json()
    return figures


JAN = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 27, 23, 30, tzinfo=UTC)
MAR = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)


def controlled() -> list[Spec]:
    specs: list[Spec] = []
    # 12 from example-adverts in January: 6 received, 6 triaged (1 to 6 hours to triage).
    for n in range(12):
        triaged = n >= 6
        specs.append(Spec(
            "example-adverts", JAN + timedelta(days=n % 3),
            indicators=(LINKED, LINKED) + ((THIRD_PARTY,) if n < 7 else ()),
            urgency="priority" if n < 8 else "routine",
            state="triaged" if triaged else "received",
            triage_hours=float(n - 5) if triaged else None,
        ))  # fmt: skip
    # 11 in February: 9 from demo-classifieds, 2 from tiny-ads; all closed with an outcome.
    outcomes = ["arrest"] * 9 + ["no_further_action"] * 2 + ["conviction"]
    for n in range(12):
        asw = "demo-classifieds" if n < 9 else "tiny-ads"
        if n == 11:
            asw, at = "demo-classifieds", MAR  # lands in March
        else:
            at = FEB
        specs.append(Spec(
            asw, at, indicators=(LINKED, UNDER_18) if n < 3 else (LINKED,),
            state="closed", outcome=outcomes[n],
            triage_hours=float(7 + n), outcome_hours=10.0 * (n + 1),
        ))  # fmt: skip
    # Test referrals count nowhere: not their month, not their indicator, not their outcome.
    for _ in range(3):
        specs.append(Spec(
            "example-adverts", datetime(2026, 4, 2, tzinfo=UTC), indicators=(UNDER_18,),
            state="closed", outcome="conviction", triage_hours=500.0, outcome_hours=900.0,
            is_test=True,
        ))  # fmt: skip
    return specs


def test_counts_suppression_and_timeliness_over_a_controlled_set(receiver: Receiver) -> None:
    for asw in ("example-adverts", "demo-classifieds", "tiny-ads"):
        receiver.register_asw(asw)
    insert(receiver, controlled())
    with receiver.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Months are UTC months whatever the database's time zone: 00:30 UTC on 1 March
            # is still 28 February in Los Angeles.
            database = session.get_bind().url.database
            session.execute(
                sa.text(f"ALTER DATABASE \"{database}\" SET timezone TO 'America/Los_Angeles'")
            )
            session.commit()
    receiver.app.state.engine.dispose()
    figures = stats(receiver)
    assert figures["suppression"]["threshold"] == T
    assert figures["referrals"] == 24
    # Months are UTC months of receipt; 23:30 on 27 February is February.
    assert figures["by_month"] == {"2026-01": 12, "2026-02": SUPPRESSED, "2026-03": SMALL}
    assert figures["by_asw"] == {
        "demo-classifieds": SUPPRESSED, "example-adverts": 12, "tiny-ads": SMALL,
    }  # fmt: skip
    # An indicator counts referrals, not mentions (two LINKED on one referral count once).
    assert figures["by_indicator"] == {LINKED: 24, THIRD_PARTY: SUPPRESSED, UNDER_18: SMALL}
    assert figures["by_urgency"] == {"priority": 8, "routine": 16}
    assert figures["by_state"] == {"closed": 12, "received": 6, "triaged": 6}
    assert figures["by_outcome"] == {
        "arrest": SUPPRESSED, "conviction": SMALL, "no_further_action": SMALL,
    }  # fmt: skip
    # Triage: 1..6 hours (January) and 7..18 hours (February/March): 18 values.
    assert figures["time_to_first_triage"] == {
        "referrals": 18, "median_hours": 9.5, "p90_hours": 17.0,
    }  # fmt: skip
    # Outcome: 10, 20, ... 120 hours: median (60 + 70) / 2, p90 the 11th of 12 (nearest rank).
    assert figures["time_to_outcome"] == {
        "referrals": 12, "median_hours": 65.0, "p90_hours": 110.0,
    }  # fmt: skip


def test_timeliness_needs_enough_referrals(receiver: Receiver) -> None:
    receiver.register_asw("example-adverts")
    # 4 triaged: too few for anything; 7 with an outcome: a median, but no 90th percentile
    # (below 10 values it would be the slowest referral's own figure).
    insert(receiver, [
        Spec("example-adverts", JAN, state="closed", outcome="arrest",
             triage_hours=2.0 if n < 4 else None, outcome_hours=float(n + 1))
        for n in range(7)
    ])  # fmt: skip
    figures = stats(receiver)
    assert figures["time_to_first_triage"] == {
        "referrals": SMALL, "median_hours": None, "p90_hours": None,
    }  # fmt: skip
    assert figures["time_to_outcome"] == {
        "referrals": 7, "median_hours": 4.0, "p90_hours": None,
    }  # fmt: skip
    assert figures["referrals"] == 7 and figures["by_state"] == {"closed": 7}


def test_no_referrals_no_figures(receiver: Receiver) -> None:
    figures = stats(receiver)
    assert figures["referrals"] == 0
    assert all(figures[k] == {} for k in figures if k.startswith("by_"))
    assert figures["time_to_outcome"] == {"referrals": 0, "median_hours": None, "p90_hours": None}


def test_figures_from_real_submissions_and_casework(receiver: Receiver) -> None:
    asw = "example-adverts"
    receiver.register_asw(asw)
    live = [fresh_referral("op-strive-1-london.json", asw_id=asw) for _ in range(6)]
    sandbox = [fresh_referral("sandbox-minimal.json", asw_id=asw) for _ in range(2)]
    with receiver.client(asw) as client:
        assert {r.status for r in client.submit_batch(live + sandbox)} == {"accepted"}
    with receiver.http("analyst") as http:
        for referral in live[:5] + sandbox:
            response = http.post(
                f"/v1/referrals/{referral['referral_id']}/transitions",
                json={"to_state": "triaged", "reason": "seen"},
            )
            assert response.status_code == 200
    figures = stats(receiver, "supervisor")
    month = datetime.now(UTC).strftime("%Y-%m")
    assert figures["referrals"] == 6
    assert figures["by_month"] == {month: 6} and figures["by_asw"] == {asw: 6}
    assert figures["by_state"] == {"received": SMALL, "triaged": SUPPRESSED}
    triage = figures["time_to_first_triage"]
    assert triage["referrals"] == 5
    assert 0 <= triage["median_hours"] < 1 and triage["p90_hours"] is None
    assert "third_person_advert_text" not in figures["by_indicator"]  # the sandbox's indicator


def test_who_may_read_the_statistics(receiver: Receiver) -> None:
    receiver.register_asw("example-adverts")
    with receiver.http() as http:
        anonymous = http.get("/v1/stats")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "authentication_required")
    for role, status in {"analyst": 403, "auditor": 200, "supervisor": 200, "admin": 200}.items():
        with receiver.http(role) as http:
            assert http.get("/v1/stats").status_code == status, role

    def audited_reads() -> Counter[str]:
        with receiver.session() as session:
            return Counter(
                session.scalars(
                    sa.select(tables.AuditEvent.actor).where(
                        tables.AuditEvent.action == "stats.read"
                    )
                )
            )

    assert audited_reads() == Counter({"test-auditor": 1, "test-supervisor": 1, "test-admin": 1})
    # Published: anyone may read, a valid token of any role too; a bad token is still refused.
    object.__setattr__(
        receiver.app.state, "settings", receiver.settings.model_copy(update={"public_stats": True})
    )
    with receiver.http() as http:
        first = http.get("/v1/stats")
        garbage = http.get("/v1/stats", headers={"Authorization": "Bearer strv_nonsense"})
    assert first.status_code == 200 and first.json()["referrals"] == 0
    assert (garbage.status_code, garbage.json()["code"]) == (401, "token_invalid")
    with receiver.http("analyst") as http:
        assert http.get("/v1/stats").status_code == 200
    # Anonymous reads are not audited (an unauthenticated caller must not grow the
    # append-only trail) and are served from a short cache; token holders see it fresh.
    insert(receiver, [Spec("example-adverts", JAN) for _ in range(5)])
    with receiver.http() as http:
        assert [http.get("/v1/stats").json()["referrals"] for _ in range(3)] == [0, 0, 0]
    assert stats(receiver)["referrals"] == 5
    reads = audited_reads()
    assert sum(reads.values()) == 5 and reads["test-analyst"] == 1
