"""spec/lifecycle.md states exactly the lifecycle the receiver applies: its states, moves,
supervisor-only moves and outcome codes."""

from __future__ import annotations

import re

from strive_server.services.lifecycle import OUTCOMES, STATES, TRANSITIONS, needs_supervisor

from ..conftest import ROOT

SPEC = (ROOT / "spec" / "lifecycle.md").read_text(encoding="utf-8")


def table_after(heading: str) -> list[list[str]]:
    """The body rows (cells) of the tables in the section ``heading``."""
    section = SPEC.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def codes(cell: str) -> list[str]:
    return re.findall(r"`([a-z_]+)`", cell)


def test_the_spec_lists_every_state_and_outcome() -> None:
    assert [codes(row[0])[0] for row in table_after("States")] == list(STATES)
    assert [codes(row[0])[0] for row in table_after("Outcomes")] == list(OUTCOMES)


def test_the_spec_lists_exactly_the_allowed_moves_and_who_makes_them() -> None:
    moves: dict[tuple[str, str], str] = {}
    for source, target, who in table_after("Transitions"):
        for from_state in codes(source):
            moves[(from_state, codes(target)[0])] = who
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert set(moves) == allowed
    for (from_state, to_state), who in moves.items():
        assert needs_supervisor(from_state, to_state) == who.startswith("supervisor only")
