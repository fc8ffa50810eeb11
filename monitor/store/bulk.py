"""Many rows into one table, the cheap way for each database.

Both ways run on the driver's cursor, each value through its column type's
own bind processor (as SQLAlchemy would store it), with the statement and
processors worked out once per table and key set: SQLAlchemy's execution
layers (and on PostgreSQL the compilation of a new multi-row VALUES for
each batch) cost several times the database's own work for a feed's fifty
rows.

- SQLite: a DBAPI executemany (in-process, no round trips).
- PostgreSQL: one `INSERT … SELECT * FROM unnest(%s::type[], …)` per
  batch, a typed array per column: one statement and one round trip
  whatever the number of rows, and the same text every time, so psycopg
  prepares it once (an executemany is one INSERT per row, and a multi-row
  VALUES is a new statement to parse and plan for every batch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from monitor.store.cursor import driver_cursor

__all__ = ["insert_rows"]

# Rows per statement on PostgreSQL (one array per column, bounded).
ROWS_PER_STATEMENT = 5000

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    """An INSERT for rows with a given key set, and how to turn a row into its values."""

    statement: str
    # Per column: the row key (None: the column's scalar default), that default, the bind processor.
    columns: tuple[tuple[str | None, Any, Processor], ...]

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            (process(row[key]) if key is not None else process(default))
            if process is not None
            else (row[key] if key is not None else default)
            for key, default, process in self.columns
        )


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) into `table`, in the caller's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    plan = _plan(table, tuple(rows[0]), dialect) if dialect.name in ("sqlite", "postgresql") else None
    if plan is None:  # another database, or a computed default: the Core insert
        session.execute(insert(table), list(rows))
        return
    with driver_cursor(session) as cursor:
        if dialect.name == "sqlite":
            cursor.executemany(plan.statement, [plan.values(row) for row in rows])
            return
        width = len(plan.columns)
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            values = [plan.values(row) for row in rows[start : start + ROWS_PER_STATEMENT]]
            cursor.execute(plan.statement, [[v[i] for v in values] for i in range(width)])


@lru_cache(maxsize=64)
def _plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """How to insert rows with `keys`; None when a left-out column's default
    is computed (a callable: left to the Core insert).

    Columns the rows leave out get their Python-side default, as a Core
    insert gives them; those with none are not named (NULL, the id
    sequence, a server default).
    """
    names = set(keys)
    unknown = names - set(table.c.keys())
    if unknown:
        raise KeyError(f"{table.name} has no column {sorted(unknown)[0]!r}")
    columns: list[tuple[str | None, Any, Processor]] = []
    quoted: list[str] = []
    types: list[str] = []
    prepare = dialect.identifier_preparer
    for column in table.columns:
        if column.key in names:
            key, default = column.key, None
        elif column.default is not None:
            if not column.default.is_scalar:
                return None
            key, default = None, column.default.arg  # type: ignore[attr-defined]
        else:
            continue
        columns.append((key, default, column.type.dialect_impl(dialect).bind_processor(dialect)))
        quoted.append(prepare.format_column(column))
        types.append(column.type.compile(dialect=dialect))
    target = f"INSERT INTO {prepare.format_table(table)} ({', '.join(quoted)}) "
    if dialect.name == "sqlite":
        statement = target + f"VALUES ({', '.join('?' for _ in quoted)})"
    else:
        statement = target + f"SELECT * FROM unnest({', '.join(f'%s::{kind}[]' for kind in types)})"
    return _Plan(statement, tuple(columns))
