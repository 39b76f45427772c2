"""The console's vendored assets: fetched from the npm registry at a pinned version, checked
against a committed manifest of SHA-256 digests. Nothing is loaded from a CDN.

    python -m strive_server.console.vendor check     # verify every vendored file (CI, tests)
    python -m strive_server.console.vendor fetch     # re-vendor with ``npm pack`` (maintainers)

The manifest (``static/vendor/manifest.json``) names each package, its version, the registry's
integrity string for the tarball, and per vendored file its path in the package and the
SHA-256 of its bytes (also given as a Subresource Integrity value, which the pages use).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["MANIFEST", "VENDOR_DIR", "IntegrityError", "check", "sri"]

VENDOR_DIR: Final = Path(__file__).parent / "static" / "vendor"
MANIFEST: Final = VENDOR_DIR / "manifest.json"

PACKAGES: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "govuk-frontend": (
        "6.6.0",
        {
            "dist/govuk/govuk-frontend.min.css": "govuk-frontend.min.css",
            "dist/govuk/govuk-frontend.min.js": "govuk-frontend.min.js",
            "dist/govuk/assets/images/favicon.ico": "favicon.ico",
        },
    ),
}
"""What is vendored: package -> pinned version and {path in the package: file name here}.
The GDS Transport font is not vendored: its licence restricts it to GOV.UK services, so the
console uses the system font stack (``console.css``)."""


class IntegrityError(Exception):
    """A vendored file is missing, or its bytes are not the ones the manifest records."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class VendoredFile:
    package: str
    path: Path
    sha256: str


def sri(data: bytes) -> str:
    """The Subresource Integrity value (``sha256-...``) of ``data``."""
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def _entries(manifest: dict[str, Any]) -> list[VendoredFile]:
    return [
        VendoredFile(name, VENDOR_DIR / name / entry["file"], entry["sha256"])
        for name, package in manifest["packages"].items()
        for entry in package["files"]
    ]


def check(manifest_path: Path = MANIFEST) -> dict[str, str]:
    """Verify every vendored file against the manifest; return {relative path: SRI value}.

    Raises:
        IntegrityError: naming each file that is missing, altered, or present but unlisted.
    """
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems: list[str] = []
    integrity: dict[str, str] = {}
    listed = set()
    for entry in _entries(manifest):
        relative = entry.path.relative_to(VENDOR_DIR).as_posix()
        listed.add(relative)
        if not entry.path.is_file():
            problems.append(f"{relative}: missing")
            continue
        data = entry.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            problems.append(f"{relative}: SHA-256 differs from the manifest")
            continue
        integrity[relative] = sri(data)
    for path in sorted(VENDOR_DIR.rglob("*")):
        relative = path.relative_to(VENDOR_DIR).as_posix()
        unlisted = relative not in listed and path.name != "LICENCE.txt"
        if path.is_file() and path != manifest_path and unlisted:
            problems.append(f"{relative}: not in the manifest")
    if problems:
        raise IntegrityError(problems)
    return integrity


def fetch() -> None:
    """Re-vendor every package with ``npm pack`` (the registry's tarball at the pinned
    version) and rewrite the manifest."""
    manifest: dict[str, Any] = {"packages": {}}
    for name, (version, wanted) in PACKAGES.items():
        with tempfile.TemporaryDirectory() as scratch:
            command = ["npm", "pack", f"{name}@{version}", "--json"]
            # Fixed arguments and a pinned version; npm from PATH, as a maintainer runs it.
            packed = subprocess.run(  # noqa: S603
                command, cwd=scratch, check=True, capture_output=True, text=True
            ).stdout
            info = json.loads(packed)[0]
            with tarfile.open(Path(scratch) / info["filename"]) as tarball:
                tarball.extractall(scratch, filter="data")
            target = VENDOR_DIR / name
            target.mkdir(parents=True, exist_ok=True)
            files = []
            for source, file_name in wanted.items():
                data = (Path(scratch) / "package" / source).read_bytes()
                (target / file_name).write_bytes(data)
                files.append({
                    "file": file_name, "source": source,
                    "sha256": hashlib.sha256(data).hexdigest(), "sri": sri(data),
                })  # fmt: skip
            manifest["packages"][name] = {
                "version": version,
                "registry_integrity": info["integrity"],
                "licence": "LICENCE.txt",
                "files": files,
            }
            shutil.rmtree(Path(scratch) / "package")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "fetch":
        fetch()
    try:
        integrity = check()
    except IntegrityError as exc:
        for problem in exc.problems:
            print(f"FAIL {problem}", file=sys.stderr)
        return 1
    for path, value in sorted(integrity.items()):
        print(f"ok {path} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
