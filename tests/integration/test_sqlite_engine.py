"""SQLite setup: WAL, busy timeout, and transactions that take the write lock up front."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

from sqlalchemy import text

from monitor.core.polling import Decision
from monitor.store.engine import make_engine
from monitor.store.feeds import FeedSpec
from monitor.store.repository import Repository

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_wal_and_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/a/m.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_every_transaction_begins_immediate(tmp_path) -> None:
    path = tmp_path / "m.db"
    engine = make_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))  # a read only: a deferred BEGIN would hold no lock
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
        else:
            raise AssertionError("a second writer got the lock while a transaction was open")
    other.execute("BEGIN IMMEDIATE")  # free once the transaction ends
    other.execute("ROLLBACK")


def test_a_second_writer_waits_instead_of_failing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    first, second = Repository(make_engine(url)), Repository(make_engine(url))
    ids = first.sync_feeds([FeedSpec("A", "http://a.example/rss")], NOW)
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_lock() -> None:
        with first.engine.begin() as conn:
            conn.execute(text("UPDATE feeds SET title = 'x'"))
            holding.set()
            release.wait(10)

    def write() -> None:
        try:
            # reads the row, then writes it: the read-then-upgrade pattern that
            # fails at once with "database is locked" under a deferred BEGIN
            second.record_failure(ids["A"], "reason", NOW, Decision(NOW, 60.0, 1, 0, NOW))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    holding.wait(10)
    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.3)
    release.set()
    holder.join()
    writer.join(10)
    assert errors == []
    (health,) = second.feed_health()
    assert (health.consecutive_failures, health.last_error) == (1, "reason")
