"""The published artefacts of the standard, generated from the models.

``referral_json_schema()`` is the JSON Schema 2020-12 document committed at
``spec/schema/v1/referral.schema.json``; ``indicator_taxonomy()`` is
``spec/taxonomy/indicators.json``. Never edit those files by hand: run
``python -m strive_schema.generate``.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any, Final

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from strive_schema._internal.ecma_regex import check_portable
from strive_schema._types import EXTENSION_VALUE_DEFINITION
from strive_schema.models import SCHEMA_VERSION, Referral
from strive_schema.taxonomy import (
    HTCDS_SOURCE,
    ILO_NOT_MAPPED_REASON,
    INDICATORS,
    TAXONOMY_VERSION,
)

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "REFERRAL_SCHEMA_ID",
    "indicator_taxonomy",
    "referral_json_schema",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
REFERRAL_SCHEMA_ID: Final = f"urn:strive:schema:referral:{SCHEMA_VERSION}"
"""The versioned ``$id`` of the referral schema."""

_SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n)")
_RST_LITERAL = re.compile(r"``([^`]+)``")


class _StriveSchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator, adjusted to what the models accept.

    * Optional members are omitted, never null: they are declared ``Omittable[X] = None``,
      which pydantic validates as ``X``, so the ``default: null`` it would publish is dropped.
    * Member titles derived from Python names add nothing; descriptions say what matters.
    * A mapping whose names have a pattern is published with ``propertyNames`` and
      ``additionalProperties``: pydantic's ``patternProperties`` would let other names through,
      which the models refuse.
    * The extension value definition refers to itself for array items and member values.
    """

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        generated = super().generate(schema, mode)
        definition = generated.get("$defs", {}).get(EXTENSION_VALUE_DEFINITION)
        if definition is not None:
            itself = {"$ref": self.ref_template.format(model=EXTENSION_VALUE_DEFINITION)}
            definition["items"] = itself
            definition["additionalProperties"] = dict(itself)
        return generated

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        generated = super().dict_schema(schema)
        by_pattern = generated.pop("patternProperties", None)
        if by_pattern:
            ((pattern, values),) = by_pattern.items()
            generated["propertyNames"] = {"pattern": pattern}
            generated["additionalProperties"] = values
        return generated

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None:
            del generated["default"]
        return generated

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def _tidy(node: Any) -> Any:
    """Reflow docstring text: single newlines are soft wraps; RST literals become Markdown."""
    if isinstance(node, dict):
        tidied = {}
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                text = _SOFT_BREAK.sub(" ", value.strip())
                tidied[key] = _RST_LITERAL.sub(r"`\1`", text)
            else:
                tidied[key] = _tidy(value)
        return tidied
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


@cache
def _referral_json_schema() -> dict[str, Any]:
    generated = Referral.model_json_schema(schema_generator=_StriveSchemaGenerator)
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "$id": REFERRAL_SCHEMA_ID}
    schema.update(_tidy(generated))
    for pattern in _patterns(schema):
        check_portable(pattern)  # every pattern means the same to ECMA-262 and to the models
    return schema


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def referral_json_schema() -> dict[str, Any]:
    """Return the JSON Schema 2020-12 of the referral document (a fresh copy)."""
    return copy.deepcopy(_referral_json_schema())


def indicator_taxonomy() -> dict[str, Any]:
    """Return the indicator taxonomy as published in ``spec/taxonomy/indicators.json``."""
    return {
        "taxonomy_version": TAXONOMY_VERSION,
        "extension_code_pattern": "^x-[a-z0-9]+(-[a-z0-9]+)+$",
        "mapping_sources": {
            "htcds": dict(HTCDS_SOURCE),
            "ilo": {"status": "not_mapped_unverified", "reason": ILO_NOT_MAPPED_REASON},
        },
        "indicators": [indicator.model_dump(mode="json") for indicator in INDICATORS],
    }
