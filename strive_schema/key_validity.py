"""Keys over years: validity periods, retirement and revocation with a compromise time.

One rule decides, for every kind of Strive key (an ASW's signing key, a receiver's receipt
key, a recipient's key), whether a signature counts (``spec/protocol.md``, "Key lifecycle"):
:func:`judge_key` applied to the key's :class:`KeyValidity` at the **trusted time** of the
signature. That time is never the signer's own claim (an envelope's ``issued_at``: whoever
holds a stolen key can backdate it) but the time the receiver received it: the ``received_at``
of its signed receipt, which is also logged in the transparency log.

The states, judged at time ``t``:

* revoked: ``compromised_at`` is set and ``t >= compromised_at``: ``key_revoked``. What was
  received before the compromise stays valid evidence.
* not yet valid: ``t < not_before``: ``key_not_yet_valid``.
* expired: ``t > not_after``: ``key_expired``.
* retired: ``t >= retired_at``: ``key_retired`` (no new signatures; old ones stay valid).
* otherwise valid, and the judgement says which rule made it so.

Example::

    validity = KeyValidity(compromised_at=parse_timestamp("2026-03-01T00:00:00Z"))
    judgement = judge_key(validity, receipt.received_at)
    print(judgement.explanation)  # "valid: signed before the key's compromise at ..."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, unique
from typing import Final

from strive_schema._internal import timestamps
from strive_schema.errors import KeyFormatError, ProtocolCode

__all__ = [
    "VALIDITY_MEMBERS",
    "KeyJudgement",
    "KeyRule",
    "KeyValidity",
    "judge_key",
]

#: The members a published JWK may carry to state its key's lifecycle (RFC 3339 UTC).
VALIDITY_MEMBERS: Final = ("not_before", "not_after", "retired_at", "compromised_at")


@unique
class KeyRule(StrEnum):
    """Which rule of the lifecycle decided a judgement (stable strings, on the wire)."""

    ACTIVE = "active"
    """Within its validity period; never retired or revoked."""
    BEFORE_RETIREMENT = "before_retirement"
    """Valid: signed before the key's retirement."""
    BEFORE_COMPROMISE = "before_compromise"
    """Valid: signed before the key's compromise (the key is revoked since)."""
    AFTER_COMPROMISE = "after_compromise"
    """Invalid (``key_revoked``): signed at or after the key's compromise."""
    AFTER_RETIREMENT = "after_retirement"
    """Invalid (``key_retired``): signed at or after the key's retirement."""
    EXPIRED = "expired"
    """Invalid (``key_expired``): signed after the key's ``not_after``."""
    NOT_YET_VALID = "not_yet_valid"
    """Invalid (``key_not_yet_valid``): signed before the key's ``not_before``."""


_CODES: Final = {
    KeyRule.AFTER_COMPROMISE: ProtocolCode.KEY_REVOKED,
    KeyRule.AFTER_RETIREMENT: ProtocolCode.KEY_RETIRED,
    KeyRule.EXPIRED: ProtocolCode.KEY_EXPIRED,
    KeyRule.NOT_YET_VALID: ProtocolCode.KEY_NOT_YET_VALID,
}

_WORDING: Final = {
    KeyRule.ACTIVE: "valid: signed while the key was active",
    KeyRule.BEFORE_RETIREMENT: "valid: signed before the key's retirement at {at}",
    KeyRule.BEFORE_COMPROMISE: "valid: signed before the key's compromise at {at}",
    KeyRule.AFTER_COMPROMISE: "invalid: signed at or after the key's compromise at {at}",
    KeyRule.AFTER_RETIREMENT: "invalid: signed at or after the key's retirement at {at}",
    KeyRule.EXPIRED: "invalid: signed after the key expired at {at}",
    KeyRule.NOT_YET_VALID: "invalid: signed before the key became valid at {at}",
}


