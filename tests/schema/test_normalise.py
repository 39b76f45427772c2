"""Selector normalisation: messy input links to its twin; untidy input is kept, not rejected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strive_schema.normalise import (
    _normalise_email_by_library,
    fold_name,
    normalise_email,
    normalise_phone,
)


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


# Addresses near the edges of the fast path for plain ASCII addresses: case, dots, hyphens,
# "--", Punycode, special-use and numeric top-level labels, overlong parts.
_LABEL = st.from_regex(
    r"\A(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]{0,64}[A-Za-z0-9]|xn--[a-z0-9]{2,8}|-x)\Z"
)
_TLD = (
    st.sampled_from(
        ["com", "ORG", "uk", "example", "test", "local", "LocalHost", "onion", "arpa", "invalid"]
    )
    | _LABEL
)
_LOCAL = st.from_regex(r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,70}\Z")
_ADDRESS = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    _LOCAL,
    st.lists(_LABEL, min_size=0, max_size=5),
    _TLD,
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_ADDRESS, st.text(max_size=40)))
def test_the_plain_address_fast_path_agrees_with_email_validator(raw: str) -> None:
    assert normalise_email(raw) == _normalise_email_by_library(raw.strip())


@pytest.mark.parametrize(
    "raw",
    [
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + ".com",
        "a@" + "b" * 64 + ".com",
        "a@" + ".".join(["b" * 60] * 4) + ".com",
        "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com",
        "a" * 60 + "@" + ".".join(["b" * 60] * 3) + ".com",
        "x@ab--c.com",
        "x@xn--bcher-kva.example",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@x.c",
        "a@1.2",
        "a@example",
        "a@x.onion",
        "a@x.test",
    ],
)
def test_the_fast_path_agrees_at_its_edges(raw: str) -> None:
    assert normalise_email(raw) == _normalise_email_by_library(raw)
