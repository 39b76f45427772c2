"""Conformance suites for the Strive standard (spec/conformance.md).

* :func:`run_receiver_suite` tests a receiver by URL, as an ASW would use it
  (``strive conformance receiver``);
* :class:`MockReceiver` is a receiver that tests a client: it answers with transient
  failures, bad receipts and replays, and reports what the client did
  (``strive conformance client``).

Neither imports the reference server.
"""

from typing import Any

from strive_client.conformance._framework import Check, CheckResult, Report
from strive_client.conformance.client import MockReceiver, client_checks
from strive_client.conformance.receiver import receiver_checks, run_receiver_suite

__all__ = [
    "CheckResult",
    "MockReceiver",
    "Report",
    "check_index",
    "client_checks",
    "receiver_checks",
    "run_receiver_suite",
]


def check_index() -> str:
    """The Markdown table of every check (id, class, level, section, requirement) that
    spec/conformance.md, "Check index", carries; a test keeps the two equal."""
    rows = ["| id | level | defined in | requirement |", "| --- | --- | --- | --- |"]
    checks: list[Check[Any]] = [*receiver_checks(), *client_checks()]
    for check in checks:
        link = f"[{check.spec}]({check.spec})"
        rows.append(f"| `{check.id}` | {check.level} | {link} | {check.title} |")
    return "\n".join(rows) + "\n"
