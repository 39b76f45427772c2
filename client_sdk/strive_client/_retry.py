"""Retries: capped, jittered exponential backoff that honours ``Retry-After``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES: Final = frozenset({408, 429} | set(range(500, 600)))
"""Statuses after which the same request is sent again: it is safe, because submissions are
idempotent by referral id and the other calls only read."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry.

    Attempt ``n`` (1-based) that fails waits a random time between 0 and
    ``min(max_delay, initial_delay * 2 ** (n - 1))`` ("full jitter"), unless the receiver sent
    ``Retry-After``, which is honoured exactly. A ``Retry-After`` longer than
    ``max_retry_after`` ends the retries: the caller gets ``RateLimited`` or ``ServerError``
    with ``retry_after`` set and decides.
    """

    max_attempts: int = 5
    """Attempts in all, including the first; 1 disables retries."""
    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def delay(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt``, or ``None`` to stop retrying."""
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        cap = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        return (rng or random).uniform(0, cap)


NO_RETRIES: Final = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` (delay-seconds or an HTTP-date) into seconds; ``None`` if absent
    or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
