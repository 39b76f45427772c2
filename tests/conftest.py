"""Shared fixtures: the repository root and the published examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "spec" / "examples"


def load_example(name: str) -> dict[str, Any]:
    """Return a published example as a fresh dict."""
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


@pytest.fixture
def minimal() -> dict[str, Any]:
    """The smallest valid referral (a sandbox referral)."""
    return load_example("sandbox-minimal.json")