def _moment(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    return timestamps.require_aware(value, name).replace(microsecond=0)


@dataclass(frozen=True)
class KeyValidity:
    """A key's lifecycle. Every member is optional; all are UTC whole seconds.

    Attributes:
        not_before: the first instant the key may sign.
        not_after: the last instant the key may sign (inclusive).
        retired_at: from this instant no new signature counts; earlier ones stay valid.
        compromised_at: the key is revoked: no signature received at or after this instant
            counts; earlier ones stay valid evidence.

    Raises:
        ValueError: from the constructor - a naive datetime, or ``not_after`` before
            ``not_before``.
    """

    not_before: datetime | None = None
    not_after: datetime | None = None
    retired_at: datetime | None = None
    compromised_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in VALIDITY_MEMBERS:
            object.__setattr__(self, name, _moment(getattr(self, name), name))
        if self.not_before and self.not_after and self.not_after < self.not_before:
            raise ValueError("not_after must not be before not_before")

    @property
    def revoked(self) -> bool:
        return self.compromised_at is not None

    def to_members(self) -> dict[str, str]:
        """The members that are set, as RFC 3339 UTC strings (for a published JWK)."""
        return {
            name: timestamps.format_utc(value)
            for name in VALIDITY_MEMBERS
            if (value := getattr(self, name)) is not None
        }

    @classmethod
    def from_members(cls, members: Mapping[str, object]) -> KeyValidity:
        """Read the lifecycle members of a published JWK (others are ignored).

        Raises:
            KeyFormatError: a member is not a timestamp of the form ``YYYY-MM-DDTHH:MM:SSZ``,
                or ``not_after`` is before ``not_before``.
        """
        values: dict[str, datetime] = {}
        for name in VALIDITY_MEMBERS:
            value = members.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise KeyFormatError(f'JWK member "{name}" must be an RFC 3339 UTC timestamp')
            try:
                values[name] = timestamps.parse_utc(value)
            except ValueError:
                raise KeyFormatError(
                    f'JWK member "{name}" must be an RFC 3339 UTC timestamp'
                ) from None
        try:
            return cls(**values)
        except ValueError as exc:
            raise KeyFormatError(str(exc)) from None


@dataclass(frozen=True)
class KeyJudgement:
    """The outcome of :func:`judge_key`: whether a signature made at ``at`` counts, and why.

    Attributes:
        valid: whether it counts.
        rule: the rule that decided.
        at: the trusted time judged (UTC, whole seconds).
        boundary: the key's time the rule compared with (``None`` for ``active``).
        code: the stable refusal code when not valid, else ``None``.
    """

    valid: bool
    rule: KeyRule
    at: datetime
    boundary: datetime | None

    @property
    def code(self) -> ProtocolCode | None:
        return _CODES.get(self.rule)

    @property
    def explanation(self) -> str:
        """One sentence naming the rule and the key's time, e.g. "valid: signed before the
        key's compromise at 2026-03-01T00:00:00Z"."""
        boundary = "" if self.boundary is None else timestamps.format_utc(self.boundary)
        return _WORDING[self.rule].format(at=boundary)

    def to_json(self) -> dict[str, object]:
        """The judgement as reported by an evidence re-check (``spec/api.md``)."""
        return {
            "valid": self.valid,
            "rule": self.rule.value,
            "code": None if self.code is None else self.code.value,
            "judged_at": timestamps.format_utc(self.at),
            "key_time": None if self.boundary is None else timestamps.format_utc(self.boundary),
            "explanation": self.explanation,
        }


def judge_key(validity: KeyValidity, at: datetime) -> KeyJudgement:
    """Whether a signature by a key with ``validity``, made at the trusted time ``at``, counts.

    ``at`` must be the receiver's time of receipt (a receipt's ``received_at``), never the
    signer's claimed ``issued_at``. Revocation is judged first, so a compromised key is
    reported as revoked whatever else holds.

    Raises:
        ValueError: ``at`` is naive.
    """
    moment = timestamps.require_aware(at, "at").replace(microsecond=0)
    compromised = validity.compromised_at
    if compromised is not None and moment >= compromised:
        return KeyJudgement(False, KeyRule.AFTER_COMPROMISE, moment, compromised)
    if validity.not_before is not None and moment < validity.not_before:
        return KeyJudgement(False, KeyRule.NOT_YET_VALID, moment, validity.not_before)
    if validity.not_after is not None and moment > validity.not_after:
        return KeyJudgement(False, KeyRule.EXPIRED, moment, validity.not_after)
    retired = validity.retired_at
    if retired is not None and moment >= retired:
        return KeyJudgement(False, KeyRule.AFTER_RETIREMENT, moment, retired)
    if compromised is not None:
        return KeyJudgement(True, KeyRule.BEFORE_COMPROMISE, moment, compromised)
    if retired is not None:
        return KeyJudgement(True, KeyRule.BEFORE_RETIREMENT, moment, retired)
    return KeyJudgement(True, KeyRule.ACTIVE, moment, None)
