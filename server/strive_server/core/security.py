"""Roles and token hashing, shared by the API and the command line."""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["CONTENT_ROLES", "DUAL_CONTROL_ROLES", "ROLES", "hash_token"]

ROLES: Final = ("analyst", "supervisor", "auditor", "admin")
"""analyst: work the queue, read referrals, move them on, request information;
supervisor: also assign, close and reopen; auditor: the audit trail and statistics, no
personal data; admin: ASWs, keys and tokens, no referral content."""

CONTENT_ROLES: Final = frozenset({"analyst", "supervisor"})
"""The roles that read referral content."""

DUAL_CONTROL_ROLES: Final = CONTENT_ROLES | {"admin"}
"""Tokens created only with a second admin's approval: those that read referral content, and
admin tokens, since an admin token can approve (a second admin token held by the same
person would otherwise be a second person)."""


def hash_token(token: str) -> str:
    """The stored form of a bearer token (tokens carry 256 random bits, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
