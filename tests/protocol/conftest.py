"""Fixtures for the protocol tests."""

from __future__ import annotations

import pytest

from strive_schema.keys import SigningKey


@pytest.fixture(scope="session")
def asw_key() -> SigningKey:
    """A fresh signing key, for tests that need no fixed output."""
    return SigningKey.generate()


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    """A second, unrelated signing key."""
    return SigningKey.generate()
