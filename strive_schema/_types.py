"""Constrained value types shared by the referral models.

Each type carries its JSON Schema explicitly, so that the published schema and the pydantic
model accept exactly the same strings. Where pydantic's own parser is laxer than the standard
(RFC 3339 timestamps, for example) a pre-check narrows it to what the schema says.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from typing import TYPE_CHECKING, Annotated, Any, Final
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)
from pydantic import JsonValue as _JsonValue
from typing_extensions import TypeAliasType

from strive_schema._internal.ecma_regex import ECMA_WHITE_SPACE, compile_pattern

__all__ = [
    "INTEGRAL_NUMBER",
    "MEMBERS_ADDED",
    "RFC3339_PATTERN",
    "SUPPORTED_SCHEMA_VERSIONS",
    "CountryCode",
    "CurrencyCode",
    "DateOnly",
    "DecimalAmount",
    "E164Number",
    "ExtensionValue",
    "Extensions",
    "IPAddress",
    "IndicatorCode",
    "LocalId",
    "LongText",
    "MediaType",
    "Omittable",
    "OrganisationId",
    "Sha256Hex",
    "ShortText",
    "Text",
    "Timestamp",
    "Uuid",
    "WebUrl",
]

if TYPE_CHECKING:
    from typing import Optional as Omittable
else:

    class Omittable:
        """``Omittable[X]``: an optional member that may be absent but never ``null``.

        Type checkers read it as ``X | None`` (absent reads as ``None``). Pydantic sees ``X``
        alone, with the field's default ``None`` (never validated): an explicit ``null`` is
        rejected by the type itself, where and as the JSON Schema rejects it, without a
        Python call per object. (A ``mode="before"`` null guard on every model made pydantic
        hand it each object as a dict: about a third of model validation.)
        """

        def __class_getitem__(cls, item: Any) -> Any:
            return item


#: RFC 3339 ``date-time`` with a mandatory offset. Years 1900-2999; seconds 00-59.
RFC3339_PATTERN: Final = (
    r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
DATE_PATTERN: Final = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_RFC3339 = compile_pattern(RFC3339_PATTERN)
_DATE = compile_pattern(DATE_PATTERN)

LOCAL_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
EXTENSION_KEY_PATTERN: Final = r"^x-[a-z0-9]+(-[a-z0-9]+)+$"
SUPPORTED_SCHEMA_VERSIONS: Final = ("1.0", "1.1")
"""Every minor version of major version 1 that the models read (spec/versioning.md)."""
MEMBERS_ADDED: Final = {"taxonomy_version": "1.1"}
"""Top-level members added after 1.0, with the minor version that added each."""
INDICATOR_CODE_PATTERN: Final = r"^([a-z][a-z0-9_]{2,63}|x-[a-z0-9]+(-[a-z0-9]+)+)$"
INDICATOR_CODE_MAX_LENGTH: Final = 100
"""Longest indicator code (taxonomy codes have at most 64 characters; extension codes share
the rest). Receivers store codes in a column of this width."""
NO_NUL_PATTERN: Final = r"^[^\u0000]*$"
"""Free text may hold any character but U+0000 (NUL), which PostgreSQL cannot store in text."""
_NOT_SPACE_OR_NUL: Final = rf"[^\u0000{ECMA_WHITE_SPACE}]"
EMAIL_PATTERN: Final = rf"^[^@\u0000{ECMA_WHITE_SPACE}]+@[^@\u0000{ECMA_WHITE_SPACE}]+$"
URL_PATTERN: Final = rf"^https?://[^\u0000{ECMA_WHITE_SPACE}/$.?#]{_NOT_SPACE_OR_NUL}*$"


# These pre-checks admit only the canonical string form (from JSON) or the native object
# (from Python callers); the lax parser behind them then never sees anything else, so it
# cannot accept what the schema rejects (numbers as timestamps, "2026-11-23 10:00Z", ...).


def _check_rfc3339(value: object) -> object:
    if isinstance(value, _dt.datetime) or (isinstance(value, str) and _RFC3339(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T17:00:00Z")


def _check_date(value: object) -> object:
    if (isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)) or (
        isinstance(value, str) and _DATE(value)
    ):
        return value
    raise ValueError("must be a full date, YYYY-MM-DD")


UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_UUID = compile_pattern(UUID_PATTERN)


def _check_uuid(value: object) -> object:
    if isinstance(value, UUID) or (isinstance(value, str) and _UUID(value)):
        return value
    raise ValueError("must be a UUID in lower-case hyphenated form")


def _check_ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise ValueError("an IPv6 zone id is not allowed")
    return value


Timestamp = Annotated[
    AwareDatetime,
    Strict(False),
    BeforeValidator(_check_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""An RFC 3339 date-time with an explicit offset (``Z`` or ``+01:00``)."""

