"""Write the receiver's OpenAPI 3.1 document to ``spec/openapi.json``.

Usage::

    python -m strive_server.openapi            # rewrite spec/openapi.json
    python -m strive_server.openapi --check    # exit 1 if the committed copy is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from strive_server.api.app import create_app
from strive_server.core.config import Settings

__all__ = ["OPENAPI_PATH", "main", "render_openapi"]

OPENAPI_PATH = "spec/openapi.json"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the app, built without touching any database or key."""
    app = create_app(Settings(database_url="sqlite://"))
    document: dict[str, Any] = app.openapi()
    return document


def render_openapi() -> str:
    """The committed text of spec/openapi.json."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m strive_server.openapi")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    path = args.root / OPENAPI_PATH
    content = render_openapi()
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == content:
        return 0
    if args.check:
        print(f"stale generated file: {OPENAPI_PATH}", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    print(f"wrote {OPENAPI_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
