"""Helpers shared by the protocol tests: the committed vectors and their test-only keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from strive_schema.keys import PublicKey

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"


def load_vectors(section: str) -> list[tuple[str, dict[str, Any]]]:
    """Every vector of one section (``envelope``, ``receipt``, ``httpsig``), by file stem."""
    return [
        (path.stem, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted((VECTORS / section).glob("*.json"))
    ]


def vector_keys() -> dict[str, dict[str, Any]]:
    """The entries of ``spec/vectors/keys.json``, by key name."""
    document: dict[str, Any] = json.loads((VECTORS / "keys.json").read_text(encoding="utf-8"))
    return dict(document["keys"])


def public_keys(names: list[str]) -> list[PublicKey]:
    """The registered public keys a vector names, read from their published PEM."""
    entries = vector_keys()
    return [PublicKey.from_pem(entries[name]["public_key_pem"].encode()) for name in names]
