"""PostgreSQL's search index holds only the articles with hits, as SQLite's does.

Revision ID: 0011_pg_search_hits_only
Revises: 0010_story_keys_no_fk
Create Date: 2026-12-05

Revision 0003 gave PostgreSQL a GIN index on a `to_tsvector` of every
article's title, summary and content: computed and merged into the index
for each of the fifty thousand articles of a cold start (6 of the 37
seconds of a cold cycle of 1,000 feeds), although search only ever looks
for articles with hits (the dashboard and API search hits). SQLite's FTS5
table has held only those since 0003.

Now PostgreSQL does the same: a table `article_search` (article id, its
`tsvector`) with a GIN index. An article enters with its first hit (a
statement-level trigger on `hits`, one per insert statement), follows edits
of its title, summary or content (a row trigger on `articles`) and leaves
with the article (its foreign key cascades). Two daemons inserting hits of
one article at once: the second's row conflicts on the primary key and is
skipped (`ON CONFLICT DO NOTHING`). The trigger functions keep the
`search_path` they were created with, so they find these tables whatever
path a later session sets.

SQLite: nothing changes. Downgrade puts the expression index back.
"""

from __future__ import annotations

from alembic import op

revision = "0011_pg_search_hits_only"
down_revision = "0010_story_keys_no_fk"
branch_labels = None
depends_on = None


def _vector(row: str = "") -> str:
    """The indexed text of an article (of the row named `row`), as revision 0003 indexed it."""
    at = f"{row}." if row else ""
    return (
        f"to_tsvector('simple', coalesce({at}title, '') || ' ' || coalesce({at}summary, '') "
        f"|| ' ' || coalesce({at}content, ''))"
    )


UPGRADE = (
    "CREATE TABLE article_search ("
    "article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE, "
    "vector TSVECTOR NOT NULL)",
    "CREATE INDEX ix_article_search ON article_search USING gin (vector)",
    # Planned at each call (EXECUTE), the articles read by primary key: a
    # plan kept by PL/pgSQL is made once per connection, at its first feed
    # of a cold start while `articles` is nearly empty, and stayed a scan
    # of every article for every later feed's hits.
    "CREATE FUNCTION monitor_article_search_hit() RETURNS trigger LANGUAGE plpgsql "
    "SET search_path FROM CURRENT AS $$ BEGIN "
    "EXECUTE $q$INSERT INTO article_search (article_id, vector) "
    f"SELECT a.id, {_vector('a')} FROM articles a WHERE a.id = ANY ($1) "
    "AND NOT EXISTS (SELECT 1 FROM article_search s WHERE s.article_id = a.id) "
    "ON CONFLICT (article_id) DO NOTHING$q$ "
    "USING ARRAY(SELECT DISTINCT article_id FROM new_hits); "
    "RETURN NULL; END $$",
    "CREATE TRIGGER article_search_hit AFTER INSERT ON hits REFERENCING NEW TABLE AS new_hits "
    "FOR EACH STATEMENT EXECUTE FUNCTION monitor_article_search_hit()",
    "CREATE FUNCTION monitor_article_search_update() RETURNS trigger LANGUAGE plpgsql "
    "SET search_path FROM CURRENT AS $$ BEGIN "
    f"UPDATE article_search SET vector = {_vector('NEW')} WHERE article_id = NEW.id; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER article_search_update AFTER UPDATE OF title, summary, content ON articles "
    "FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.summary IS DISTINCT FROM NEW.summary "
    "OR OLD.content IS DISTINCT FROM NEW.content) EXECUTE FUNCTION monitor_article_search_update()",
    f"INSERT INTO article_search (article_id, vector) SELECT a.id, {_vector('a')} FROM articles a "
    "WHERE a.id IN (SELECT article_id FROM hits)",
    "DROP INDEX IF EXISTS ix_articles_fts",
)

DOWNGRADE = (
    "DROP TRIGGER IF EXISTS article_search_update ON articles",
    "DROP TRIGGER IF EXISTS article_search_hit ON hits",
    "DROP FUNCTION IF EXISTS monitor_article_search_update()",
    "DROP FUNCTION IF EXISTS monitor_article_search_hit()",
    "DROP TABLE IF EXISTS article_search",
    f"CREATE INDEX IF NOT EXISTS ix_articles_fts ON articles USING gin (({_vector()}))",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in UPGRADE:
            bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for statement in DOWNGRADE:
            bind.exec_driver_sql(statement)
