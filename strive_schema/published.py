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

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from strive_schema.models import SCHEMA_VERSION, Referral
from strive_schema.taxonomy import INDICATORS, TAXONOMY_VERSION

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
    """

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
    return schema


def referral_json_schema() -> dict[str, Any]:
    """Return the JSON Schema 2020-12 of the referral document (a fresh copy)."""
    return copy.deepcopy(_referral_json_schema())


def indicator_taxonomy() -> dict[str, Any]:
    """Return the indicator taxonomy as published in ``spec/taxonomy/indicators.json``."""
    return {
        "taxonomy_version": TAXONOMY_VERSION,
        "extension_code_pattern": "^x-[a-z0-9]+(-[a-z0-9]+)+$",
        "indicators": [indicator.model_dump(mode="json") for indicator in INDICATORS],
    }
