"""What the database holds (`monitor db stats`): rows and size per table, article dates, schema revision.

Reads only; a database behind the code's schema is reported as behind, not
upgraded. A table the schema has but the database lacks counts as None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select, text

from monitor.store.migrate import current_revision, head_revision
from monitor.store.schema import ArticleRow, Base


@dataclass(frozen=True)
class TableStats:
    rows: int | None  # None: the table is missing
    size_bytes: int | None = None  # PostgreSQL only (SQLite keeps one file)


@dataclass(frozen=True)
class DatabaseStats:
    revision: str | None
    head: str
    size_bytes: int | None  # on disk: PostgreSQL's tables, SQLite's file with its WAL
    oldest_article: datetime | None  # first seen
    newest_article: datetime | None
    tables: dict[str, TableStats]

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head


def database_stats(engine: Engine) -> DatabaseStats:
    """Rows per table (None: table missing), sizes, article dates and revisions."""
    revision = current_revision(engine)
    tables: dict[str, TableStats] = {}
    oldest: datetime | None = None
    newest: datetime | None = None
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                tables[table.name] = TableStats(None)
                continue
            rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
            size = None
            if postgres:
                size = conn.execute(
                    text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": table.name}
                ).scalar_one()
            tables[table.name] = TableStats(rows, size)
        if "articles" in present:
            oldest, newest = conn.execute(
                select(func.min(ArticleRow.first_seen_at), func.max(ArticleRow.first_seen_at))
            ).one()
    total: int | None = None
    if postgres:
        total = sum(info.size_bytes or 0 for info in tables.values())
    elif engine.dialect.name == "sqlite":
        total = _sqlite_size(engine.url.database)
    return DatabaseStats(revision, head_revision(), total, oldest, newest, tables)


def _sqlite_size(database: str | None) -> int:
    """The database file with its write-ahead log and shared-memory index."""
    if not database or database == ":memory:":
        return 0
    path = Path(database).expanduser()
    return sum(
        os.path.getsize(f"{path}{suffix}") for suffix in ("", "-wal", "-shm") if Path(f"{path}{suffix}").exists()
    )


__all__ = ["DatabaseStats", "TableStats", "database_stats"]
