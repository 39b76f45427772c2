"""The one timestamp form of the protocol: RFC 3339, UTC, whole seconds, ``Z`` suffix."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def format_utc(moment: datetime) -> str:
    """Render an aware datetime as ``YYYY-MM-DDTHH:MM:SSZ``, dropping sub-second digits.

    Raises:
        ValueError: the datetime is naive (has no time zone).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` into an aware UTC datetime; raise ValueError otherwise."""
    if _FORM.fullmatch(text) is None:
        raise ValueError("not an RFC 3339 UTC timestamp of the form YYYY-MM-DDTHH:MM:SSZ")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def require_aware(moment: datetime, name: str) -> datetime:
    """Return ``moment`` in UTC; raise ValueError if it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def as_timedelta(value: timedelta | int) -> timedelta:
    """A window length given as a timedelta or as whole seconds; raise ValueError if negative."""
    span = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if span < timedelta(0):
        raise ValueError("a time window must not be negative")
    return span
