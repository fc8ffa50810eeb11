"""Full-text search over the articles that have hits, and keyset pagination of hits per watchlist.

Revision ID: 0003_search
Revises: 0002_stories
Create Date: 2025-01-03

SQLite: an FTS5 table `articles_fts` (title, summary, content; rowid =
article id), diacritics folded like the matcher folds them. Only articles
with a hit are indexed — the dashboard and API search hits — so storing an
article costs no indexing (a first poll of a thousand feeds stores fifty
thousand); an article enters the index with its first hit, follows its
updates and leaves with it (three triggers), and the ones with hits are
indexed on upgrade. An SQLite built without FTS5 skips it (the dashboard's
search then scans recent hits).
PostgreSQL: a GIN index on `to_tsvector('simple', title || summary ||
content)`; queries must use the same expression (`monitor.store.search`).

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

PG_VECTOR = "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(summary, '') || ' ' || coalesce(content, ''))"


def sqlite_fts_ddl() -> tuple[str, ...]:
    return (
        "CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5("
        "title, summary, content, tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS articles_fts_hit AFTER INSERT ON hits "
        "WHEN NOT EXISTS (SELECT 1 FROM articles_fts WHERE rowid = new.article_id) BEGIN "
        "INSERT INTO articles_fts(rowid, title, summary, content) "
        "SELECT id, title, summary, content FROM articles WHERE id = new.article_id; END",
        "CREATE TRIGGER IF NOT EXISTS articles_fts_update AFTER UPDATE OF title, summary, content ON articles BEGIN "
        "UPDATE articles_fts SET title = new.title, summary = new.summary, content = new.content "
        "WHERE rowid = new.id; END",
        "CREATE TRIGGER IF NOT EXISTS articles_fts_delete AFTER DELETE ON articles BEGIN "
        "DELETE FROM articles_fts WHERE rowid = old.id; END",
    )


SQLITE_FTS_FILL = (
    "INSERT INTO articles_fts(rowid, title, summary, content) "
    "SELECT id, title, summary, content FROM articles WHERE id IN (SELECT article_id FROM hits)"
)


def upgrade() -> None:
    bind = op.get_bind()
    op.create_index("ix_hits_watchlist_found", "hits", ["watchlist", "found_at", "id"])
    if bind.dialect.name == "sqlite":
        try:
            with bind.begin_nested():
                for statement in sqlite_fts_ddl():
                    bind.exec_driver_sql(statement)
                bind.exec_driver_sql(SQLITE_FTS_FILL)
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
            "DROP TRIGGER IF EXISTS articles_fts_hit",
            "DROP TABLE IF EXISTS articles_fts",
        ):
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_articles_fts")
    op.drop_index("ix_hits_watchlist_found", table_name="hits")
