"""Planner statistics for a fresh PostgreSQL database: `FirstAnalyze`.

A table PostgreSQL has never analysed has no statistics, and the planner
guesses: a lookup of fifty canonical URLs reads as a quarter of `articles`,
so it scans the whole table. Autovacuum's first ANALYZE comes after its nap
(a minute by default), so a new deployment's first poll, which stores
thousands of articles in that minute, scans `articles` once a feed —
2.6–3.4 ms a feed against 0.06 ms with statistics (bench/README.md, "Issue
13, eighth pass"). `FirstAnalyze` analyses the tables the store looks up
once this process has stored `after` new articles, if they were never
analysed (`pg_class.reltuples` is -1 until the first VACUUM or ANALYZE, on
PostgreSQL 14 and later); from then on autovacuum keeps them current.

Several daemons: each counts its own articles and checks once. Two may
analyse at the same moment: ANALYZE (SKIP_LOCKED) lets the second skip a
table the first is analysing, and an ANALYZE more is harmless. SQLite has no
such gap (its planner prefers an index without statistics): nothing runs.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["ANALYZE_AFTER", "FirstAnalyze"]

log = logging.getLogger(__name__)

# New articles stored by this process before the check: enough rows for
# statistics worth having, early enough in a first poll to matter.
ANALYZE_AFTER = 1_000
# The tables a feed's transaction looks up by something other than its key.
_TABLES = ("articles", "article_sources", "story_keys")
_NEVER_ANALYSED = text("SELECT relname FROM pg_class WHERE oid = ANY(CAST(:oids AS regclass[])) AND reltuples < 0")


class FirstAnalyze:
    """Counts the articles stored; once `after` are in, analyses the tables
    never analysed (PostgreSQL), once per process. Thread-safe."""

    def __init__(self, after: int | None = None) -> None:
        self.after = ANALYZE_AFTER if after is None else after
        self._stored = 0
        self._done = False
        self._lock = threading.Lock()

    def stored(self, sessions: sessionmaker[Session], count: int) -> list[str]:
        """Count `count` new articles (committed); the tables it analysed, if
        this call was the one to check."""
        if self._done:
            return []
        with self._lock:
            if self._done:
                return []
            self._stored += count
            if self._stored < self.after:
                return []
            self._done = True
        return self._analyse(sessions)

    def _analyse(self, sessions: sessionmaker[Session]) -> list[str]:
        try:
            with sessions.begin() as session:
                if session.get_bind().dialect.name != "postgresql":
                    return []
                tables = sorted(session.scalars(_NEVER_ANALYSED, {"oids": list(_TABLES)}))
                for table in tables:  # our own names (pg_class's of _TABLES), not input
                    session.execute(text(f'ANALYZE (SKIP_LOCKED) "{table}"'))
        except SQLAlchemyError as exc:  # statistics are an optimisation: never a failed feed
            log.warning("could not analyse the new tables (the planner waits for autovacuum): %s", exc)
            return []
        if tables:
            log.info("analysed %s for the planner (they had no statistics yet)", ", ".join(tables))
        return tables
