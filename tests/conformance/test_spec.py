"""spec/conformance.md lists exactly the checks the suite runs, each pointing at a section
that exists."""

from __future__ import annotations

import re

from strive_client.conformance import all_checks, check_index

from ..conftest import ROOT

SPEC = ROOT / "spec"
PENDING_SPEC_FILES: frozenset[str] = frozenset()
"""Spec files of features developed on other branches; their sections are checked once the
file is here."""


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_check_index_is_current() -> None:
    text = (SPEC / "conformance.md").read_text(encoding="utf-8")
    assert check_index() in text, "spec/conformance.md, 'Check index', is stale:\n" + check_index()


def test_every_check_points_at_a_section_that_exists() -> None:
    checks = all_checks()
    assert len({c.id for c in checks}) == len(checks)
    for check in checks:
        file, _, anchor = check.spec.partition("#")
        if not (SPEC / file).exists():
            assert file in PENDING_SPEC_FILES, check.id
            continue
        assert anchor in _anchors((SPEC / file).read_text(encoding="utf-8")), check.id


def test_every_check_is_named_in_the_normative_text() -> None:
    text = (SPEC / "conformance.md").read_text(encoding="utf-8").split("## 9. Check index")[0]
    named = set(re.findall(r"\b([RCWP]-(?:[A-Z]+-)?\d\d)\b", text))
    for prefix, first, last in re.findall(r"\b([RCWP]-(?:[A-Z]+-)?)(\d\d) to \1(\d\d)\b", text):
        named |= {f"{prefix}{n:02d}" for n in range(int(first), int(last) + 1)}
    for prefix, _first, rest in re.findall(r"\b([RC]-[A-Z]+-)(\d\d)((?:, -\d\d)+)", text):
        named |= {f"{prefix}{n}" for n in re.findall(r"\d\d", rest)}
    missing = {c.id for c in all_checks()} - named
    assert not missing, f"checks not named in spec/conformance.md: {sorted(missing)}"
