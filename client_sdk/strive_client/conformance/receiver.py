"""``strive conformance receiver``: every MUST of the receiver class (spec/conformance.md)
that can be tested from outside, run against a receiver by URL.

The suite submits only sandbox (``is_test``) referrals, which a receiver never disseminates,
so it does no harm to a production receiver; it does leave them stored there (a receiver
keeps every referral it acknowledged), and spends a few dozen of the ASW's per-minute
submissions and signed reads.

The areas run in the order of :data:`RECEIVER_AREAS` (the optional features, the
transparency log and evidence files, skip as not applicable where a receiver does not offer
them); to add one, write a module with a :class:`~._framework.Registry` and add it there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from strive_schema.keys import SigningKey

from . import (
    checks_access,
    checks_attachments,
    checks_batch,
    checks_discovery,
    checks_log,
    checks_reads,
    checks_replay,
    checks_submission,
)
from ._framework import Check, CheckResult, Registry, Report, now_text, run_checks
from ._session import ReceiverSession

__all__ = ["RECEIVER_AREAS", "receiver_checks", "run_receiver_suite"]

RECEIVER_AREAS: Final[Sequence[Registry[ReceiverSession]]] = (
    checks_discovery.checks,
    checks_submission.checks,
    checks_replay.checks,
    checks_reads.checks,
    checks_batch.checks,
    checks_log.checks,
    checks_attachments.checks,
    checks_access.checks,  # last: R-PROB-03 sums up every refusal seen before it
)


def receiver_checks() -> list[Check[ReceiverSession]]:
    """Every receiver check, in the order they run."""
    return [check for area in RECEIVER_AREAS for check in area.checks]


def run_receiver_suite(
    url: str,
    *,
    asw_id: str,
    key: SigningKey,
    analyst_token: str | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Report:
    """Run the receiver suite against ``url`` as the ASW ``asw_id`` signing with ``key``
    (a key registered to that ASW at the receiver)."""
    session = ReceiverSession(url, asw_id, key, analyst_token)
    report = Report(kind="receiver", target=url, started_at=now_text())
    try:
        return run_checks(receiver_checks(), session, report, on_result=on_result)
    finally:
        session.close()
