"""Packaging boundaries: the base install stays small and the packages keep their layers."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "prometheus")


def test_base_dependencies_pull_in_no_web_framework_or_database_driver() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert not [name for name in HEAVY if name in base]
    server = " ".join(project["optional-dependencies"]["server"]).lower()
    assert "fastapi" in server and "sqlalchemy" in server


def test_importing_the_sdk_and_schema_loads_no_server_dependency() -> None:
    code = (
        "import sys, strive_schema, strive_client, strive_schema.validator;"
        "import strive_client._cli.main;"
        f"print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_top_level_server_module_is_installed(tmp_path: Path) -> None:
    # Run from an empty folder so the checkout itself is not on the path.
    code = (
        "import importlib.util as u;"
        "print([n for n in ('server', 'client_sdk') if u.find_spec(n) is not None],"
        " all(u.find_spec(n) for n in ('strive_schema', 'strive_client', 'strive_server')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[] True"


def imports_of(package: Path) -> set[str]:
    found: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_schema_imports_neither_client_nor_server() -> None:
    assert not imports_of(ROOT / "strive_schema") & {"strive_client", "strive_server"}


def test_client_never_imports_the_server() -> None:
    assert "strive_server" not in imports_of(ROOT / "client_sdk" / "strive_client")


def test_public_names_are_pinned() -> None:
    import strive_schema

    assert sorted(strive_schema.__all__) == sorted(
        [
            "INDICATORS",
            "REFERRAL_SCHEMA_ID",
            "SCHEMA_VERSION",
            "Finding",
            "IndicatorDefinition",
            "Referral",
            "ValidationCode",
            "ValidationResult",
            "fold_name",
            "get_indicator",
            "normalise_email",
            "normalise_phone",
            "referral_json_schema",
            "validate_document",
            "validate_json",
        ]
    )
    for name in strive_schema.__all__:
        assert hasattr(strive_schema, name)
