"""Engine setup: SQLite pragmas and write locking, PostgreSQL as is.

SQLite runs in WAL mode with a busy timeout, and every transaction begins
`IMMEDIATE`: a deferred transaction that later upgrades to a write fails at
once with "database is locked" whatever the timeout, so we take the write
lock up front and let the busy timeout do its job.

The CLI and the web name the engine and the database's errors by this
module's `Engine` and `DatabaseError`: SQLAlchemy is the store's business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError

from monitor.errors import ConfigError
from monitor.store.migrate import upgrade

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KB = 65_536
SQLITE_CHECKPOINT_PAGES = 10_000


def make_engine(url: str, *, migrate: bool = True) -> Engine:
    """An engine for any SQLAlchemy URL, its schema migrated to the newest revision
    (unless `migrate` is false: `monitor db upgrade` runs and reports it itself)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError([f"database: {url!r} is not a database URL"]) from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
    else:
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - unknown driver etc.
            raise ConfigError([f"database: cannot use {parsed.render_as_string()}: {exc}"]) from None
    if migrate:
        upgrade(engine)
    return engine


def _sqlite_engine(parsed: Any) -> Engine:
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # 64 MB of page cache (the default is 2 MB): the story index takes
        # ~18 random keys per new article, and with its B-tree out of cache
        # every insert is a read and every commit rewrites scattered pages.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
        # Checkpoint the WAL every ~40 MB instead of every 4 MB: a page
        # written by many feed transactions is copied back once, not once
        # per transaction (housekeeping truncates the WAL).
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def unreachable(exc: BaseException) -> bool:
    """True when `exc` says the database is away (refused, restarted, the
    connection cut), not that a statement was wrong: worth trying again."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def describe_url(url: str) -> str:
    """The database URL with its password hidden, for display."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


__all__ = ["DatabaseError", "Engine", "describe_url", "make_engine", "unreachable"]
