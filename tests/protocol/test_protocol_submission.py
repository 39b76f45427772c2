"""The submission payload: its bytes, the referral digest and the receiver's replay checks."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from strive_schema.envelope import (
    build_submission,
    format_timestamp,
    open_submission,
    parse_submission,
    parse_timestamp,
    referral_digest,
)
from strive_schema.errors import VerificationError

NOW = datetime(2026, 11, 23, 17, 2, 0, tzinfo=UTC)
REFERRAL_ID = "0f8e3b5a-3c5d-4e1f-9a0b-7c6d5e4f3a2b"
REFERRAL: dict[str, Any] = {
    "referral_id": REFERRAL_ID,
    "summary": "Caf\u00e9 advert, phone 07700 900123",
}


def payload_at(issued_at: datetime, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {"asw_id": "example-asw", "audience": "receiver.example"}
    arguments.update(changes)
    return build_submission(REFERRAL, issued_at=issued_at, **arguments)


def code_of(payload: bytes, **kwargs: Any) -> str:
    arguments: dict[str, Any] = {"audience": "receiver.example", "now": NOW}
    arguments.update(kwargs)
    with pytest.raises(VerificationError) as caught:
        open_submission(payload, **arguments)
    return caught.value.code.value


def test_payload_is_compact_sorted_utf8_json() -> None:
    payload = build_submission(
        {"summary": "\u00e9", "referral_id": REFERRAL_ID},
        asw_id="example-asw",
        audience="receiver.example",
        issued_at=datetime(2026, 11, 23, 18, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=1))),
    )
    assert payload == (
        b'{"asw_id":"example-asw","audience":"receiver.example",'
        b'"issued_at":"2026-11-23T17:00:00Z","referral":{"referral_id":"'
        + REFERRAL_ID.encode()
        + b'","summary":"\xc3\xa9"}}'
    )


def test_opened_submission_has_every_field() -> None:
    submission = open_submission(
        payload_at(NOW), audience="receiver.example", now=NOW, expected_asw_id="example-asw"
    )
    assert submission.asw_id == "example-asw"
    assert submission.audience == "receiver.example"
    assert submission.issued_at == NOW
    assert submission.referral_id == REFERRAL_ID
    assert submission.referral == REFERRAL
    assert submission.referral_digest == referral_digest(REFERRAL)
    assert submission.payload == payload_at(NOW)


def test_submission_repr_holds_no_referral_content() -> None:
    text = repr(parse_submission(payload_at(NOW)))
    assert REFERRAL_ID in text
    assert "07700" not in text
    assert "Caf" not in text


def test_referral_digest_is_sha256_of_the_jcs_form() -> None:
    referral = {"b": [1.0, 1e30, 0.002], "a": "\u00e9", "referral_id": REFERRAL_ID}
    canonical = '{"a":"\u00e9","b":[1,1e+30,0.002],"referral_id":"' + REFERRAL_ID + '"}'
    assert referral_digest(referral) == hashlib.sha256(canonical.encode()).hexdigest()


def test_referral_digest_ignores_member_order_and_spacing() -> None:
    reordered = json.loads(json.dumps(dict(reversed(list(REFERRAL.items()))), indent=3))
    assert referral_digest(reordered) == referral_digest(REFERRAL)
    assert referral_digest({**REFERRAL, "summary": "other"}) != referral_digest(REFERRAL)


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (-901, "envelope_stale"),
        (-900, None),
        (0, None),
        (300, None),
        (301, "envelope_from_future"),
    ],
)
def test_freshness_window_boundaries(offset: int, code: str | None) -> None:
    payload = payload_at(NOW + timedelta(seconds=offset))
    if code is None:
        assert open_submission(payload, audience="receiver.example", now=NOW)
    else:
        assert code_of(payload) == code


def test_window_can_be_given_in_seconds() -> None:
    payload = payload_at(NOW - timedelta(seconds=100))
    assert code_of(payload, max_age=99) == "envelope_stale"
    assert open_submission(payload, audience="receiver.example", now=NOW, max_age=100)
    assert code_of(payload_at(NOW + timedelta(seconds=2)), max_future=1) == "envelope_from_future"


def test_audience_and_sender_are_checked_before_freshness() -> None:
    stale_elsewhere = payload_at(NOW - timedelta(days=1), audience="other.example")
    assert code_of(stale_elsewhere) == "audience_mismatch"
    assert code_of(stale_elsewhere, expected_asw_id="another-asw") == "asw_mismatch"
    assert code_of(payload_at(NOW), expected_asw_id="another-asw") == "asw_mismatch"


def test_parse_submission_skips_replay_checks() -> None:
    old = payload_at(NOW - timedelta(days=3650), audience="other.example")
    assert parse_submission(old).issued_at == NOW - timedelta(days=3650)


def _document(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "asw_id": "example-asw",
        "audience": "receiver.example",
        "issued_at": "2026-11-23T17:02:00Z",
        "referral": dict(REFERRAL),
    }
    for name, value in changes.items():
        if value is ...:
            del document[name]
        else:
            document[name] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"asw_id":"a","asw_id":"a"}',
        _document(extra="x"),
        _document(asw_id=...),
        _document(referral=...),
        _document(asw_id=""),
        _document(asw_id=5),
        _document(audience=None),
        _document(issued_at=1795453320),
        _document(issued_at="2026-11-23T17:02:00+00:00"),
        _document(issued_at="2026-11-23T17:02:00.5Z"),
        _document(issued_at="2026-11-23T17:02:00z"),
        _document(issued_at="2026-11-23 17:02:00Z"),
        _document(issued_at="2026-11-31T17:02:00Z"),
        _document(issued_at="2026-11-23T17:02:60Z"),
        _document(referral=[]),
        _document(referral={"summary": "no id"}),
        _document(referral={"referral_id": REFERRAL_ID.upper()}),
        _document(referral={"referral_id": "not-a-uuid"}),
        _document(referral={"referral_id": 7}),
        _document(referral={"referral_id": REFERRAL_ID, "n": 2**60}),
    ],
)
def test_malformed_payloads(payload: bytes) -> None:
    assert code_of(payload) == "payload_malformed"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"asw_id": ""}, "asw_id"),
        ({"audience": ""}, "audience"),
        ({"issued_at": datetime(2026, 11, 23)}, "timezone-aware"),
    ],
)
def test_build_submission_refuses_bad_arguments(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "asw_id": "a",
        "audience": "r",
        "issued_at": NOW,
    }
    arguments.update(changes)
    with pytest.raises(ValueError, match=message):
        build_submission(REFERRAL, **arguments)


@pytest.mark.parametrize(
    "referral",
    [
        {"summary": "no id"},
        {"referral_id": REFERRAL_ID.upper()},
        {"referral_id": REFERRAL_ID, "score": float("nan")},
        {"referral_id": REFERRAL_ID, "n": 2**60},
    ],
)
def test_build_submission_refuses_what_a_receiver_would_refuse(referral: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"referral|canonical|JSON|NaN|Out of range"):
        build_submission(referral, asw_id="a", audience="r", issued_at=NOW)


def test_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        open_submission(payload_at(NOW), audience="receiver.example", now=datetime(2026, 1, 1))


def test_timestamp_helpers_use_the_one_protocol_form() -> None:
    assert format_timestamp(NOW.replace(microsecond=5)) == "2026-11-23T17:02:00Z"
    assert parse_timestamp("2026-11-23T17:02:00Z") == NOW
    with pytest.raises(ValueError, match="YYYY"):
        parse_timestamp("2026-11-23T17:02:00.000Z")
