"""Engines and migrations for SQLite (embedded, WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_sessionmaker", "migrate", "write_guard"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event, not pysqlite, start transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer commits; synchronous=FULL makes an acknowledged
    # referral survive power loss, not only a crash of the process.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # Nearly every transaction writes (audit, nonces, rate counters). Taking the write lock at
    # BEGIN means two workers never both read "not stored yet" and then collide, and a waiting
    # writer queues on busy_timeout instead of failing on a stale WAL snapshot.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; a SQLite file's folder is created if needed."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            _create_private(Path(database))
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        _WRITE_LOCKS[engine] = _file_lock(database)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _file_lock(database: str | None) -> threading.Lock:
    """One write lock per database file and process: the engines of one process on one file
    (the HTTP workers' and the linking worker's in ``strive serve``) queue on it instead of on
    SQLite's busy handler, which sleeps up to 100 ms a try."""
    if not database or database == ":memory:":
        return threading.Lock()
    key = str(Path(database).resolve())
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def _create_private(path: Path) -> None:
    """Create an absent SQLite file as mode 0600: it holds every referral. SQLite gives its
    WAL, shared-memory and journal files the main file's mode, so they are private too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def write_guard(sessions: sessionmaker[Session]) -> AbstractContextManager[object]:
    """Hold around a write transaction. On SQLite, writers of one process queue on a lock
    instead of polling SQLite's busy handler (which backs off up to 100 ms a try); other
    processes still wait on busy_timeout. Correctness never depends on it: the database
    decides. On PostgreSQL it does nothing."""
    engine = sessions.kw.get("bind")
    lock = _WRITE_LOCKS.get(engine) if isinstance(engine, Engine) else None
    return lock if lock is not None else nullcontext()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (responses are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (safe to run repeatedly)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
