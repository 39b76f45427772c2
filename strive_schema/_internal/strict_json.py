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


def canonical(value: Mapping[str, object]) -> bytes:
    """The RFC 8785 (JCS) canonical form; raise ValueError if ``value`` has none.

    JCS accepts only JSON values with finite numbers and integers within +/-(2**53 - 1).
    """
    try:
        return rfc8785.dumps(cast("rfc8785._impl._Value", value))
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"no RFC 8785 canonical form: {exc}") from None
