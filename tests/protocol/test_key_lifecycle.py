"""Keys over years (spec/protocol.md, "Key lifecycle"): the committed lifecycle vectors run
through the library, and the rule itself at its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _protocol_support import load_vectors, public_keys
from hypothesis import given
from hypothesis import strategies as st

from strive_schema.envelope import (
    SUBMISSION_PAYLOAD_TYPE,
    parse_submission,
    parse_timestamp,
    verify_envelope,
)
from strive_schema.errors import KeyFormatError, VerificationError
from strive_schema.key_validity import KeyRule, KeyValidity, judge_key
from strive_schema.receipts import check_receipt, verify_receipt

LIFECYCLE = load_vectors("lifecycle")
T = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def validity_of(vector: dict[str, Any]) -> dict[str, KeyValidity]:
    (name,) = vector["public_keys"]
    (key,) = public_keys([name])
    return {key.key_id: KeyValidity.from_members(vector["key_validity"][name])}


@pytest.mark.parametrize(("name", "vector"), LIFECYCLE, ids=[n for n, _ in LIFECYCLE])
def test_lifecycle_vectors(name: str, vector: dict[str, Any]) -> None:
    keys = public_keys(vector["public_keys"])
    validity = validity_of(vector)
    expected = vector["expected"]
    raw = vector["envelope"].encode()
    if vector["kind"] == "envelope":
        verified = verify_envelope(raw, keys, payload_type=SUBMISSION_PAYLOAD_TYPE)
        claimed = parse_submission(verified.payload).issued_at
        assert claimed == parse_timestamp(vector["issued_at_claimed"])
        # The trusted time is the receiver's time of receipt, never the claimed issued_at.
        judgement = judge_key(validity[verified.key_id], parse_timestamp(vector["received_at"]))
        assert judgement.valid is expected["valid"], name
        assert judgement.rule.value == expected["rule"]
        assert (judgement.code and judgement.code.value) == expected["code"]
        assert judgement.explanation == expected["explanation"]
        return
    observed = vector["observed_at"]
    arguments: dict[str, Any] = {
        "key_validity": validity,
        "observed_at": None if observed is None else parse_timestamp(observed),
    }
    if not expected["valid"]:
        with pytest.raises(VerificationError) as refused:
            check_receipt(raw, keys, **arguments)
        assert refused.value.code == expected["code"], name
        with pytest.raises(VerificationError):
            verify_receipt(raw, keys, **arguments)
        return
    checked = check_receipt(raw, keys, **arguments)
    assert checked.key_judgement.rule.value == expected["rule"], name
    assert checked.key_judgement.explanation == expected["explanation"]
    assert verify_receipt(raw, keys, **arguments) == checked.receipt


def test_the_vectors_cover_every_case() -> None:
    outcomes = {(v["kind"], v["expected"]["rule"] or v["expected"]["code"]) for _, v in LIFECYCLE}
    for kind in ("envelope", "receipt"):
        assert {
            (kind, "active"),
            (kind, "before_retirement"),
            (kind, "before_compromise"),
        } <= outcomes
    assert {
        ("envelope", "after_retirement"),
        ("envelope", "after_compromise"),
        ("envelope", "expired"),
        ("envelope", "not_yet_valid"),
        ("receipt", "key_retired"),
        ("receipt", "key_revoked"),
        ("receipt", "key_expired"),
        ("receipt", "key_not_yet_valid"),
    } <= outcomes
    backdated = dict(LIFECYCLE)["envelope-backdated-after-compromise"]
    compromise = parse_timestamp(backdated["key_validity"]["asw-key-1"]["compromised_at"])
    assert parse_timestamp(backdated["issued_at_claimed"]) < compromise
    assert backdated["expected"]["code"] == "key_revoked"


@pytest.mark.parametrize(
    ("validity", "at", "rule"),
    [
        (KeyValidity(), T, KeyRule.ACTIVE),
        (KeyValidity(not_before=T), T, KeyRule.ACTIVE),
        (KeyValidity(not_before=T), T - SECOND, KeyRule.NOT_YET_VALID),
        (KeyValidity(not_after=T), T, KeyRule.ACTIVE),  # not_after is inclusive
        (KeyValidity(not_after=T), T + SECOND, KeyRule.EXPIRED),
        (KeyValidity(retired_at=T), T - SECOND, KeyRule.BEFORE_RETIREMENT),
        (KeyValidity(retired_at=T), T, KeyRule.AFTER_RETIREMENT),
        (KeyValidity(compromised_at=T), T - SECOND, KeyRule.BEFORE_COMPROMISE),
        (KeyValidity(compromised_at=T), T, KeyRule.AFTER_COMPROMISE),
        # Revocation wins over every other state, and over a retirement before it.
        (KeyValidity(retired_at=T - SECOND, compromised_at=T), T, KeyRule.AFTER_COMPROMISE),
        (KeyValidity(not_after=T - SECOND, compromised_at=T), T, KeyRule.AFTER_COMPROMISE),
        (
            KeyValidity(retired_at=T + SECOND, compromised_at=T + SECOND),
            T,
            KeyRule.BEFORE_COMPROMISE,
        ),
    ],
)
def test_the_rule_at_its_boundaries(validity: KeyValidity, at: datetime, rule: KeyRule) -> None:
    judgement = judge_key(validity, at)
    assert judgement.rule is rule
    assert judgement.valid is (judgement.code is None)


def test_sub_second_times_are_judged_in_whole_seconds() -> None:
    assert judge_key(KeyValidity(compromised_at=T), T - SECOND / 2).valid
    assert not judge_key(KeyValidity(compromised_at=T + SECOND / 2), T).valid


def test_the_explanation_names_the_rule_and_the_time() -> None:
    judgement = judge_key(KeyValidity(compromised_at=T), T - SECOND)
    assert (
        judgement.explanation == "valid: signed before the key's compromise at 2026-03-01T12:00:00Z"
    )
    assert judgement.to_json()["key_time"] == "2026-03-01T12:00:00Z"


@pytest.mark.parametrize(
    "members",
    [
        {"not_after": "2026-03-01"},
        {"compromised_at": 1700000000},
        {"retired_at": "2026-03-01T12:00:00+01:00"},
        {"not_before": "2026-03-02T00:00:00Z", "not_after": "2026-03-01T00:00:00Z"},
    ],
)
def test_published_validity_members_are_read_strictly(members: dict[str, object]) -> None:
    with pytest.raises(KeyFormatError):
        KeyValidity.from_members(members)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        KeyValidity(not_before=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        judge_key(KeyValidity(), datetime(2026, 1, 1))


_moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(
    st.builds(
        KeyValidity,
        retired_at=st.none() | _moments,
        compromised_at=st.none() | _moments,
        not_after=st.none() | _moments,
    ),
    _moments,
    _moments,
)
def test_what_counts_later_counted_earlier(validity: KeyValidity, a: datetime, b: datetime) -> None:
    """Without a not_before, validity only ever ends: no time can make a refused signature
    count again, so no claimed or real delay helps an attacker."""
    earlier, later = sorted((a, b))
    if judge_key(validity, later).valid:
        assert judge_key(validity, earlier).valid