DateOnly = Annotated[
    _dt.date,
    Strict(False),
    BeforeValidator(_check_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]

Uuid = Annotated[
    UUID,
    Strict(False),
    BeforeValidator(_check_uuid),
    WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN}),
]
"""A UUID in its canonical lower-case hyphenated form."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL_PATTERN)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=20000, pattern=NO_NUL_PATTERN)]

LocalId = Annotated[str, StringConstraints(pattern=LOCAL_ID_PATTERN)]
"""A referral-local identifier of an entity, unique within one referral document."""

OrganisationId = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
]
IndicatorCode = Annotated[
    str, StringConstraints(pattern=INDICATOR_CODE_PATTERN, max_length=INDICATOR_CODE_MAX_LENGTH)
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
DecimalAmount = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$")]
E164Number = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MediaType = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$"
    ),
]
WebUrl = Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=2048)]
EmailText = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=320)]


def _integral(value: object) -> object:
    # JSON Schema's "integer" is any number with a zero fractional part: 443.0 is one.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL_NUMBER: Final = BeforeValidator(_integral)
"""Put last in ``Annotated[int, Field(ge=..., le=...), INTEGRAL_NUMBER]``: a JSON number with a
zero fractional part (``443.0``) is then an integer, as in JSON Schema, and the bounds still
reach the published schema."""

IPAddress = Annotated[
    str,
    StringConstraints(max_length=45),
    AfterValidator(_check_ip),
    WithJsonSchema(
        {"type": "string", "maxLength": 45, "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    ),
]


def _refuse_nul(value: _JsonValue) -> _JsonValue:
    stack: list[_JsonValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("a string holds U+0000 (NUL)")
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if any("\x00" in name for name in item):
                raise ValueError("a member name holds U+0000 (NUL)")
            stack.extend(item.values())
    return value


EXTENSION_VALUE_DEFINITION: Final = "ExtensionValue"
ExtensionValue = TypeAliasType(
    "ExtensionValue",
    Annotated[
        _JsonValue,
        AfterValidator(_refuse_nul),
        # Completed by the schema generator (strive_schema.published) with "items" and
        # "additionalProperties" referring back to this definition: pydantic cannot spell a
        # recursive reference inside WithJsonSchema.
        WithJsonSchema(
            {
                "description": (
                    "Any JSON value in which no string and no member name holds U+0000."
                ),
                "pattern": NO_NUL_PATTERN,
                "propertyNames": {"pattern": NO_NUL_PATTERN},
            }
        ),
    ],
)
"""The value of an extension member: any JSON value without U+0000 in its text."""

ExtensionKey = Annotated[str, StringConstraints(pattern=EXTENSION_KEY_PATTERN)]
Extensions = Annotated[
    dict[ExtensionKey, ExtensionValue],
    Field(
        max_length=50,
        description=(
            "Namespaced extension members, `x-<organisation>-<name>`, for data the "
            "standard does not yet carry. Receivers store them and may ignore them."
        ),
    ),
]
