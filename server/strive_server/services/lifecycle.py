"""The referral lifecycle (spec/lifecycle.md): states, allowed transitions and outcomes."""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "OUTCOMES",
    "STATES",
    "SUPERVISOR_ONLY",
    "TRANSITIONS",
    "is_allowed",
    "needs_supervisor",
]

State = Literal[
    "received", "triaged", "under_assessment", "package_developed", "disseminated", "closed"
]
STATES: Final[tuple[State, ...]] = (
    "received",
    "triaged",
    "under_assessment",
    "package_developed",
    "disseminated",
    "closed",
)

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "received": frozenset({"triaged", "closed"}),
    "triaged": frozenset({"under_assessment", "closed"}),
    "under_assessment": frozenset({"package_developed", "closed"}),
    "package_developed": frozenset({"disseminated", "closed"}),
    "disseminated": frozenset({"closed"}),
    "closed": frozenset({"under_assessment"}),
}
"""From each state, the states a referral may move to. Anything else is refused."""

SUPERVISOR_ONLY: Final = frozenset({("disseminated", "closed"), ("closed", "under_assessment")})
"""Transitions only a supervisor may make; closing from any state is supervisor-only too."""

OUTCOMES: Final[tuple[str, ...]] = (
    "no_further_action",
    "intelligence_logged",
    "safeguarding_visit",
    "linked_to_existing_operation",
    "victim_safeguarded",
    "arrest",
    "charge",
    "conviction",
)
"""Outcome codes, roughly in order of consequence. A closed referral carries one; a later,
more consequential outcome (a charge after an arrest) may be recorded on top."""


def is_allowed(from_state: str, to_state: str) -> bool:
    """Return whether the lifecycle allows ``from_state`` -> ``to_state``."""
    return to_state in TRANSITIONS.get(from_state, frozenset())


def needs_supervisor(from_state: str, to_state: str) -> bool:
    """Return whether only a supervisor may make this transition."""
    return to_state == "closed" or (from_state, to_state) in SUPERVISOR_ONLY
