"""The story index loses its foreign key to articles.

Revision ID: 0010_story_keys_no_fk
Revises: 0009_spikes
Create Date: 2026-12-05

`story_keys` is derived data: ~18 rows for every new article, written in
the feed's transaction. Checking each row against `articles` was 40 % of
those inserts on PostgreSQL (a trigger and a row lock per key: 10.2 against
6.3 ms for a feed's 900 keys) and 20 % on SQLite. Nothing relied on the
cascade: articles are deleted only by retention, which deletes their keys
in the same transaction, and a key whose article is gone finds nothing (a
lookup reads the articles by id).

PostgreSQL drops the constraint in place; SQLite, which cannot, copies the
table into one without it. Downgrade drops keys whose article is gone and
puts the constraint back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_story_keys_no_fk"
down_revision = "0009_spikes"
branch_labels = None
depends_on = None


def _rebuild_sqlite(with_fk: bool) -> None:
    """Copy story_keys into a table with or without the foreign key (SQLite)."""
    references = [sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE")] if with_fk else []
    op.create_table(
        "story_keys_new",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        *references,
    )
    keep = " WHERE article_id IN (SELECT id FROM articles)" if with_fk else ""
    op.execute(f"INSERT INTO story_keys_new (id, key, article_id) SELECT id, key, article_id FROM story_keys{keep}")
    op.drop_index("ix_story_keys_key", table_name="story_keys")
    op.drop_index("ix_story_keys_article", table_name="story_keys")
    op.drop_table("story_keys")
    op.rename_table("story_keys_new", "story_keys")
    op.create_index("ix_story_keys_key", "story_keys", ["key"])
    op.create_index("ix_story_keys_article", "story_keys", ["article_id"])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(with_fk=False)
        return
    for fk in sa.inspect(bind).get_foreign_keys("story_keys"):
        if fk["referred_table"] == "articles" and fk["name"]:
            op.drop_constraint(fk["name"], "story_keys", type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(with_fk=True)
        return
    op.execute(
        "DELETE FROM story_keys WHERE NOT EXISTS (SELECT 1 FROM articles WHERE articles.id = story_keys.article_id)"
    )
    op.create_foreign_key(
        "story_keys_article_id_fkey", "story_keys", "articles", ["article_id"], ["id"], ondelete="CASCADE"
    )
