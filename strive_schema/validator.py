"""The compliance validator: every finding in a referral document, with a pointer and a code.

Three stages, each reporting everything it finds:

1. reading: size, UTF-8, JSON syntax, duplicate member names, nesting depth, lone surrogates;
   the checks that need only the decoded document run in :func:`validate_document` too, so a
   caller holding a parsed object (the receiver) applies the same rules as one holding bytes;
2. the published JSON Schema (kind ``schema``), checked with the ``jsonschema`` package and its
   format checker, its ``pattern`` keyword evaluated as ECMA-262 (JSON Schema's dialect), so the
   validator agrees with the committed schema by construction;
3. the semantic rules (kind ``semantic``), on a document the schema accepts.

Messages never quote the offending value: validation output ends up in logs and tickets, and
referral values are personal data.

Example::

    >>> result = validate_json(b'{"schema_version": "1.0"}')
    >>> result.valid
    False
    >>> result.errors[0].pointer, result.errors[0].code
    ('/referral_id', 'missing_field')
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Final, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.protocols import Validator as SchemaValidatorProtocol
from jsonschema.validators import extend
from pydantic import ValidationError as ModelValidationError

from strive_schema._internal.ecma_regex import search as ecma_search
from strive_schema.codes import ValidationCode
from strive_schema.errors import StriveError
from strive_schema.models import SKIP_SEMANTICS, Referral
from strive_schema.normalise import DEFAULT_REGION
from strive_schema.published import referral_json_schema
from strive_schema.semantics import Finding, check_semantics, json_pointer

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "DocumentReadError",
    "ValidationResult",
    "iter_ndjson",
    "load_json",
    "validate_document",
    "validate_json",
]

MAX_DOCUMENT_BYTES: Final = 1_500_000
"""Largest referral document accepted, in bytes of UTF-8 JSON.

A receiver's default envelope limit (2 MiB) carries any referral of this size: the submission
adds at most a few hundred bytes, base64 a third, the envelope and four signatures under a
kilobyte (spec/validation.md, "Size")."""
MAX_DEPTH: Final = 32
"""Deepest nesting of arrays and objects accepted (the schema itself needs 5)."""


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome of validating one document."""

    errors: tuple[Finding, ...] = ()
    """Every error; the document is valid when there is none."""
    warnings: tuple[Finding, ...] = ()
    """Findings that do not make the document invalid (untidy selectors, for example)."""
    referral: Referral | None = field(default=None, compare=False)
    """The parsed referral, when the document is valid."""

    @property
    def valid(self) -> bool:
        """``True`` when there are no errors (warnings do not count)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Return the result in the pinned JSON shape of ``strive validate --format json``."""
        return {
            "valid": self.valid,
            "errors": [_finding_dict(f) for f in self.errors],
            "warnings": [_finding_dict(f) for f in self.warnings],
        }


def _finding_dict(finding: Finding) -> dict[str, str]:
    return {
        "pointer": finding.pointer,
        "code": finding.code,
        "message": finding.message,
        "kind": finding.kind,
    }


class DocumentReadError(StriveError):
    """The input is not one readable JSON document; ``finding`` says why (pointer ``""``)."""

    def __init__(
        self, code: ValidationCode, message: str, *, kind: Literal["schema", "semantic"] = "schema"
    ) -> None:
        super().__init__(message)
        self.finding = Finding("", code, message, kind=kind)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise DocumentReadError(
            ValidationCode.DUPLICATE_KEY,
            "an object has the same member name twice; the meaning would be ambiguous",
            kind="semantic",
        )
    return result


def _reject_constant(name: str) -> None:
    raise DocumentReadError(ValidationCode.INVALID_JSON, f"{name} is not a JSON number")


