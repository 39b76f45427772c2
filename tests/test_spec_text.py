"""The specification's text keeps its own rules (spec/README.md, "Status of each document").

Every document declares its status; normative text uses the BCP 14 key words in capitals only,
and non-normative text not at all; every code of the code registries is defined once, in
spec/errors.md; every limit in spec/limits.md is the value the code uses; every `Strive-` header
field is in spec/headers.md; every link between documents resolves, anchors included.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from strive_schema.codes import ProblemCode, ValidationCode
from strive_schema.errors import LogCode, ProtocolCode, SealedCode

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec"

DOCUMENTS = sorted(
    [
        *SPEC.glob("*.md"),
        SPEC / "examples" / "README.md",
        SPEC / "reference" / "referral-fields.md",
        SPEC / "taxonomy" / "indicators.md",
        SPEC / "taxonomy" / "external" / "README.md",
        SPEC / "vectors" / "README.md",
    ]
)

NON_NORMATIVE_MARK = "*Non-normative (reference implementation).*"
KEYWORDS = re.compile(r"\b(MUST|SHALL|SHOULD|REQUIRED|RECOMMENDED|OPTIONAL|MAY)\b")
LOWERCASE_KEYWORDS = re.compile(r"\b(must|shall)\b")

KEYWORDS_ALLOWED_IN: frozenset[tuple[str, str]] = frozenset(
    {("README.md", "Requirement language"), ("README.md", "Status of each document")}
)
"""Informative sections that name the key words to define them."""

LOWERCASE_ALLOWED: dict[tuple[str, str], str] = {}
"""(document, phrase) where a lowercase "must" in normative text is not a requirement, and why."""


def _rel(path: Path) -> str:
    return path.relative_to(SPEC).as_posix() if path.is_relative_to(SPEC) else path.name


# --- Reading the Markdown -------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    document: str
    heading: str
    level: int
    normative: bool
    lines: tuple[tuple[int, str], ...]
    """(line number, text) of the prose, code blocks and code spans removed."""


def _without_code(lines: list[str]) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code spans and link targets blanked."""
    kept: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = re.sub(r"`[^`]*`", "``", line)
        kept.append((number, re.sub(r"\]\([^)]*\)", "]()", prose)))
    return kept


def _status(text: str) -> str | None:
    head = text.splitlines()[1:12]
    for line in head:
        match = re.match(r"^Status: (normative|informative)\b", line)
        if match:
            return match.group(1)
    return None


