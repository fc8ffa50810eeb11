"""Statements on the driver's own cursor, in the session's connection and transaction.

For the storing path's hottest statements (a feed's key probe, id
allocation, URL lookup, bulk inserts): SQLAlchemy's execution and result
layers cost about as much as SQLite's own work there. Statements are plain
driver SQL (`?` on SQLite, `%s` on psycopg); values go in as parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

__all__ = ["driver_cursor", "fetch_rows"]


@contextmanager
def driver_cursor(session: Session) -> Iterator[Any]:
    """The DBAPI cursor of the session's connection (same transaction), closed after."""
    cursor = session.connection().connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def fetch_rows(session: Session, statement: str, parameters: Sequence[Any] = (), **options: Any) -> list[Any]:
    """Every row `statement` returns. `options` go to the driver's `execute`
    (psycopg: `prepare=False` plans it afresh each time)."""
    with driver_cursor(session) as cursor:
        cursor.execute(statement, parameters, **options)
        return list(cursor.fetchall())
