"""Selector normalisation: messy input links to its twin; untidy input is kept, not rejected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strive_schema.normalise import fold_name, normalise_email, normalise_phone


@pytest.mark.parametrize(
    "raw",
    [
        "07700 900123",
        "+44 7700 900123",
        "447700900123",
        "0044 7700 900123",
        "(07700) 900-123",
        "07700-900-123",
        " +44 (0)7700 900123 ",
    ],
)
def test_uk_formats_normalise_to_one_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+447700900123"


def test_default_region_is_configurable() -> None:
    assert normalise_phone("202 555 0143", default_region="US") == "+12025550143"
    assert normalise_phone("+1 202-555-0143") == "+12025550143"


@pytest.mark.parametrize("raw", ["call me on WhatsApp", "", "123", "0" * 70, "+44"])
def test_unparseable_numbers_give_none(raw: str) -> None:
    assert normalise_phone(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  mailto:Jane@Example.org ", "jane@example.org"),
        ("anna@bücher.example", "anna@xn--bcher-kva.example"),
    ],
)
def test_emails_are_lower_cased_with_idna_domains(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["jane at example dot com", "a@@example.com", "@example.com"])
def test_unparseable_emails_give_none(raw: str) -> None:
    assert normalise_email(raw) is None


def test_names_fold_case_spacing_punctuation_and_diacritics() -> None:
    assert (
        fold_name("  Ana-Maria  POPESCU") == fold_name("ana maria popescu") == "ana maria popescu"
    )
    assert fold_name("João Luís") == "joao luis"
    assert fold_name(" -- ") is None


@given(st.text(max_size=40))
def test_normalisers_never_raise(raw: str) -> None:
    phone = normalise_phone(raw)
    assert phone is None or phone.startswith("+")
    email = normalise_email(raw)
    assert email is None or email == email.lower()
    fold_name(raw)
