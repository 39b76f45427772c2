"""Conformance suites for the Strive standard (spec/conformance.md).

* :func:`run_receiver_suite` tests a receiver by URL, as an ASW would use it
  (``strive conformance receiver``);
* :class:`MockReceiver` is a receiver that tests a client: it answers with transient
  failures, bad receipts and replays, checks its signed reads, and reports what the client
  did (``strive conformance client``);
* :class:`WitnessMock` is a transparency log that tests a witness: checkpoints it must
  cosign and a rollback, a fork and a forged one it must refuse
  (``strive conformance witness``);
* :class:`RecipientMock` is a receiver that tests a recipient: sealed packages it must open
  and ones it must refuse, each with its code (``strive conformance recipient``).

Neither imports the reference server.
"""

from typing import Any

from strive_client.conformance._framework import Check, CheckResult, Report
from strive_client.conformance.client import MockReceiver, client_checks
from strive_client.conformance.receiver import receiver_checks, run_receiver_suite
from strive_client.conformance.recipient import RecipientMock, recipient_checks
from strive_client.conformance.witness import WitnessMock, witness_checks

__all__ = [
    "CheckResult",
    "MockReceiver",
    "RecipientMock",
    "Report",
    "WitnessMock",
    "all_checks",
    "check_index",
    "client_checks",
    "receiver_checks",
    "recipient_checks",
    "run_receiver_suite",
    "witness_checks",
]


def all_checks() -> list[Check[Any]]:
    """Every check of the four classes: receiver, ASW client, witness, recipient."""
    return [*receiver_checks(), *client_checks(), *witness_checks(), *recipient_checks()]


def check_index() -> str:
    """The Markdown table of every check (id, class, level, section, requirement) that
    spec/conformance.md, "Check index", carries; a test keeps the two equal."""
    rows = ["| id | level | defined in | requirement |", "| --- | --- | --- | --- |"]
    for check in all_checks():
        link = f"[{check.spec}]({check.spec})"
        rows.append(f"| `{check.id}` | {check.level} | {link} | {check.title} |")
    return "\n".join(rows) + "\n"
