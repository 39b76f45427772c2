"""The fast canonical form (``json.dumps`` with sorted keys) is byte for byte RFC 8785.

``strict_json.canonical`` takes ``json.dumps`` when it can prove the two agree and
``rfc8785`` otherwise; generated JSON values, with the characters where the two could differ
(controls, quotes, backslashes, U+2028, characters around the surrogate range and beyond
U+FFFF, in strings and member names), floats and out-of-range integers, must give the very
bytes ``rfc8785`` gives, or the same refusal.
"""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from strive_schema._internal import strict_json

from ..conftest import load_example

TRICKY = st.sampled_from(
    ["\x00", "\x1f", "\x7f", '"', "\\", "\b", "\f", "\n", "\r", "\t", "\u2028", "\ud7ff",
     "\ue000", "\uffff", "\U0001f600", "\U00010000", "é", "/", "<", "a", "Z", "0"]
)  # fmt: skip
TEXT = st.one_of(st.text(), st.lists(TRICKY, max_size=6).map("".join))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(TEXT, children, max_size=5)
    ),
    max_leaves=30,
)


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return ValueError


def ours(value: Any) -> bytes | type[Exception]:
    try:
        return strict_json.canonical(value)
    except ValueError:
        return ValueError


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(TEXT, JSON, max_size=6))
def test_canonical_is_rfc8785_byte_for_byte(value: dict[str, Any]) -> None:
    assert ours(value) == reference(value)


def test_the_published_examples_take_the_fast_path_and_match_rfc8785() -> None:
    for name in ("op-strive-1-london.json", "messy-selectors.json", "sandbox-minimal.json"):
        document = load_example(name)
        assert strict_json._sorted_dumps_is_canonical(document)
        assert strict_json.canonical(document) == rfc8785.dumps(document)
