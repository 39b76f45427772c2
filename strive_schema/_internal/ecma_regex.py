"""Regular expressions that mean what JSON Schema says they mean (ECMA-262).

JSON Schema evaluates ``pattern`` with ECMA-262 regular expressions, unanchored. Python's
``re`` reads the same text differently: ``$`` also matches before a final newline, and ``\\s``,
``\\d``, ``\\w`` and ``.`` cover other characters. The published patterns are therefore written
in a small subset on which ECMA-262 and the Rust ``regex`` engine (the one pydantic-core
uses, and so the models) agree, :func:`check_portable` refuses anything outside it, and
:func:`search` evaluates a pattern with that same engine.

The subset: literal characters; the escapes ``\\t \\n \\v \\f \\r``, ``\\uXXXX`` and an escaped
syntax character; character classes without nested ``[``, class escapes or set operators
(``&&``, ``--``, ``~~``); groups ``(...)`` and ``(?:...)``; ``|``; the quantifiers ``* + ?``
and ``{m}``, ``{m,}``, ``{m,n}``; and the anchors ``^`` and ``$``. White space, where a pattern
needs it, is spelt out with :data:`ECMA_WHITE_SPACE`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Final

from pydantic_core import SchemaValidator, core_schema

__all__ = ["ECMA_WHITE_SPACE", "check_portable", "compile_pattern", "search"]

ECMA_WHITE_SPACE: Final = (
    r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""What ECMA-262 ``\\s`` matches (WhiteSpace and LineTerminator), as the body of a class."""

_SYNTAX_CHARACTERS: Final = frozenset("^$\\.*+?()[]{}|/")
_CONTROL_ESCAPES: Final = frozenset("tnvfr")
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _escape_length(pattern: str, index: int, *, in_class: bool = False) -> int:
    """Length of the escape starting at ``pattern[index] == '\\'``; raise if not portable."""
    following = pattern[index + 1 : index + 2]
    if following in _CONTROL_ESCAPES or (following and following in _SYNTAX_CHARACTERS):
        return 2
    if following == "-" and in_class:  # ECMA-262 with the "u" flag allows "\-" only here
        return 2
    digits = pattern[index + 2 : index + 6]
    if following == "u" and len(digits) == 4 and set(digits) <= _HEX:
        return 6
    raise ValueError(f"escape \\{following} at {index} means different things in ECMA-262 and Rust")


def check_portable(pattern: str) -> None:
    """Raise ``ValueError`` unless ``pattern`` is in the subset described in the module."""
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\":
            index += _escape_length(pattern, index)
        elif char == "[":
            index += 1
            if pattern[index : index + 1] == "^":
                index += 1
            start = index
            while index < length and (pattern[index] != "]" or index == start):
                if pattern[index] == "\\":
                    index += _escape_length(pattern, index, in_class=True)
                    continue
                if pattern[index] == "[" or pattern[index : index + 2] in ("&&", "--", "~~"):
                    raise ValueError(f"class at {start} is read differently by ECMA-262 and Rust")
                index += 1
            if index >= length:
                raise ValueError("unterminated character class")
            index += 1
        elif char == "(":
            if pattern[index + 1 : index + 2] == "?" and pattern[index + 2 : index + 3] != ":":
                raise ValueError(f"group at {index}: only (...) and (?:...) are portable")
            index += 3 if pattern[index + 1 : index + 2] == "?" else 1
        elif char == ".":
            raise ValueError("'.' matches different characters in ECMA-262 and Rust")
        else:
            index += 1


@cache
def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """Return a function telling whether a string matches ``pattern`` anywhere, as ECMA-262
    would (``pattern`` must pass :func:`check_portable`)."""
    check_portable(pattern)
    validator = SchemaValidator(
        core_schema.str_schema(pattern=pattern, regex_engine="rust-regex", strict=True)
    )
    return validator.isinstance_python


def search(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern`` as JSON Schema's ``pattern`` keyword requires."""
    return compile_pattern(pattern)(text)
