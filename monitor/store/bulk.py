"""Many rows into one table, the cheap way for each database.

SQLite: a DBAPI executemany (in-process, no round trips). PostgreSQL:
multi-row `INSERT … VALUES (…), (…)` statements, since psycopg's
executemany sends one INSERT per row (pipelined, but each still parsed,
planned and run by the server): a feed's fifty articles, their sources and
hits become three statements instead of a hundred and fifty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

__all__ = ["insert_rows"]

# Rows per statement on PostgreSQL (bound parameters stay far below its 65,535).
ROWS_PER_STATEMENT = 1000


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) into `table`, in the caller's transaction."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        session.execute(insert(table).values(list(rows[start : start + ROWS_PER_STATEMENT])))
