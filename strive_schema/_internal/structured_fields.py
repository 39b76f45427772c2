"""RFC 8941 Structured Field Values, as RFC 9421 and RFC 9530 use them.

Parses Dictionaries (``Signature-Input``, ``Signature``, ``Content-Digest``), Lists and Items
following the algorithms of RFC 8941 section 4.2, and serialises them (section 4.1), which is
how RFC 9421 writes ``@signature-params`` into the signature base. Written here rather than
taken from a library because the signature profile needs exactly RFC 8941 (not RFC 9651's
Dates and Display Strings) and a few hundred lines on the signature path are easier to audit
than a dependency; the whole published corpus (httpwg/structured-field-tests) checks it, in
``tests/protocol/test_structured_field_corpus.py``.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


class Token(str):
    """An sf-token (a bare word such as ``sha-256``), distinct from an sf-string."""

    __slots__ = ()


BareItem = int | Decimal | str | Token | bytes | bool
Parameters = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    """An sf-item: a bare item with parameters."""

    value: BareItem
    params: Parameters


@dataclass(frozen=True)
class InnerList:
    """An sf-inner-list: items with parameters of their own."""

    items: list[Item]
    params: Parameters


Member = Item | InnerList


class StructuredFieldError(ValueError):
    """The field value is not valid per RFC 8941."""


_KEY_FIRST = set(string.ascii_lowercase + "*")
_KEY_REST = set(string.ascii_lowercase + string.digits + "_-.*")
_TCHAR = set("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)
_TOKEN_REST = _TCHAR | {":", "/"}
_B64_CHARS = set(string.ascii_letters + string.digits + "+/=")
_INTEGER_MAX_DIGITS = 15
_DECIMAL_MAX_INTEGER_DIGITS = 12
_NUMBER = re.compile(r"-?([0-9]+)(\.([0-9]*))?")


class _Parser:
    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise StructuredFieldError("structured fields are ASCII")
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def dictionary(self) -> dict[str, Member]:
        result: dict[str, Member] = {}
        while not self.done():
            key = self.key()
            if self.peek() == "=":
                self.pos += 1
                member = self.item_or_inner_list()
            else:
                member = Item(True, self.parameters())
            result[key] = member  # RFC 8941: a later duplicate key overwrites
            self.skip(" \t")
            if self.done():
                return result
            if self.take() != ",":
                raise StructuredFieldError("expected ',' between dictionary members")
            self.skip(" \t")
            if self.done():
                raise StructuredFieldError("trailing ',' in a dictionary")
        return result

    def list(self) -> list[Member]:
        members: list[Member] = []
        while not self.done():
            members.append(self.item_or_inner_list())
            self.skip(" \t")
            if self.done():
                return members
            if self.take() != ",":
                raise StructuredFieldError("expected ',' between list members")
            self.skip(" \t")
            if self.done():
                raise StructuredFieldError("trailing ',' in a list")
        return members

    def item_or_inner_list(self) -> Member:
        if self.peek() == "(":
            return self.inner_list()
        return Item(self.bare_item(), self.parameters())

    def inner_list(self) -> InnerList:
        self.pos += 1  # "("
        items: list[Item] = []
        while not self.done():
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(items, self.parameters())
            items.append(Item(self.bare_item(), self.parameters()))
            if self.peek() not in (" ", ")"):
                raise StructuredFieldError("expected ' ' or ')' in an inner list")
        raise StructuredFieldError("unterminated inner list")

    def parameters(self) -> Parameters:
        params: Parameters = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        if not self.peek() or self.peek() not in _KEY_FIRST:
            raise StructuredFieldError("a key starts with a lower-case letter or '*'")
        start = self.pos
        while self.peek() and self.peek() in _KEY_REST:
            self.pos += 1
        return self.text[start : self.pos]

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char and (char == "-" or char.isdigit()):
            return self.number()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char and (char.isalpha() or char == "*"):
            return self.token()
        raise StructuredFieldError("not a bare item")

    def number(self) -> int | Decimal:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise StructuredFieldError("not a number")
        whole, fraction = match.group(1), match.group(3)
        self.pos = match.end()
        if fraction is None:
            if len(whole) > _INTEGER_MAX_DIGITS:
                raise StructuredFieldError("integer too long")
            return int(match.group(0))
        if len(whole) > 12 or not 1 <= len(fraction) <= 3:
            raise StructuredFieldError("decimal out of range")
        return Decimal(match.group(0))

    def string(self) -> str:
        self.pos += 1  # opening quote
        out: list[str] = []
        while not self.done():
            char = self.take()
            if char == "\\":
                escaped = self.take()
                if escaped not in ('"', "\\"):
                    raise StructuredFieldError("bad escape in a string")
                out.append(escaped)
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise StructuredFieldError("control character in a string")
            else:
                out.append(char)
        raise StructuredFieldError("unterminated string")

    def token(self) -> Token:
        start = self.pos
        self.pos += 1
        while self.peek() and self.peek() in _TOKEN_REST:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def byte_sequence(self) -> bytes:
        self.pos += 1  # opening colon
        end = self.text.find(":", self.pos)
        if end < 0:
            raise StructuredFieldError("unterminated byte sequence")
        encoded = self.text[self.pos : end]
        self.pos = end + 1
        if not set(encoded) <= _B64_CHARS:
            raise StructuredFieldError("bad character in a byte sequence")
        # RFC 8941 section 4.2.7: parsers SHOULD NOT fail when "=" padding is missing.
        padded = encoded.rstrip("=") + "=" * (-len(encoded.rstrip("=")) % 4)
        try:
            return base64.b64decode(padded, validate=True)
        except binascii.Error as exc:
            raise StructuredFieldError("bad byte sequence") from exc

    def boolean(self) -> bool:
        self.pos += 1
        char = self.take()
        if char not in ("0", "1"):
            raise StructuredFieldError("a boolean is ?0 or ?1")
        return char == "1"


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an sf-dictionary field value (RFC 8941 section 4.2, with 4.2.2)."""
    parser = _Parser(text.strip(" "))
    return parser.dictionary()