def sections(path: Path) -> list[Section]:
    """The document's sections, each marked normative or not (see spec/README.md)."""
    text = path.read_text(encoding="utf-8")
    informative = _status(text) == "informative"
    result: list[Section] = []
    heading, level, body = "", 0, list[tuple[int, str]]()  # the text before the first heading
    open_headings: list[tuple[int, bool]] = []  # (level, marked non-normative) above this line

    def close() -> None:
        first = next((line for _, line in body if line.strip()), "")
        if level > 0 and first.strip() == NON_NORMATIVE_MARK:
            open_headings[-1] = (level, True)
        non_normative = informative or any(marked for _, marked in open_headings)
        result.append(Section(_rel(path), heading, level, not non_normative, tuple(body)))

    for number, line in _without_code(text.splitlines()):
        match = re.match(r"^(#+) (.+)$", line)
        if not match:
            body.append((number, line))
            continue
        close()
        heading, level, body = match.group(2).strip(), len(match.group(1)), []
        while open_headings and open_headings[-1][0] >= level:
            open_headings.pop()
        open_headings.append((level, False))
    close()
    return result


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, and
    -1, -2 ... for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in _without_code(path.read_text(encoding="utf-8").splitlines()):
        match = re.match(r"^#+ (.+)$", line)
        if not match:
            continue
        heading = re.sub(r"\[([^\]]*)\]\(\)", r"\1", match.group(1))
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        found.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return found


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table body row (header and separator rows skipped)."""
    rows = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("|") or re.match(r"^\|[\s:|-]+\|$", line):
            continue
        if index + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[index + 1]):
            continue  # a header row
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


# --- Status and key words -------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCUMENTS, ids=_rel)
def test_every_document_declares_its_status(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _status(text), f"{_rel(path)}: no 'Status: normative|informative' under the title"
    if path.name != "README.md" or path.parent != SPEC:
        assert "README.md#requirement-language" in text or _status(text) == "informative", (
            f"{_rel(path)}: refer to the BCP 14 boilerplate in spec/README.md"
        )


def test_a_document_without_a_status_is_noticed() -> None:
    assert _status("# Doc\n\nSome text.\n") is None
    assert _status("# Doc\n\nStatus: informative.\n") == "informative"


def keyword_problems(section: Section) -> list[str]:
    """Lowercase must/shall in normative text; capitalised key words outside it."""
    problems = []
    for number, line in section.lines:
        if section.normative:
            for match in LOWERCASE_KEYWORDS.finditer(line):
                if any(
                    document == section.document and phrase in line
                    for document, phrase in LOWERCASE_ALLOWED
                ):
                    continue
                problems.append(
                    f"{section.document}:{number}: lowercase '{match.group(0)}' in normative "
                    f"text (write {match.group(0).upper()}, or reword)"
                )
        elif (section.document, section.heading) not in KEYWORDS_ALLOWED_IN:
            problems.extend(
                f"{section.document}:{number}: '{m.group(0)}' in non-normative text"
                for m in KEYWORDS.finditer(line)
            )
    return problems


@pytest.mark.parametrize("path", DOCUMENTS, ids=_rel)
def test_key_words_are_capitalised_in_normative_text_only(path: Path) -> None:
    problems = [p for section in sections(path) for p in keyword_problems(section)]
    assert not problems, "\n".join(problems)


def test_the_key_word_check_can_fail(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(
        "# Doc\n\nStatus: normative. Key words: [BCP 14](README.md#requirement-language).\n\n"
        "## Rules\n\nA receiver must refuse it. `must` in code is fine.\n\n"
        "## Running it\n\n*Non-normative (reference implementation).*\n\n"
        "The server MUST NOT crash.\n\n### Detail\n\nIt SHOULD log.\n\n"
        "## Back to rules\n\nA client MUST sign.\n",
        encoding="utf-8",
    )
    problems = [p for section in sections(document) for p in keyword_problems(section)]
    assert [p.split(": ", 1)[1] for p in problems] == [
        "lowercase 'must' in normative text (write MUST, or reword)",
        "'MUST' in non-normative text",
        "'SHOULD' in non-normative text",
    ]


# --- Error codes ------------------------------------------------------------------------------

REGISTRY: frozenset[str] = frozenset(
    code.value
    for enum in (ValidationCode, ProblemCode, ProtocolCode, SealedCode, LogCode)
    for code in enum
)
RULE_DOCUMENTS = frozenset({"semantic-rules.md"})
"""Documents that state the rule behind a code in a table keyed by code (not its definition)."""


def _code_of(cell: str) -> str | None:
    match = re.fullmatch(r"`([a-z][a-z0-9_]*)`", cell)
    return match.group(1) if match else None


def code_definitions(text: str) -> dict[str, int]:
    """How many table rows define each code (a row whose first cell is the code)."""
    counts: dict[str, int] = {}
    for row in table_rows(text):
        code = _code_of(row[0])
        if code is not None:
            counts[code] = counts.get(code, 0) + 1
    return counts


def test_every_registered_code_is_defined_once_in_errors_md() -> None:
    defined = code_definitions((SPEC / "errors.md").read_text(encoding="utf-8"))
    missing = sorted(REGISTRY - defined.keys())
    twice = sorted(code for code, count in defined.items() if count > 1)
    unknown = sorted(defined.keys() - REGISTRY)
    assert not missing, f"codes not defined in spec/errors.md: {missing}"
    assert not twice, f"codes defined more than once in spec/errors.md: {twice}"
    assert not unknown, f"spec/errors.md defines codes no registry has: {unknown}"


def test_no_other_document_defines_a_code() -> None:
    elsewhere = []
    for path in DOCUMENTS:
        if path.name == "errors.md" or _rel(path) in RULE_DOCUMENTS:
            continue
        codes = code_definitions(path.read_text(encoding="utf-8")).keys() & REGISTRY
        elsewhere.extend(f"{_rel(path)}: {code}" for code in sorted(codes))
    assert not elsewhere, "define codes in spec/errors.md only:\n" + "\n".join(elsewhere)


def test_the_code_check_counts_definitions() -> None:
    text = "| code | meaning |\n| --- | --- |\n| `a_code` | x |\n| `a_code` | y |\n| b | z |\n"
    assert code_definitions(text) == {"a_code": 2}


# --- Limits -----------------------------------------------------------------------------------


def _resolve(dotted: str) -> Any:
    """The value a dotted constant or settings-field path names in the reference code."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        rest = parts[split:]
        for index, name in enumerate(rest):
            fields = getattr(target, "model_fields", None)
            if fields is not None and index == len(rest) - 1 and name in fields:
                return fields[name].default
            target = getattr(target, name)
        return target
    raise LookupError(dotted)