def _depth_exceeds(node: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _extensions_too_deep(document: object) -> bool:
    """Only ``extensions`` may nest freely in a schema-valid referral (elsewhere the schema
    bounds nesting at 5, and members that are unknown or of the wrong type are never
    descended into), so only extension values are walked."""
    if not isinstance(document, dict):
        return False
    if _depth_exceeds(document.get("extensions"), MAX_DEPTH - 1):
        return True
    for entities in document.values():
        if isinstance(entities, list):
            for entity in entities:
                if isinstance(entity, dict) and _depth_exceeds(
                    entity.get("extensions"), MAX_DEPTH - 3
                ):
                    return True
    return False


def load_json(raw: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> object:
    """Decode one JSON document strictly: size, UTF-8, syntax, duplicate names, depth.

    Raises:
        DocumentReadError: with the finding (``too_large``, ``invalid_utf8``,
            ``empty_document``, ``invalid_json``, ``duplicate_key`` or ``too_deep``).
    """
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise _too_large(max_bytes)
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentReadError(
                ValidationCode.INVALID_UTF8, f"not valid UTF-8 (byte offset {exc.start})"
            ) from None
    else:
        text = raw
    if not text.strip():
        raise DocumentReadError(ValidationCode.EMPTY_DOCUMENT, "the document is empty")
    try:
        document = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise DocumentReadError(
            ValidationCode.INVALID_JSON,
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:
        raise _too_deep() from None
    if _extensions_too_deep(document):
        raise _too_deep()
    return document


def _too_deep() -> DocumentReadError:
    return DocumentReadError(
        ValidationCode.TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels", kind="semantic"
    )


def _too_large(max_bytes: int) -> DocumentReadError:
    return DocumentReadError(
        ValidationCode.TOO_LARGE, f"the document is larger than {max_bytes} bytes", kind="semantic"
    )


# A JSON escape of a UTF-16 surrogate; a lone one decodes to a str that is not Unicode text.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _lone_surrogate(document: object) -> str | None:
    """Pointer to the first string (in document order) holding a lone surrogate, or to the
    object whose member name holds one; ``None`` when there is none."""
    stack: list[tuple[object, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not _is_text(node):
                return json_pointer(*path)
        elif isinstance(node, dict):
            if not all(_is_text(name) for name in node):
                return json_pointer(*path)
            stack.extend((value, (*path, name)) for name, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in reversed(list(enumerate(node))))
    return None


def _lone_surrogate_error(pointer: str) -> ValidationResult:
    finding = Finding(
        pointer,
        ValidationCode.LONE_SURROGATE,
        "holds an unpaired UTF-16 surrogate escape (U+D800 to U+DFFF), which is not Unicode text",
        kind="semantic",
    )
    return ValidationResult(errors=(finding,))


def _ecma_pattern(
    validator: SchemaValidatorProtocol, pattern: str, instance: object, schema: object
) -> Iterator[SchemaViolation]:
    # jsonschema's own check uses re.search, where "$" also matches before a final newline.
    if isinstance(instance, str) and not ecma_search(pattern, instance):
        yield SchemaViolation("does not match the pattern")


_EcmaDraft202012Validator: type[SchemaValidatorProtocol] = extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _ecma_pattern}
)


@cache
def _schema_validator() -> SchemaValidatorProtocol:
    schema = referral_json_schema()
    Draft202012Validator.check_schema(schema)
    return _EcmaDraft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_document(
    document: object,
    *,
    now: datetime | None = None,
    default_region: str = DEFAULT_REGION,
    raw: bytes | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> ValidationResult:
    """Validate a decoded JSON document and return every error and warning.

    The reading rules that need only the decoded document apply here too, so a caller that
    holds a parsed object (the receiver) applies the same rules as one that holds bytes:
    nesting depth (``too_deep``), lone surrogates (``lone_surrogate``) and size
    (``too_large``: of ``raw`` when given, else of the document as compact UTF-8 JSON, the
    form a submission carries).

    ``raw``, when given, must be the JSON text ``document`` was decoded from; it saves a
    re-encoding. Never raises for bad input.
    """
    if not isinstance(document, dict):
        finding = Finding(
            "", ValidationCode.NOT_AN_OBJECT, "a referral must be a JSON object", kind="schema"
        )
        return ValidationResult(errors=(finding,))
    text: bytes | None
    try:
        text = raw if raw is not None else _compact(document)
    except RecursionError:
        return ValidationResult(errors=(_too_deep().finding,))
    except UnicodeEncodeError:
        text = None
    if text is None or _SURROGATE_ESCAPE.search(text):
        pointer = _lone_surrogate(document)
        if pointer is not None:
            return _lone_surrogate_error(pointer)
    if text is None:  # pragma: no cover - an unencodable document holds a lone surrogate
        text = _compact(document)
    if len(text) > max_bytes:
        return ValidationResult(errors=(_too_large(max_bytes).finding,))
    # Fast path: the models accept exactly what the published schema accepts (proven by
    # tests/schema/test_agreement.py), and parse ~50x faster than the jsonschema package.
    # The schema is consulted to explain a rejection, with every pointer and code.
    try:
        referral = Referral.model_validate_json(text, context={SKIP_SEMANTICS: True})
    except ModelValidationError as exc:
        # A refused document may nest anywhere: walk all of it (the fast path below only
        # needs the extension values, the one place the models let nest freely).
        if _depth_exceeds(document, MAX_DEPTH):
            return ValidationResult(errors=(_too_deep().finding,))
        schema_errors = _schema_findings(document)
        if schema_errors:
            return ValidationResult(errors=tuple(schema_errors))
        disagreements = tuple(  # the model refused what the schema allows: a bug, reported
            Finding(
                json_pointer(*error["loc"]),
                ValidationCode.INVALID_VALUE,
                str(error["msg"]),
                kind="schema",
            )
            for error in exc.errors(include_input=False)
        )
        return ValidationResult(errors=disagreements)
    if _extensions_too_deep(document):
        return ValidationResult(errors=(_too_deep().finding,))
    findings = check_semantics(referral, now=now, default_region=default_region)
    findings.extend(find_deprecated_members(document, _deprecated_paths()))
    errors = tuple(f for f in findings if f.severity == "error")
    warnings = tuple(f for f in findings if f.severity == "warning")
    return ValidationResult(errors=errors, warnings=warnings, referral=None if errors else referral)


def _compact(document: Mapping[str, Any]) -> bytes:
    """The document as compact UTF-8 JSON, the form a submission carries.

    Raises ``UnicodeEncodeError`` for a lone surrogate, ``RecursionError`` for absurd nesting.
    """
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def validate_json(
    raw: bytes | str,
    *,
    now: datetime | None = None,
    default_region: str = DEFAULT_REGION,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> ValidationResult:
    """Validate one JSON document given as bytes (UTF-8) or text. Never raises for bad input."""
    try:
        document = load_json(raw, max_bytes=max_bytes)
    except DocumentReadError as exc:
        return ValidationResult(errors=(exc.finding,))
    encoded: bytes | None = raw if isinstance(raw, bytes) else None
    if isinstance(raw, str) and _is_text(raw):
        encoded = raw.encode("utf-8")
    return validate_document(
        document, now=now, default_region=default_region, raw=encoded, max_bytes=max_bytes
    )


def iter_ndjson(
    raw: bytes,
    *,
    now: datetime | None = None,
    default_region: str = DEFAULT_REGION,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Iterator[tuple[int, ValidationResult]]:
    """Validate newline-delimited JSON: yield (line number, result) per non-blank line."""
    for number, line in enumerate(io.BytesIO(raw), start=1):
        if line.strip():
            yield (
                number,
                validate_json(line, now=now, default_region=default_region, max_bytes=max_bytes),
            )


# --- Deprecated members ----------------------------------------------------------------------

DeprecatedPath = tuple[str, ...]
"""Member names from the root; ``*`` stands for any array index."""


def deprecated_member_paths(schema: Mapping[str, Any]) -> list[DeprecatedPath]:
    """Return the paths of every member the schema marks ``"deprecated": true``."""
    definitions: Mapping[str, Any] = schema.get("$defs", {})
    found: list[DeprecatedPath] = []

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        return definitions[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else node

    def walk(node: Mapping[str, Any], path: DeprecatedPath, depth: int) -> None:
        node = resolve(node)
        if depth > MAX_DEPTH:
            return
        if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
            walk(node["items"], (*path, "*"), depth + 1)
        for name, member in node.get("properties", {}).items():
            if member.get("deprecated") is True:
                found.append((*path, name))
            walk(member, (*path, name), depth + 1)

    walk(schema, (), 0)
    return found


def find_deprecated_members(document: object, paths: list[DeprecatedPath]) -> list[Finding]:
    """Return a ``deprecated_field`` warning for each deprecated member present in ``document``."""
    findings: list[Finding] = []
    for template in paths:
        nodes: list[tuple[object, tuple[str | int, ...]]] = [(document, ())]
        for step in template:
            following: list[tuple[object, tuple[str | int, ...]]] = []
            for node, where in nodes:
                if step == "*" and isinstance(node, list):
                    following.extend((item, (*where, i)) for i, item in enumerate(node))
                elif isinstance(node, dict) and step in node:
                    following.append((node[step], (*where, step)))
            nodes = following
        findings.extend(
            Finding(
                json_pointer(*where),
                ValidationCode.DEPRECATED_FIELD,
                "this member is deprecated and will be removed in the next major version; "
                "see spec/versioning.md",
                severity="warning",
            )
            for _, where in nodes
        )
    return findings


@cache
def _deprecated_paths() -> list[DeprecatedPath]:
    return deprecated_member_paths(referral_json_schema())


# --- JSON Schema violations to findings ------------------------------------------------------

_TYPE_NAMES: Final = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _schema_findings(document: Mapping[str, Any]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    wrong_type: set[str] = set()
    findings: list[Finding] = []
    violations = sorted(_schema_validator().iter_errors(document), key=_violation_order)
    for violation in violations:
        for finding in _translate(violation):
            key = (finding.pointer, finding.code)
            # One finding per member and code; a member of the wrong type gets no more.
            if key in seen or finding.pointer in wrong_type:
                continue
            if finding.code == ValidationCode.WRONG_TYPE:
                wrong_type.add(finding.pointer)
            seen.add(key)
            findings.append(finding)
    return sorted(findings, key=lambda f: f.pointer)


def _violation_order(violation: SchemaViolation) -> tuple[int, str]:
    return (0 if violation.validator == "type" else 1, json_pointer(*violation.absolute_path))


_LENGTH_KEYWORDS: Final = frozenset({"type", "minLength", "maxLength"})


def _translate(violation: SchemaViolation) -> Iterator[Finding]:
    path = list(violation.absolute_path)
    pointer = json_pointer(*path)
    keyword = violation.validator
    value: Any = violation.validator_value
    instance: Any = violation.instance
    is_name = "propertyNames" in violation.absolute_schema_path
    if isinstance(instance, str) and "\x00" in instance and keyword not in _LENGTH_KEYWORDS:
        # Every string and extension member name the schema constrains refuses U+0000: one
        # code for all of them, whatever the pattern, format or list of values.
        yield _schema_finding(
            json_pointer(*path, instance) if is_name else pointer,
            ValidationCode.NUL_CHARACTER,
            "must not contain U+0000 (NUL)",
        )
    elif is_name:
        yield _schema_finding(
            json_pointer(*path, str(instance)),
            ValidationCode.INVALID_EXTENSION_NAME,
            "extension members are named x-<organisation>-<name>, lower case",
        )
    elif keyword == "required":
        for name in value:
            if isinstance(instance, dict) and name not in instance:
                yield _schema_finding(
                    json_pointer(*path, name), ValidationCode.MISSING_FIELD, "is required"
                )
    elif keyword == "additionalProperties":
        allowed = _violated_schema(violation).get("properties", {})
        for name in instance:
            if name not in allowed:
                yield _schema_finding(
                    json_pointer(*path, name),
                    ValidationCode.UNKNOWN_FIELD,
                    "is not a member of this object in the schema; put data the standard "
                    "does not carry in `extensions` under an x-<organisation>-<name> key",
                )
    elif keyword == "type" and instance is None:
        yield _schema_finding(
            pointer, ValidationCode.WRONG_TYPE, "null is not allowed: omit the member instead"
        )
    elif keyword == "type":
        yield _schema_finding(
            pointer, ValidationCode.WRONG_TYPE, f"must be {_TYPE_NAMES.get(value, value)}"
        )
    elif keyword in ("const", "enum") and path == ["schema_version"]:
        supported = ", ".join(value) if isinstance(value, list) else value
        yield _schema_finding(
            pointer,
            ValidationCode.UNSUPPORTED_SCHEMA_VERSION,
            f"this validator supports schema versions {supported}",
        )
    elif keyword == "const":
        yield _schema_finding(pointer, ValidationCode.INVALID_VALUE, f"must be {json.dumps(value)}")
    elif keyword == "enum":
        choices = ", ".join(str(v) for v in value)
        yield _schema_finding(pointer, ValidationCode.INVALID_VALUE, f"must be one of: {choices}")
    elif keyword in ("pattern", "format", "anyOf"):
        yield _schema_finding(pointer, ValidationCode.INVALID_FORMAT, _format_message(violation))
    elif keyword in ("minLength", "minItems", "minProperties"):
        unit = "characters" if keyword == "minLength" else "items"
        yield _schema_finding(
            pointer,
            ValidationCode.TOO_SHORT,
            f"needs at least {value} {unit if value != 1 else unit[:-1]}",
        )
    elif keyword in ("maxLength", "maxItems", "maxProperties"):
        unit = "characters" if keyword == "maxLength" else "items"
        yield _schema_finding(pointer, ValidationCode.TOO_LONG, f"allows at most {value} {unit}")
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        schema = _violated_schema(violation)
        low, high = schema.get("minimum"), schema.get("maximum")
        yield _schema_finding(
            pointer, ValidationCode.OUT_OF_RANGE, f"must be between {low} and {high}"
        )
    else:  # a keyword the generator does not emit today; still reported, never dropped
        yield _schema_finding(pointer, ValidationCode.INVALID_VALUE, "does not match the schema")


def _violated_schema(violation: SchemaViolation) -> Mapping[str, Any]:
    schema = violation.schema
    return schema if isinstance(schema, Mapping) else {}


def _format_message(violation: SchemaViolation) -> str:
    schema = _violated_schema(violation)
    fmt = schema.get("format")
    if fmt == "date-time":
        return "must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T17:00:00Z"
    if fmt == "date":
        return "must be a date, YYYY-MM-DD"
    if fmt == "uuid":
        return "must be a UUID in lower-case hyphenated form"
    if violation.validator == "anyOf":
        return "must be an IPv4 or IPv6 address"
    return f"does not have the required format (pattern {schema.get('pattern')})"


def _schema_finding(pointer: str, code: ValidationCode, message: str) -> Finding:
    return Finding(pointer, code, message, kind="schema")
