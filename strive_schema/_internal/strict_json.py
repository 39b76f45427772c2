"""A strict JSON reader for signed formats.

Rejects what ``json.loads`` lets through: duplicate member names (two parsers could see
different values), NaN and Infinity, byte-order marks, encodings other than UTF-8, and
strings holding lone surrogates (which cannot be re-encoded as UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeAlias, cast

import rfc8785

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None


class StrictJSONError(ValueError):
    """The input is not strict JSON; the message says why without quoting the input."""


def _pairs(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    result: dict[str, JSONValue] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJSONError("duplicate member name in a JSON object")
        result[key] = value
    return result


def _no_constants(name: str) -> JSONValue:
    raise StrictJSONError(f"{name} is not JSON")


def _check_text(value: JSONValue) -> None:
    # Iterative walk: the parser already bounds depth by recursion, this must not.
    stack: list[JSONValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise StrictJSONError("a string holds a lone surrogate escape") from exc
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def loads(data: bytes) -> JSONValue:
    """Parse UTF-8 JSON strictly; raise StrictJSONError on any deviation."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError("not UTF-8") from exc
    if text.startswith("\ufeff"):
        raise StrictJSONError("starts with a byte-order mark")
    try:
        value: JSONValue = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constants)
    except StrictJSONError:
        raise
    except RecursionError as exc:
        raise StrictJSONError("nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise StrictJSONError("not valid JSON") from exc
    _check_text(value)
    return value


def dumps_compact(value: Mapping[str, object]) -> bytes:
    """Compact UTF-8 JSON with sorted member names; raise ValueError for NaN or Infinity."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True
    ).encode("utf-8")


_JCS_MAX_INT = 2**53 - 1
_LAST_BEFORE_SURROGATES = "\ud7ff"


def _sorted_dumps_is_canonical(value: object) -> bool:
    r"""Whether ``json.dumps`` with sorted keys gives exactly the RFC 8785 bytes for ``value``.

    It does for JSON made of objects, arrays, strings, booleans, null and integers within
    +/-(2**53 - 1) whose member names hold no character above U+D7FF: JCS and ``json``
    escape strings alike (the two-character forms for ``"``, ``\\``, ``\b``, ``\f``,
    ``\n``, ``\r``, ``\t``, ``\u00xx`` in lower case for other controls, everything else
    as UTF-8), write such integers in the same digits, and order such names the same (JCS
    sorts by UTF-16 code units, ``json`` by code points; they differ only between characters
    at or above U+E000 and characters beyond U+FFFF). Floats are left to ``rfc8785`` (ES6
    number formatting). ``tests/schema/test_canonical_json.py`` checks the equivalence
    against ``rfc8785`` with generated values."""
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if item is None or type(item) is str or type(item) is bool:
            continue
        if type(item) is int:
            if -_JCS_MAX_INT <= item <= _JCS_MAX_INT:
                continue
            return False
        if type(item) is dict:
            for key in item:
                if type(key) is not str:
                    return False
                if not (key.isascii() or max(key) <= _LAST_BEFORE_SURROGATES):
                    return False
            stack.extend(item.values())
            continue
        if type(item) is list:
            stack.extend(item)
            continue
        return False  # floats, tuples, anything else: rfc8785 decides
    return True


def canonical(value: Mapping[str, object]) -> bytes:
    """The RFC 8785 (JCS) canonical form; raise ValueError if ``value`` has none.

    JCS accepts only JSON values with finite numbers and integers within +/-(2**53 - 1).
    A referral (no floats) takes the fast path, ``json.dumps`` in C, about 20 times faster
    than the pure-Python ``rfc8785`` and provably the same bytes (see
    ``_sorted_dumps_is_canonical``); anything else goes to ``rfc8785``.
    """
    if _sorted_dumps_is_canonical(value):
        try:
            return json.dumps(
                value, ensure_ascii=False, separators=(",", ":"), sort_keys=True
            ).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it with its own message
    try:
        return rfc8785.dumps(cast("rfc8785._impl._Value", value))
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"no RFC 8785 canonical form: {exc}") from None
