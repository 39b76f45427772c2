"""An older receiver and a newer taxonomy (spec/versioning.md, "The taxonomy"), end to end:
the receiver accepts a code it does not know when the referral names a newer taxonomy, and
refuses it, naming the field, when it does not."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from strive_server.db import tables

from .conftest import Receiver, fresh_referral
from .test_ingestion import ASW, envelope_for, post

NEW_CODE = "recruited_through_a_gaming_platform"  # not in taxonomy 1.0


def _referral(**members: Any) -> dict[str, Any]:
    referral = fresh_referral(asw_id=ASW)
    referral["indicators"][0]["code"] = NEW_CODE
    referral.update(members)
    return referral


def test_a_code_from_a_newer_taxonomy_is_accepted_and_stored_as_sent(receiver: Receiver) -> None:
    key = receiver.register_asw(ASW)
    referral = _referral(schema_version="1.1", taxonomy_version="1.4")
    response = post(receiver, envelope_for(referral, key))
    assert response.status_code == 201, response.text
    with receiver.session() as session:
        codes = session.scalars(sa.select(tables.ReferralIndicator.code)).all()
        assert codes == [NEW_CODE]


@pytest.mark.parametrize(
    ("members", "pointer", "code"),
    [
        ({"schema_version": "1.1"}, "/indicators/0/code", "unknown_indicator"),
        (
            {"schema_version": "1.1", "taxonomy_version": "1.0"},
            "/indicators/0/code",
            "unknown_indicator",
        ),
        ({"taxonomy_version": "1.4"}, "/taxonomy_version", "member_newer_than_version"),
    ],
)
def test_a_code_unknown_to_the_named_taxonomy_is_refused_and_nothing_is_stored(
    receiver: Receiver, members: dict[str, Any], pointer: str, code: str
) -> None:
    key = receiver.register_asw(ASW)
    response = post(receiver, envelope_for(_referral(**members), key))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "referral_invalid"
    assert (pointer, code) in [(e["pointer"], e["code"]) for e in problem["errors"]]
    with receiver.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(tables.Referral)) == 0
