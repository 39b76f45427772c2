"""The receiver refuses what `strive validate` refuses, with the same codes and pointers, on
SQLite and PostgreSQL alike (spec/validation.md): nesting depth, patterns read as ECMA-262,
U+0000, over-long indicator codes and the size limit. Nothing refused is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from strive_schema.envelope import (
    MAX_SIGNATURES,
    SUBMISSION_PAYLOAD_TYPE,
    build_submission,
    sign_envelope,
)
from strive_schema.keys import SigningKey
from strive_schema.validator import MAX_DEPTH, MAX_DOCUMENT_BYTES, validate_json
from strive_server.core.config import Settings
from strive_server.db import tables

from .conftest import RECEIVER_ID, Receiver, fresh_referral

ASW = "example-adverts"


def envelope_for(referral: dict[str, Any], key: SigningKey) -> bytes:
    issued_at = datetime.now(UTC).replace(microsecond=0)
    payload = build_submission(referral, asw_id=ASW, audience=RECEIVER_ID, issued_at=issued_at)
    return sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json()


def post(receiver: Receiver, body: bytes) -> Any:
    headers = {"Content-Type": "application/vnd.dsse.envelope.v1+json", "Strive-Asw-Id": ASW}
    with receiver.http() as http:
        return http.post("/v1/referrals", content=body, headers=headers)


def stored(receiver: Receiver) -> int:
    with receiver.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(tables.Referral)) or 0


def nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


def with_phone(referral: dict[str, Any], e164: str, ref: str = "ph-1") -> None:
    referral["phones"] = [{"id": "ph-1", "raw": "07700 900101", "e164": e164}]
    referral["indicators"][0]["evidence_refs"] = [ref]


Mutation = Callable[[dict[str, Any]], None]

REFUSED: list[tuple[str, Mutation, set[tuple[str, str]]]] = [
    (
        # The receiver stored this up to ~1,000 levels: it validated the parsed object, and the
        # depth rule ran only on bytes.
        "nested deeper than 32 levels",
        lambda r: r.update(extensions={"x-acme-note": nested(MAX_DEPTH)}),
        {("", "too_deep")},
    ),
    (
        "nested deeper than 32 levels outside extensions",
        lambda r: r.update(narrative=nested(40)),
        {("", "too_deep")},
    ),
    (
        "NUL in the narrative",
        lambda r: r.update(narrative=r["narrative"] + "\x00"),
        {("/narrative", "nul_character")},
    ),
    (
        "NUL deep in an extension value",
        lambda r: r.update(extensions={"x-acme-note": {"list": ["fine", "not\x00fine"]}}),
        {("/extensions/x-acme-note/list/1", "nul_character")},
    ),
    (
        "NUL in a member name inside an extension value",
        lambda r: r.update(extensions={"x-acme-note": {"na\x00me": 1}}),
        {("/extensions/x-acme-note/na\x00me", "nul_character")},
    ),
    (
        "an indicator code longer than its column",
        lambda r: r["indicators"][0].update(code="x-acme-" + "a" * 94),
        {("/indicators/0/code", "too_long")},
    ),
    (
        "an E.164 number with a trailing newline",
        lambda r: with_phone(r, "+447700900101\n"),
        {("/phones/0/e164", "invalid_format")},
    ),
    (
        "a reference with a trailing newline is a pattern error, not a semantic one",
        lambda r: with_phone(r, "+447700900101", ref="ph-1\n"),
        {("/indicators/0/evidence_refs/0", "invalid_format")},
    ),
    (
        "an extension member name with a trailing newline",
        lambda r: r.update(extensions={"x-acme-note\n": 1}),
        {("/extensions/x-acme-note\n", "invalid_extension_name")},
    ),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in REFUSED],
                         ids=[name for name, _, _ in REFUSED])  # fmt: skip
def test_the_receiver_refuses_what_strive_validate_refuses(
    receiver: Receiver, change: Mutation, expected: set[tuple[str, str]]
) -> None:
    key = receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    change(referral)
    offline = validate_json(json.dumps(referral))
    assert {(e.pointer, e.code) for e in offline.errors} == expected
    response = post(receiver, envelope_for(referral, key))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "referral_invalid"
    assert {(e["pointer"], e["code"]) for e in problem["errors"]} == expected
    assert stored(receiver) == 0


def test_integral_numbers_are_integers_and_stored_as_sent(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    referral["technical_events"] = [
        {"id": "ev-1", "event_type": "login", "occurred_at": referral["created_at"],
         "ip_address": "192.0.2.1", "port": 443.0},
    ]  # fmt: skip
    referral["attachments"] = [
        {"id": "at-1", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "size_bytes": 1.0e3, "media_type": "image/jpeg", "relevance": "The advert's photo."},
    ]  # fmt: skip
    raw = envelope_for(referral, key)
    response = post(receiver, raw)
    assert response.status_code == 201, response.text
    with receiver.session() as session:
        row = session.scalars(sa.select(tables.Referral)).one()
        assert row.envelope == raw


def test_an_indicator_code_as_long_as_its_column_is_stored(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    referral["indicators"][0]["code"] = "x-acme-" + "a" * 93  # 100 characters
    response = post(receiver, envelope_for(referral, key))
    assert response.status_code == 201, response.text
    with receiver.session() as session:
        codes = session.scalars(sa.select(tables.ReferralIndicator.code)).all()
    assert codes == [referral["indicators"][0]["code"]]


def test_a_lone_surrogate_is_refused_before_validation_and_nothing_is_stored(
    receiver: Receiver,
) -> None:
    # The submission payload must be strict JSON (spec/protocol.md): a lone surrogate cannot
    # be canonicalised or stored as UTF-8, so the receiver refuses it as payload_malformed;
    # a validator reports lone_surrogate at the string.
    key = receiver.register_asw(ASW)
    referral = fresh_referral(asw_id=ASW)
    payload = json.dumps(
        {"asw_id": ASW, "audience": RECEIVER_ID, "referral": {**referral, "narrative": "x\ud800y"},
         "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    ).encode()  # fmt: skip
    response = post(receiver, sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, [key]).to_json())
    assert (response.status_code, response.json()["code"]) == (400, "payload_malformed")
    assert stored(receiver) == 0
    offline = validate_json(json.dumps({**referral, "narrative": "x\ud800y"}))
    assert [(e.pointer, e.code) for e in offline.errors] == [("/narrative", "lone_surrogate")]


# --- Size -------------------------------------------------------------------------------------


def referral_of_size(size: int) -> dict[str, Any]:
    """A valid referral whose compact UTF-8 JSON (the form a submission carries) has ``size``
    bytes, padded with an extension value."""
    referral = fresh_referral(asw_id=ASW)
    referral["extensions"] = {"x-test-padding": ""}
    base = len(json.dumps(referral, ensure_ascii=False, separators=(",", ":")).encode())
    referral["extensions"]["x-test-padding"] = "a" * (size - base)
    return referral


def test_the_largest_referral_fits_the_default_envelope_limit_with_four_signatures() -> None:
    referral = referral_of_size(MAX_DOCUMENT_BYTES)
    keys = [SigningKey.generate() for _ in range(MAX_SIGNATURES)]
    payload = build_submission(
        referral,
        asw_id="a" * 64,  # the longest organisation id
        audience="receiver-" + "r" * 240,  # a long receiver id (a DNS name is at most 253)
        issued_at=datetime.now(UTC).replace(microsecond=0),
    )
    envelope = sign_envelope(payload, SUBMISSION_PAYLOAD_TYPE, keys).to_json()
    default_limit = Settings.model_fields["max_envelope_bytes"].default
    assert len(envelope) <= default_limit
    # The text's figure ("about 2,001,000 bytes") is what this computes.
    assert 2_000_000 < len(envelope) < 2_002_000


def test_the_size_limit_is_the_same_for_strive_validate_and_the_receiver(
    receiver: Receiver,
) -> None:
    key = receiver.register_asw(ASW)
    largest = referral_of_size(MAX_DOCUMENT_BYTES)
    compact = json.dumps(largest, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(compact) == MAX_DOCUMENT_BYTES and validate_json(compact).valid
    response = post(receiver, envelope_for(largest, key))
    assert response.status_code == 201, response.text

    too_large = referral_of_size(MAX_DOCUMENT_BYTES + 1)
    compact = json.dumps(too_large, ensure_ascii=False, separators=(",", ":")).encode()
    assert [e.code for e in validate_json(compact).errors] == ["too_large"]
    response = post(receiver, envelope_for(too_large, key))
    assert response.status_code == 422, response.text
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [("", "too_large")]
    assert stored(receiver) == 1
