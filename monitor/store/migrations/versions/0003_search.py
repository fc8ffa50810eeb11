"""Full-text search over articles, and keyset pagination of hits per watchlist.

Revision ID: 0003_search
Revises: 0002_stories
Create Date: 2025-01-03

SQLite: an FTS5 table `articles_fts` over articles (title, summary,
content) with external content (the articles table itself, so the text is
stored once), diacritics folded like the matcher folds them, kept in step
by three triggers, and filled from the stored articles. An SQLite built
without FTS5 skips it (the dashboard's search then scans recent hits).
PostgreSQL: a GIN index on `to_tsvector('simple', title || summary ||
content)`; queries must use the same expression (`monitor.web.search`).

Both: an index on hits (watchlist, found_at, id) for the dashboard's
newest-first pages of one watchlist.

A later revision that rebuilds `articles` on SQLite (batch mode) drops the
triggers with the old table: it must run `sqlite_fts_ddl()` again.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0003_search"
down_revision = "0002_stories"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

PG_VECTOR = (
    "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(summary, '') || ' ' || coalesce(content, ''))"
)


def sqlite_fts_ddl() -> tuple[str, ...]:
    return (
        "CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5("
        "title, summary, content, content='articles', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS articles_fts_insert AFTER INSERT ON articles BEGIN "
        "INSERT INTO articles_fts(rowid, title, summary, content) "
        "VALUES (new.id, new.title, new.summary, new.content); END",
        "CREATE TRIGGER IF NOT EXISTS articles_fts_delete AFTER DELETE ON articles BEGIN "
        "INSERT INTO articles_fts(articles_fts, rowid, title, summary, content) "
        "VALUES ('delete', old.id, old.title, old.summary, old.content); END",
        "CREATE TRIGGER IF NOT EXISTS articles_fts_update AFTER UPDATE OF title, summary, content ON articles BEGIN "
        "INSERT INTO articles_fts(articles_fts, rowid, title, summary, content) "
        "VALUES ('delete', old.id, old.title, old.summary, old.content); "
        "INSERT INTO articles_fts(rowid, title, summary, content) "
        "VALUES (new.id, new.title, new.summary, new.content); END",
    )


def upgrade() -> None:
    bind = op.get_bind()
    op.create_index("ix_hits_watchlist_found", "hits", ["watchlist", "found_at", "id"])
    if bind.dialect.name == "sqlite":
        try:
            with bind.begin_nested():
                for statement in sqlite_fts_ddl():
                    bind.exec_driver_sql(statement)
                bind.exec_driver_sql("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")
        except sa.exc.OperationalError as exc:  # an SQLite without FTS5
            log.warning("full-text search not available in this SQLite (%s); search will scan", exc)
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_articles_fts ON articles USING gin (({PG_VECTOR}))")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in (
            "DROP TRIGGER IF EXISTS articles_fts_update",
            "DROP TRIGGER IF EXISTS articles_fts_delete",
            "DROP TRIGGER IF EXISTS articles_fts_insert",
            "DROP TABLE IF EXISTS articles_fts",
        ):
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_articles_fts")
    op.drop_index("ix_hits_watchlist_found", table_name="hits")