def parse_list(text: str) -> list[Member]:
    """Parse an sf-list field value (RFC 8941 section 4.2, with 4.2.1)."""
    parser = _Parser(text.strip(" "))
    return parser.list()


def parse_item(text: str) -> Item:
    """Parse an sf-item field value (RFC 8941 section 4.2, with 4.2.3)."""
    parser = _Parser(text.strip(" "))
    item = Item(parser.bare_item(), parser.parameters())
    if not parser.done():
        raise StructuredFieldError("unexpected characters after an item")
    return item


def serialize_bare_item(value: BareItem) -> str:
    """Serialise a bare item (RFC 8941 section 4.1.3.1)."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if len(str(abs(value))) > _INTEGER_MAX_DIGITS:
            raise StructuredFieldError("integer too long")
        return str(value)
    if isinstance(value, Decimal):
        rounded = value.quantize(Decimal("0.001"))  # round half to even, section 4.1.5
        if len(str(abs(int(rounded)))) > _DECIMAL_MAX_INTEGER_DIGITS:
            raise StructuredFieldError("decimal out of range")
        text = format(rounded, "f").rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        if not value or not (value[0].isalpha() or value[0] == "*") or not value.isascii():
            raise StructuredFieldError("a token starts with a letter or '*'")
        if not set(value[1:]) <= _TOKEN_REST:
            raise StructuredFieldError("bad character in a token")
        return str(value)
    if not all(" " <= char <= "~" for char in value):
        raise StructuredFieldError("strings are printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_key(key: str) -> str:
    """Check a dictionary or parameter key (RFC 8941 section 4.1.1.3)."""
    if not key or key[0] not in _KEY_FIRST or not set(key[1:]) <= _KEY_REST:
        raise StructuredFieldError("a key is lower-case letters, digits, '_', '-', '.', '*'")
    return key


def serialize_parameters(params: Mapping[str, BareItem]) -> str:
    """Serialise parameters (RFC 8941 section 4.1.1.2); a true boolean omits its value."""
    out: list[str] = []
    for key, value in params.items():
        out.append(";" + serialize_key(key))
        if value is not True:
            out.append("=" + serialize_bare_item(value))
    return "".join(out)


def serialize_item(item: Item) -> str:
    """Serialise an item with its parameters."""
    return serialize_bare_item(item.value) + serialize_parameters(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """Serialise an inner list with its parameters (RFC 8941 section 4.1.1.1)."""
    return (
        "("
        + " ".join(serialize_item(item) for item in inner.items)
        + ")"
        + serialize_parameters(inner.params)
    )


def serialize_member(member: Member) -> str:
    """Serialise a list or dictionary member: an item or an inner list."""
    if isinstance(member, InnerList):
        return serialize_inner_list(member)
    return serialize_item(member)


def serialize_list(members: list[Member]) -> str:
    """Serialise an sf-list (RFC 8941 section 4.1.1)."""
    return ", ".join(serialize_member(member) for member in members)


def serialize_dictionary(members: Mapping[str, Member]) -> str:
    """Serialise an sf-dictionary (RFC 8941 section 4.1.2); a true item omits its value."""
    out: list[str] = []
    for key, member in members.items():
        if isinstance(member, Item) and member.value is True:
            out.append(serialize_key(key) + serialize_parameters(member.params))
        else:
            out.append(serialize_key(key) + "=" + serialize_member(member))
    return ", ".join(out)