_UNIT_SECONDS = {"s": 1, "minutes": 60, "hours": 3600, "days": 86400}


def limit_mismatches(rows: list[list[str]]) -> list[str]:
    """Rows of the limits tables whose value differs from the code's constant."""
    problems = []
    for row in rows:
        name, value, unit, constant = row[0].strip("`"), row[1], row[2], row[-1].strip("`")
        actual = _resolve(constant)
        if isinstance(actual, timedelta):
            actual = actual.total_seconds() / _UNIT_SECONDS[unit]
        if float(value) != float(actual):
            problems.append(f"{name}: spec/limits.md says {value}, {constant} is {actual}")
    return problems


def _limit_rows() -> list[list[str]]:
    return table_rows((SPEC / "limits.md").read_text(encoding="utf-8"))


def test_every_limit_is_the_value_the_code_uses() -> None:
    rows = _limit_rows()
    names = [row[0] for row in rows]
    assert len(rows) >= 30 and len(names) == len(set(names))
    assert limit_mismatches(rows) == []


def test_the_limit_check_names_a_value_that_drifted() -> None:
    row = next(r for r in _limit_rows() if r[0] == "`envelope_max_age`")
    assert limit_mismatches([[row[0], "600", *row[2:]]]) == [
        "envelope_max_age: spec/limits.md says 600, "
        "strive_schema.envelope.SUBMISSION_MAX_AGE is 900.0"
    ]


# --- Header fields ----------------------------------------------------------------------------

HEADER = re.compile(r"\bStrive-[A-Z][A-Za-z0-9]*(?:-[A-Z][A-Za-z0-9]*)*")
CODE_DIRECTORIES = ("strive_schema", "client_sdk/strive_client", "server/strive_server")


def registered_headers() -> list[str]:
    return [row[0].strip("`") for row in table_rows((SPEC / "headers.md").read_text("utf-8"))]


def unregistered_headers(texts: dict[str, str], registered: list[str]) -> dict[str, str]:
    """Each `Strive-` header field used in the texts but not registered, with where it is."""
    used: dict[str, str] = {}
    for where, text in texts.items():
        for name in HEADER.findall(text):
            used.setdefault(name, where)
    return {name: where for name, where in used.items() if name not in registered}


def test_every_strive_header_field_is_registered_once() -> None:
    registered = registered_headers()
    assert len(registered) == len(set(registered))
    texts = {_rel(path): path.read_text(encoding="utf-8") for path in DOCUMENTS}
    for directory in CODE_DIRECTORIES:
        for path in (ROOT / directory).rglob("*.py"):
            texts[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    assert unregistered_headers(texts, registered) == {}


def test_the_header_check_names_an_unregistered_field() -> None:
    texts = {"a.md": "send `Strive-Asw-Id` and `Strive-Trace-Id: 1`"}
    assert unregistered_headers(texts, registered_headers()) == {"Strive-Trace-Id": "a.md"}


# --- Links ------------------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


def broken_links(path: Path) -> list[str]:
    """Relative links of a document whose file or anchor does not exist."""
    problems = []
    text = "\n".join(
        line for _, line in _without_code_keep_links(path.read_text(encoding="utf-8").splitlines())
    )
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # an absolute URL
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            problems.append(f"{_rel(path)}: no file {target}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{_rel(path)}: no anchor {target}")
    return problems


def _without_code_keep_links(lines: list[str]) -> list[tuple[int, str]]:
    kept = []
    fenced = False
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            kept.append((number, re.sub(r"`[^`]*`", "``", line)))
    return kept


@pytest.mark.parametrize("path", DOCUMENTS, ids=_rel)
def test_every_link_between_documents_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_names_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\n## Known part\n", encoding="utf-8")
    document = tmp_path / "b.md"
    document.write_text(
        "# B\n\n[ok](a.md#known-part), [gone](a.md#unknown-part), [none](c.md), [self](#b)\n",
        encoding="utf-8",
    )
    assert [p.split(": ", 1)[1] for p in broken_links(document)] == [
        "no anchor a.md#unknown-part",
        "no file c.md",
    ]
