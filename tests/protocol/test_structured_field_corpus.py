"""The project's RFC 8941 parser and serialiser against the published test corpus.

Every case of httpwg/structured-field-tests (see ``structured_field_tests/README.md``) is run:
cases that must fail must raise; the others must parse to the expected structure and serialise
to the canonical form. Cases marked ``can_fail`` (a SHOULD in the RFC) may fail instead.
The serialisation-only cases check that the serialiser refuses what cannot be serialised.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strive_schema._internal import structured_fields as sf

CORPUS = Path(__file__).parent / "structured_field_tests"
RFC_9651_ONLY = frozenset({"date.json", "display-string.json"})
"""Types RFC 9651 added; the signature profile is RFC 8941, which has no such bare item."""


def _cases(directory: Path) -> list[Any]:
    params = []
    for path in sorted(directory.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            params.append(pytest.param(path.name, case, id=f"{path.stem}: {case['name']}"))
    return params


def _bare_to_json(value: sf.BareItem) -> Any:
    if isinstance(value, sf.Token):
        return {"__type": "token", "value": str(value)}
    if isinstance(value, bytes):
        return {"__type": "binary", "value": base64.b32encode(value).decode("ascii")}
    if isinstance(value, Decimal):
        return float(value)
    return value


def _params_to_json(params: sf.Parameters) -> list[Any]:
    return [[key, _bare_to_json(value)] for key, value in params.items()]


def _member_to_json(member: sf.Member) -> list[Any]:
    if isinstance(member, sf.InnerList):
        items = [[_bare_to_json(i.value), _params_to_json(i.params)] for i in member.items]
        return [items, _params_to_json(member.params)]
    return [_bare_to_json(member.value), _params_to_json(member.params)]


def _bare_from_json(value: Any) -> sf.BareItem:
    if isinstance(value, dict):
        if value["__type"] == "token":
            return sf.Token(value["value"])
        if value["__type"] == "binary":
            return base64.b32decode(value["value"])
        raise _Unsupported(value["__type"])
    if isinstance(value, float):
        return Decimal(repr(value))
    assert isinstance(value, (bool, int, str))
    return value


class _Unsupported(Exception):
    """An RFC 9651 type the RFC 8941 serialiser has no form for."""


def _params_from_json(params: list[Any]) -> sf.Parameters:
    return {key: _bare_from_json(value) for key, value in params}


def _member_from_json(member: list[Any]) -> sf.Member:
    value, params = member
    if isinstance(value, list):
        items = [sf.Item(_bare_from_json(v), _params_from_json(p)) for v, p in value]
        return sf.InnerList(items, _params_from_json(params))
    return sf.Item(_bare_from_json(value), _params_from_json(params))


def _parse(header_type: str, text: str) -> Any:
    if header_type == "item":
        return _member_to_json(sf.parse_item(text))
    if header_type == "list":
        return [_member_to_json(member) for member in sf.parse_list(text)]
    assert header_type == "dictionary"
    return [[key, _member_to_json(member)] for key, member in sf.parse_dictionary(text).items()]


def _serialise(header_type: str, expected: Any) -> str:
    if header_type == "item":
        member = _member_from_json(expected)
        assert isinstance(member, sf.Item)
        return sf.serialize_item(member)
    if header_type == "list":
        return sf.serialize_list([_member_from_json(member) for member in expected])
    return sf.serialize_dictionary({key: _member_from_json(m) for key, m in expected})


def _equal(parsed: Any, expected: Any) -> bool:
    """Structural equality, with numbers compared as the corpus's JSON numbers."""
    if isinstance(expected, list):
        return (
            isinstance(parsed, list)
            and len(parsed) == len(expected)
            and all(_equal(p, e) for p, e in zip(parsed, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(parsed, bool):
        return parsed is expected
    if isinstance(expected, (int, float)) and isinstance(parsed, (int, float)):
        return isinstance(parsed, float) == isinstance(expected, float) and parsed == expected
    return bool(parsed == expected)


@pytest.mark.parametrize(("file", "case"), _cases(CORPUS))
def test_parsing_case(file: str, case: dict[str, Any]) -> None:
    text = ", ".join(case["raw"])
    must_fail = case.get("must_fail", False) or file in RFC_9651_ONLY
    if must_fail:
        with pytest.raises(sf.StructuredFieldError):
            _parse(case["header_type"], text)
        return
    try:
        parsed = _parse(case["header_type"], text)
    except sf.StructuredFieldError:
        if case.get("can_fail", False):
            return
        raise
    assert _equal(parsed, case["expected"]), (parsed, case["expected"])
    if not case["expected"]:
        return  # an empty list or dictionary is the field left out: nothing to serialise
    canonical = ", ".join(case.get("canonical", case["raw"]))
    assert _serialise(case["header_type"], case["expected"]) == canonical


@pytest.mark.parametrize(("file", "case"), _cases(CORPUS / "serialisation-tests"))
def test_serialisation_case(file: str, case: dict[str, Any]) -> None:
    if case.get("must_fail", False):
        with pytest.raises(sf.StructuredFieldError):
            _serialise(case["header_type"], case["expected"])
        return
    assert _serialise(case["header_type"], case["expected"]) == ", ".join(case["canonical"])


def test_the_corpus_is_all_here() -> None:
    """A guard against a partial copy: 1,591 parsing and 544 serialisation cases."""
    files = sorted(p.name for p in CORPUS.glob("*.json"))
    assert len(files) == 20 and "dictionary.json" in files
    assert len(_cases(CORPUS)) == 1591
    assert len(_cases(CORPUS / "serialisation-tests")) == 544
