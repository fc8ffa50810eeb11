"""Many rows into one table, the cheap way for each database.

Both ways run on the driver's cursor, each value through its column type's
own bind processor (as SQLAlchemy would store it), with the statement and
processors worked out once per table and key set: SQLAlchemy's execution
layers cost several times the database's own work for a feed's fifty rows.

- SQLite: a DBAPI executemany (in-process, no round trips).
- PostgreSQL: `COPY … FROM STDIN` (`copy_rows`), the rows written by
  psycopg's compiled row formatter. The statement before it, an
  `INSERT … SELECT * FROM unnest(%s::type[], …)` of one array per column,
  spent a third of the storing thread in psycopg's array dumper, which
  walks every element in Python; and the server loads a COPY faster than it
  unpacks arrays (bench/README.md, "sixth pass"). COPY fires the tables'
  triggers, statement triggers and their transition tables included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

from monitor.store.cursor import driver_cursor

__all__ = ["copy_rows", "insert_rows", "uses_copy"]

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    """An INSERT (SQLite) or COPY (PostgreSQL) for rows with a given key set,
    and how to turn rows into its values.

    The statement names the rows' columns first, in table order (read with
    one itemgetter), then the left-out columns with a scalar default (their
    bound values worked out once).
    """

    statement: str
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    # (position, bind processor, memoise) for the rows' columns that have a processor.
    processed: tuple[tuple[int, Callable[[Any], Any], bool], ...]
    # The left-out columns' bound defaults.
    tail: tuple[Any, ...]

    def values(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Each row's bound values, in statement order.

        A datetime column's processor runs once per distinct value of a
        batch (rows share their `now`): keyed with its tzinfo too, since
        equal instants in different zones may store differently.
        """
        get, processed, tail = self.get, self.processed, self.tail
        if not processed:
            return [get(row) + tail for row in rows]
        memo: dict[tuple[Any, ...], Any] = {}
        out = []
        for row in rows:
            values = list(get(row))
            for i, process, memoise in processed:
                value = values[i]
                if memoise and value is not None:
                    key = (i, value, value.tzinfo)
                    bound = memo.get(key, memo)
                    if bound is memo:
                        bound = memo[key] = process(value)
                    values[i] = bound
                else:
                    values[i] = process(value)
            out.append(tuple(values) + tail)
        return out


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) into `table`, in the caller's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    plan = _plan(table, tuple(rows[0]), dialect) if dialect.name == "sqlite" or uses_copy(dialect) else None
    if plan is None:  # another database or driver, or a computed default: the Core insert
        session.execute(insert(table), list(rows))
        return
    if dialect.name == "sqlite":
        with driver_cursor(session) as cursor:
            cursor.executemany(plan.statement, plan.values(rows))
        return
    _copy(session, plan.statement, plan.values(rows))


def uses_copy(dialect: Dialect) -> bool:
    """Whether rows go in by COPY: PostgreSQL through psycopg (3), whose cursor has `copy`."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: `rows` (values in `columns` order, as psycopg adapts them)
    into `table` by COPY, in the caller's transaction. Names are ours, not
    input: they are written into the statement as they are."""
    _copy(session, f"COPY {table} ({', '.join(columns)}) FROM STDIN", rows)


def _copy(session: Session, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    with driver_cursor(session) as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


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
    keyed: list[tuple[str, Processor, bool, str]] = []
    defaulted: list[tuple[Any, str]] = []
    prepare = dialect.identifier_preparer
    for column in table.columns:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        name = prepare.format_column(column)
        if column.key in names:
            keyed.append((column.key, process, _is_datetime(column.type), name))
        elif column.default is not None:
            if not column.default.is_scalar:
                return None
            default = column.default.arg  # type: ignore[attr-defined]
            defaulted.append((process(default) if process is not None else default, name))
    keys_in_order = [key for key, *_ in keyed]
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    if len(keys_in_order) == 1:  # an itemgetter of one key gives no tuple
        only = keys_in_order[0]
        get = lambda row: (row[only],)  # noqa: E731
    else:  # none: every column is left to its default
        get = itemgetter(*keys_in_order) if keys_in_order else lambda row: ()
    processed = tuple((i, p, memo) for i, (_, p, memo, _) in enumerate(keyed) if p is not None)
    quoted = [q for *_, q in keyed] + [q for _, q in defaulted]
    target = f"{prepare.format_table(table)} ({', '.join(quoted)})"
    if dialect.name == "sqlite":
        statement = f"INSERT INTO {target} VALUES ({', '.join('?' for _ in quoted)})"
    else:
        statement = f"COPY {target} FROM STDIN"
    return _Plan(statement, get, processed, tuple(value for value, _ in defaulted))


def _is_datetime(kind: TypeEngine[Any]) -> bool:
    """A DateTime column, or a decorator over one (its bound values can be memoised)."""
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, DateTime)
