"""Receiver checks: the transparency log (spec/transparency-log.md), for receivers whose
discovery document advertises one (the ``log`` member). A receiver without a log skips
them: the log is an optional feature of the receiver class."""

from __future__ import annotations

from typing import Any

from ._framework import Registry, Skipped
from ._session import ReceiverSession

checks: Registry[ReceiverSession] = Registry("transparency-log")

LOG = "transparency-log.md#checkpoints"


def advertised_log(session: ReceiverSession) -> dict[str, Any]:
    """The discovery document's ``log`` member, or skip."""
    log = session.discovery().get("log")
    if not isinstance(log, dict):
        raise Skipped("not applicable: the receiver does not advertise a log")
    return log
