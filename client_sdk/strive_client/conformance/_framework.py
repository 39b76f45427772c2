"""The parts every conformance check shares: what a check is, its result, and the report.

A check is a function registered with a stable id (``R-SUBMIT-07``), a requirement level
(MUST or SHOULD) and the spec section it tests (``protocol.md#8-verifying-an-envelope``).
It returns a short reason when the requirement holds, raises :class:`Failed` when it does
not and :class:`Skipped` when it cannot be tested (an optional input is missing, or the
receiver does not offer the feature). Checks live in modules of their own, one per area of
the spec, each with a :class:`Registry`; a new area (a transparency log, attachments) is a
new module added to the suite's list, nothing else changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar

__all__ = [
    "Check",
    "CheckResult",
    "Failed",
    "Registry",
    "Report",
    "Skipped",
    "run_checks",
]

Level = Literal["MUST", "SHOULD"]
Status = Literal["pass", "fail", "skip"]
SPEC_BASE: Final = "spec/"

ContextT = TypeVar("ContextT")


class Failed(Exception):
    """The requirement does not hold; the message says what was seen."""


class Skipped(Exception):
    """The requirement cannot be tested here; the message says why."""


@dataclass(frozen=True)
class Check(Generic[ContextT]):
    """One testable requirement."""

    id: str
    level: Level
    spec: str
    """Where the requirement is defined: ``file.md#anchor`` under ``spec/``."""
    title: str
    run: Callable[[ContextT], str]


class Registry(Generic[ContextT]):
    """The checks of one module, in the order they run."""

    def __init__(self, area: str) -> None:
        self.area = area
        self.checks: list[Check[ContextT]] = []

    def add(
        self, check_id: str, level: Level, spec: str, title: str
    ) -> Callable[[Callable[[ContextT], str]], Callable[[ContextT], str]]:
        """Register the decorated function as the check ``check_id``."""

        def register(function: Callable[[ContextT], str]) -> Callable[[ContextT], str]:
            self.checks.append(Check(check_id, level, spec, title, function))
            return function

        return register


@dataclass(frozen=True)
class CheckResult:
    """What one check found."""

    id: str
    level: Level
    status: Status
    reason: str
    spec: str
    title: str
    seconds: float


@dataclass
class Report:
    """Every result of one run, with what was tested."""

    kind: str
    """``receiver``, ``client``, ``witness`` or ``recipient``."""
    target: str
    started_at: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def must_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail" and r.level == "MUST"]

    @property
    def conformant(self) -> bool:
        """True when no MUST failed (SHOULD failures and skips are reported, not fatal)."""
        return not self.must_failures

    def failed_ids(self) -> set[str]:
        return {r.id for r in self.results if r.status == "fail"}

    def result(self, check_id: str) -> CheckResult:
        for result in self.results:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def to_json(self) -> dict[str, Any]:
        counts = dict.fromkeys(("pass", "fail", "skip"), 0)
        for result in self.results:
            counts[result.status] += 1
        return {
            "kind": self.kind,
            "target": self.target,
            "started_at": self.started_at,
            "conformant": self.conformant,
            "counts": counts,
            "results": [asdict(result) for result in self.results],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def table(self) -> str:
        """A plain-text table: id, level, result, reason."""
        rows = [("id", "level", "result", "reason")]
        rows += [(r.id, r.level, r.status, r.reason) for r in self.results]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
            for row in rows
        ]
        failures = self.must_failures
        verdict = (
            "conformant: every MUST tested passed"
            if not failures
            else f"NOT conformant: {len(failures)} MUST check(s) failed: "
            + ", ".join(r.id for r in failures)
        )
        return "\n".join([*lines, "", verdict])


def now_text() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run_checks(
    checks: Iterable[Check[ContextT]],
    context: ContextT,
    report: Report,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Report:
    """Run ``checks`` in order against ``context``, appending one result each.

    Any exception other than :class:`Skipped` is a failure of the check (a receiver that
    drops the connection or answers garbage does not meet the requirement); the suite goes
    on with the next check.
    """
    for check in checks:
        started = time.monotonic()
        status: Status
        try:
            reason = check.run(context)
            status = "pass"
        except Skipped as exc:
            status, reason = "skip", str(exc)
        except Failed as exc:
            status, reason = "fail", str(exc)
        except Exception as exc:
            status, reason = "fail", f"{type(exc).__name__}: {exc}"
        result = CheckResult(
            id=check.id,
            level=check.level,
            status=status,
            reason=_one_line(reason),
            spec=SPEC_BASE + check.spec,
            title=check.title,
            seconds=round(time.monotonic() - started, 3),
        )
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    return report


def all_ids(registries: Sequence[Registry[Any]]) -> list[str]:
    """Every check id of ``registries``, in order (for the spec's list and its test)."""
    return [check.id for registry in registries for check in registry.checks]
