"""The Strive referral standard: data model, validator, taxonomy and normalisation.

Import what you need from here::

    from strive_schema import Referral, validate_json

    result = validate_json(raw_bytes)
    for error in result.errors:
        print(error.pointer, error.code, error.message)
"""

from strive_schema.codes import ValidationCode
from strive_schema.models import SCHEMA_VERSION, Referral
from strive_schema.normalise import fold_name, normalise_email, normalise_phone
from strive_schema.published import REFERRAL_SCHEMA_ID, referral_json_schema
from strive_schema.semantics import Finding
from strive_schema.taxonomy import INDICATORS, IndicatorDefinition, get_indicator
from strive_schema.validator import ValidationResult, validate_document, validate_json

__all__ = [
    "INDICATORS",
    "REFERRAL_SCHEMA_ID",
    "SCHEMA_VERSION",
    "Finding",
    "IndicatorDefinition",
    "Referral",
    "ValidationCode",
    "ValidationResult",
    "fold_name",
    "get_indicator",
    "normalise_email",
    "normalise_phone",
    "referral_json_schema",
    "validate_document",
    "validate_json",
]
