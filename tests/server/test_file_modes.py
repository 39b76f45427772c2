"""The SQLite database and its WAL and shared-memory files hold every referral: only the
receiver's user may read them, whatever the process umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from strive_server.db.engine import make_engine, migrate


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: files 0644 unless created otherwise
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_database_wal_and_shm_are_created_private(tmp_path: Path) -> None:
    database = tmp_path / "data" / "strive.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
        with engine.begin() as connection:  # a write, so the WAL holds data
            connection.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
            connection.execute(sa.text("INSERT INTO probe VALUES (1)"))
        files = sorted(database.parent.iterdir())
        names = {path.name for path in files}
        assert {"strive.db", "strive.db-wal", "strive.db-shm"} <= names
        for path in files:
            assert mode(path) == 0o600, path.name
    finally:
        engine.dispose()


@pytest.mark.usefixtures("permissive_umask")
def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    """An operator who chose a mode for an existing file keeps it (it is not re-created)."""
    database = tmp_path / "strive.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
    finally:
        engine.dispose()
    database.chmod(0o640)
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
        assert mode(database) == 0o640
    finally:
        engine.dispose()
