"""Constrained value types shared by the referral models.

Each type carries its JSON Schema explicitly, so that the published schema and the pydantic
model accept exactly the same strings. Where pydantic's own parser is laxer than the standard
(RFC 3339 timestamps, for example) a pre-check narrows it to what the schema says.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
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

__all__ = [
    "RFC3339_PATTERN",
    "CountryCode",
    "CurrencyCode",
    "DateOnly",
    "DecimalAmount",
    "E164Number",
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
_RFC3339 = re.compile(RFC3339_PATTERN)
_DATE = re.compile(DATE_PATTERN)

LOCAL_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
EXTENSION_KEY_PATTERN: Final = r"^x-[a-z0-9]+(-[a-z0-9]+)+$"
INDICATOR_CODE_PATTERN: Final = r"^([a-z][a-z0-9_]{2,63}|x-[a-z0-9]+(-[a-z0-9]+)+)$"


# These pre-checks admit only the canonical string form (from JSON) or the native object
# (from Python callers); the lax parser behind them then never sees anything else, so it
# cannot accept what the schema rejects (numbers as timestamps, "2026-11-23 10:00Z", ...).


def _check_rfc3339(value: object) -> object:
    if isinstance(value, _dt.datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T17:00:00Z")


def _check_date(value: object) -> object:
    if (isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)) or (
        isinstance(value, str) and _DATE.match(value)
    ):
        return value
    raise ValueError("must be a full date, YYYY-MM-DD")


UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_UUID = re.compile(UUID_PATTERN)


def _check_uuid(value: object) -> object:
    if isinstance(value, UUID) or (isinstance(value, str) and _UUID.match(value)):
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

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=20000)]

LocalId = Annotated[str, StringConstraints(pattern=LOCAL_ID_PATTERN)]
"""A referral-local identifier of an entity, unique within one referral document."""

OrganisationId = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
]
IndicatorCode = Annotated[str, StringConstraints(pattern=INDICATOR_CODE_PATTERN)]
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
WebUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=2048)]

IPAddress = Annotated[
    str,
    StringConstraints(max_length=45),
    AfterValidator(_check_ip),
    WithJsonSchema(
        {"type": "string", "maxLength": 45, "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    ),
]

ExtensionKey = Annotated[str, StringConstraints(pattern=EXTENSION_KEY_PATTERN)]
Extensions = Annotated[
    dict[ExtensionKey, _JsonValue],
    Field(max_length=50),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": EXTENSION_KEY_PATTERN},
            "maxProperties": 50,
            "description": (
                "Namespaced extension members, `x-<organisation>-<name>`, for data the "
                "standard does not yet carry. Receivers store them and may ignore them."
            ),
        }
    ),
]
