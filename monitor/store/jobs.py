"""Once-per-cluster jobs: housekeeping and retention run on one daemon at a time.

Owns `JobStore.once`: on PostgreSQL a session-level advisory lock per job
name (`pg_try_advisory_lock`: a second daemon does not wait, it skips) and
the job's row in `job_runs`; a daemon runs the job only when it holds the
lock and the last run started at least `every` seconds ago, so three daemons
each scheduling housekeeping every six hours run it once per six hours in
all. A daemon that dies mid-job releases the lock with its connection.
SQLite has one daemon: the row alone decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.store.schema import JobRunRow
from monitor.times import utcnow

__all__ = ["JobStore"]


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"monitor job {name}".encode(), digest_size=8).digest(), "big", signed=True)


class JobStore:
    """Mixed into `Repository`, which sets the attributes."""

    engine: Engine
    _session: sessionmaker[Session]

    @contextmanager
    def once(self, name: str, node: str, now: datetime, every: float) -> Iterator[bool]:
        """Yields True when this daemon should run job `name` now (and records
        the run), False when another daemon runs it or ran it within `every`
        seconds. The run's end is recorded on leaving the block."""
        if self.engine.dialect.name != "postgresql":
            due = self._claim_run(name, node, now, every)
            yield due
            if due:
                self._finish_run(name, now)
            return
        key = _lock_key(name)
        with self.engine.connect() as connection:
            locked = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            connection.commit()
            try:
                due = locked and self._claim_run(name, node, now, every)
                yield due
                if due:
                    self._finish_run(name, now)
            finally:
                if locked:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()

    def _claim_run(self, name: str, node: str, now: datetime, every: float) -> bool:
        with self._session.begin() as session:
            table = cast(Table, JobRunRow.__table__)
            insert: Any = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)
            session.execute(
                insert.values(
                    name=name, node=node, started_at=datetime.min.replace(tzinfo=now.tzinfo)
                ).on_conflict_do_nothing()
            )
            row = session.scalars(select(JobRunRow).where(JobRunRow.name == name)).one()
            # A little early is still due: ticks drift by seconds.
            if row.started_at > now - timedelta(seconds=every * 0.9):
                return False
            row.node, row.started_at, row.finished_at = node, now, None
            return True

    def _finish_run(self, name: str, started: datetime) -> None:
        with self._session.begin() as session:
            session.execute(
                update(JobRunRow)
                .where(JobRunRow.name == name, JobRunRow.started_at == started)
                .values(finished_at=utcnow())
            )

    def last_runs(self) -> list[tuple[str, str, datetime, datetime | None]]:
        """(job, node, started, finished) of every job that ran."""
        with self._session.begin() as session:
            return [
                (row.name, row.node, row.started_at, row.finished_at)
                for row in session.scalars(select(JobRunRow).order_by(JobRunRow.name))
            ]
