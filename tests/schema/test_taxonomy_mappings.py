"""The taxonomy's mappings are identifiers of published frameworks, checked against those lists.

HTCDS 2.0 identifiers are vendored in ``spec/taxonomy/external/htcds-2.0.json`` with their source
commit and licence; every ``htcds`` reference must name a field of that list and, for a picklist,
one of its value names. No ILO list is vendored, so no indicator may claim an ILO identifier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from strive_schema.published import indicator_taxonomy
from strive_schema.taxonomy import (
    HTCDS_SOURCE,
    ILO_NOT_MAPPED_REASON,
    INDICATORS,
    HtcdsMapping,
    HtcdsReference,
    IndicatorDefinition,
)

ROOT = Path(__file__).resolve().parents[2]
HTCDS_FILE = ROOT / str(HTCDS_SOURCE["identifiers"])


@pytest.fixture(scope="module")
def htcds() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(HTCDS_FILE.read_text(encoding="utf-8"))
    return document


def _values_by_field(htcds: dict[str, Any]) -> dict[str, set[str]]:
    return {f["field"]: {v["name"] for v in f.get("values", ())} for f in htcds["fields"]}


def unknown_htcds_references(
    indicators: tuple[IndicatorDefinition, ...] | list[IndicatorDefinition],
    htcds: dict[str, Any],
) -> list[str]:
    """Every reference that is not a field (or value of the field) in the vendored list."""
    values = _values_by_field(htcds)
    problems = []
    for indicator in indicators:
        for ref in indicator.mappings.htcds.references:
            if ref.field not in values:
                problems.append(f"{indicator.code}: no field {ref.field}")
            elif ref.value is None and values[ref.field]:
                problems.append(f"{indicator.code}: {ref.field} is a picklist; name a value")
            elif ref.value is not None and ref.value not in values[ref.field]:
                problems.append(f"{indicator.code}: {ref.field} has no value {ref.value}")
    return problems


def test_the_vendored_list_states_its_source_version_and_licence(htcds: dict[str, Any]) -> None:
    assert htcds["standard_version"] == HTCDS_SOURCE["version"] == "2.0"
    assert htcds["commit"] == HTCDS_SOURCE["commit"]
    assert htcds["repository"] == HTCDS_SOURCE["repository"]
    assert htcds["licence"].startswith("CC BY 4.0") and "IOM" in htcds["attribution"]
    names = [f["field"] for f in htcds["fields"]]
    assert len(names) == len(set(names)) and "vic_MethodsOfControl" in names
    for field in htcds["fields"]:
        for value in field.get("values", ()):
            assert value["sources"] and set(value["sources"]) <= set(htcds["sources"])


def test_every_indicator_maps_to_htcds_or_says_why_not() -> None:
    for indicator in INDICATORS:
        mapping = indicator.mappings.htcds
        if mapping.status == "mapped":
            assert mapping.references and mapping.reason is None, indicator.code
        else:
            assert not mapping.references and mapping.reason, indicator.code


def test_every_htcds_reference_is_in_the_published_field_list(htcds: dict[str, Any]) -> None:
    assert unknown_htcds_references(INDICATORS, htcds) == []


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        (HtcdsReference(field="vic_MethodOfControl", value="DebtBondage"), "no field"),
        (HtcdsReference(field="vic_MethodsOfControl", value="Debtbondage"), "has no value"),
        (HtcdsReference(field="vic_MethodsOfControl"), "name a value"),
        (HtcdsReference(field="prs_Birthdate", value="Under18"), "has no value"),
    ],
)
def test_the_check_names_a_reference_the_list_does_not_hold(
    htcds: dict[str, Any], reference: HtcdsReference, problem: str
) -> None:
    indicator = INDICATORS[0]
    wrong = indicator.model_copy(
        update={
            "mappings": indicator.mappings.model_copy(
                update={"htcds": HtcdsMapping(status="mapped", references=(reference,))}
            )
        }
    )
    [found] = unknown_htcds_references([wrong], htcds)
    assert found.startswith(f"{indicator.code}: ") and problem in found


def test_no_indicator_claims_an_unverified_ilo_identifier() -> None:
    for indicator in INDICATORS:
        assert indicator.mappings.ilo.status == "not_mapped_unverified"
        assert indicator.mappings.ilo.reason == ILO_NOT_MAPPED_REASON
    assert "could not be obtained" in ILO_NOT_MAPPED_REASON


def test_a_mapping_needs_references_or_a_reason() -> None:
    with pytest.raises(ValidationError):
        HtcdsMapping(status="mapped")
    with pytest.raises(ValidationError):
        HtcdsMapping(status="none_applies")
    with pytest.raises(ValidationError):
        HtcdsMapping(
            status="none_applies",
            reason="because",
            references=(HtcdsReference(field="prs_Birthdate"),),
        )


def test_the_published_taxonomy_carries_identifiers_not_labels() -> None:
    published = indicator_taxonomy()
    assert published["mapping_sources"]["htcds"]["commit"] == HTCDS_SOURCE["commit"]
    debt = next(i for i in published["indicators"] if i["code"] == "debt_or_earnings_taken")
    assert debt["mappings"]["htcds"] == {
        "status": "mapped",
        "references": [
            {"field": "vic_MethodsOfControl", "value": "DebtBondage"},
            {"field": "vic_MethodsOfControl", "value": "TakesEarnings"},
        ],
        "reason": None,
    }
    assert debt["mappings"]["ilo"]["status"] == "not_mapped_unverified"
