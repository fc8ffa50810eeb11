"""One daemon per SQLite database: an OS lock on a file beside it.

`monitor run` and `monitor poll --once` (which write like a daemon) take an
exclusive, non-blocking `flock` on `<database>.lock` and hold it for the
life of the process. The kernel drops the lock when the process ends,
however it ends (SIGKILL and crashes included), so there is never a stale
lock to clean up; the file itself stays. It holds the holder's name, pid,
host and start time, so a refused second daemon can name the first even
before that one has registered in the nodes table (whose row, when there
is one, gives the details). Readers (`monitor hits`, `status`, `serve`…)
take no lock. In-memory SQLite and PostgreSQL take none either:
PostgreSQL serves several daemons (feed leases, see `store.feeds`).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.errors import MonitorError
from monitor.store.schema import NodeRow
from monitor.times import iso

__all__ = ["DaemonLock", "DatabaseInUse", "lock_database", "lock_path"]

# How long the refused daemon waits for the database to name the running one.
LOOKUP_TIMEOUT = 2.0


class DatabaseInUse(MonitorError):
    """Another daemon holds this SQLite database's lock; the message names it."""


@dataclass
class DaemonLock:
    """The held lock (`fd` None: none was needed); `release()`, the end of a
    `with` block or the process's end lets another daemon start."""

    path: Path | None
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file drops the flock
            self.fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def lock_path(url: str) -> Path | None:
    """`<database file>.lock` for an SQLite file URL; None for in-memory SQLite and other databases."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: file:path?mode=…
        path, _, query = database[len("file:") :].partition("?")
        if "memory" in parse_qs(query).get("mode", []) or not path or path == ":memory:":
            return None
        database = unquote(path)
    if "memory" in parsed.query.get("mode", ()):
        return None
    return Path(database + ".lock")


def lock_database(url: str, name: str, now: datetime) -> DaemonLock:
    """Take the database's daemon lock for this process (node `name`), or raise `DatabaseInUse`.

    A lock holding nothing when the database needs none (PostgreSQL, in-memory SQLite).
    """
    path = lock_path(url)
    if path is None:
        return DaemonLock(None, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by exec'd children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(_refusal(url, path)) from None
    except BaseException:
        os.close(fd)
        raise
    holder = {"name": name, "pid": os.getpid(), "host": socket.gethostname(), "since": iso(now)}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(holder) + "\n").encode("utf-8"))
    return DaemonLock(path, fd)


def _refusal(url: str, path: Path) -> str:
    """Why a second daemon may not start, naming the running one as well as we know it."""
    holder = _read_holder(path)
    row = _holder_row(url, holder)
    name = row.name if row is not None else holder.get("name")
    pid = row.pid if row is not None else holder.get("pid")
    host = row.host if row is not None else holder.get("host")
    since = iso(row.started_at) if row is not None else holder.get("since")
    details = []
    if name:
        details.append(f"node {name}")
    if pid:
        details.append(f"pid {pid}" + (f" on {host}" if host else ""))
    if since:
        details.append(f"running since {_shown_time(str(since))}")
    who = f" ({', '.join(details)})" if details else ""
    database = str(path)[: -len(".lock")]
    return (
        f"database {database} is in use by another monitor daemon{who}; "
        "SQLite serves one daemon — stop it first, or use PostgreSQL to run several"
    )


def _read_holder(path: Path) -> dict[str, Any]:
    """What the holder wrote in the lock file ({} if nothing readable yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder_row(url: str, holder: dict[str, Any]) -> NodeRow | None:
    """The running daemon's row in the nodes table: the lock file's pid and host, not stopped.

    A plain read (no migration, no write lock), bounded by LOOKUP_TIMEOUT;
    None when the table or the row is not there yet.
    """
    if not (holder.get("pid") and holder.get("host")):
        return None  # not written yet: better no details than another node's
    engine = create_engine(url, connect_args={"timeout": LOOKUP_TIMEOUT})
    try:
        with Session(engine) as session:
            query = select(NodeRow).where(
                NodeRow.stopped_at.is_(None), NodeRow.pid == int(holder["pid"]), NodeRow.host == str(holder["host"])
            )
            return session.scalars(query.order_by(NodeRow.heartbeat_at.desc()).limit(1)).first()
    except (SQLAlchemyError, ValueError):
        return None
    finally:
        engine.dispose()


def _shown_time(value: str) -> str:
    """2026-12-04T15:00:12Z → 2026-12-04 15:00 UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")
