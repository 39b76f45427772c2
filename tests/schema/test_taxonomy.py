"""The indicator taxonomy holds the Operation Strive indicators and many more from practice."""

from __future__ import annotations

from typing import Any

from strive_schema.taxonomy import INDICATORS, get_indicator, is_known_indicator
from strive_schema.validator import validate_document

OPERATION_STRIVE = {
    "linked_accounts_shared_payer_or_phone",
    "multiple_phones_one_account",
    "third_party_payment",
    "customer_flag_underage_trafficked_exploited",
}


def test_the_four_operation_strive_indicators_are_first_class() -> None:
    flagged = {i.code for i in INDICATORS if i.operation_strive}
    assert flagged == OPERATION_STRIVE


def test_at_least_fifteen_more_from_practice_with_unique_codes() -> None:
    codes = [i.code for i in INDICATORS]
    assert len(codes) == len(set(codes))
    assert len(set(codes) - OPERATION_STRIVE) >= 15


def test_every_entry_is_complete_and_most_map_to_htcds() -> None:
    for indicator in INDICATORS:
        assert indicator.title and indicator.description
        assert indicator.default_risk in {"low", "medium", "high"}
    assert sum(i.mappings.htcds.status == "mapped" for i in INDICATORS) >= 12
    under_18 = get_indicator("suspected_under_18")
    assert under_18 is not None and under_18.default_risk == "high"


def test_extension_codes_are_known_and_bare_unknown_codes_are_not() -> None:
    assert is_known_indicator("x-example-adverts-crypto-mixer")
    assert not is_known_indicator("made_up_code")
    assert not is_known_indicator("x-nonamespace")


def test_an_unknown_code_is_a_clear_error(minimal: dict[str, Any]) -> None:
    minimal["indicators"][0]["code"] = "made_up_code"
    result = validate_document(minimal)
    assert [(e.pointer, e.code, e.kind) for e in result.errors] == [
        ("/indicators/0/code", "unknown_indicator", "semantic")
    ]
