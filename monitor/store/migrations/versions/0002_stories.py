"""Stories: article sources, the story index, canonical URLs, escalations.

Revision ID: 0002_stories
Revises: 0001_initial
Create Date: 2025-01-02

New tables stories, article_sources and story_keys; articles gain
canonical_url, content_hash, story_id and updated_at; hits gain story_id;
deliveries gain kind, unique per (hit, channel, kind).

Backfill: every existing article gets its one source row (the feed entry
that brought it) and its canonical URL.

On SQLite, articles, hits and deliveries are rebuilt (batch mode: copy,
drop, rename) once. A column-level REFERENCES added by ALTER TABLE would
spare the copy, but SQLAlchemy does not reflect its ON DELETE action, so a
later batch rebuild would silently lose it; table-level constraints are
reflected whole. The foreign keys are named as PostgreSQL names them when
`create_all` makes the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.core.identity import canonical_url

revision = "0002_stories"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)
URL_LENGTH = 2048
BACKFILL_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("alerted_at", UTC_DATETIME, nullable=True),
        sa.Column("escalated_at", UTC_DATETIME, nullable=True),
        sa.Column("escalated_outlets", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stories_last_seen", "stories", ["last_seen_at"])

    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("canonical_url", sa.String(URL_LENGTH), nullable=True))
        batch.add_column(sa.Column("content_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("updated_at", UTC_DATETIME, nullable=True))
        batch.create_foreign_key("articles_story_id_fkey", "stories", ["story_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_articles_canonical_url", ["canonical_url"])
        batch.create_index("ix_articles_story", ["story_id"])

    op.create_table(
        "article_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(512), nullable=False),
        sa.Column("link", sa.String(URL_LENGTH), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "guid", name="uq_sources_feed_guid"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_sources_article", "article_sources", ["article_id"])

    op.create_table(
        "story_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_story_keys_key", "story_keys", ["key"])
    op.create_index("ix_story_keys_article", "story_keys", ["article_id"])

    with op.batch_alter_table("hits") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("hits_story_id_fkey", "stories", ["story_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_hits_story_id", ["story_id"])

    # Existing rows are alerts; the server default only fills them in and
    # is dropped again, as the schema declares none.
    op.add_column("deliveries", sa.Column("kind", sa.String(16), nullable=False, server_default="alert"))
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("kind", existing_type=sa.String(16), existing_nullable=False, server_default=None)
        batch.drop_constraint("uq_deliveries_hit_channel", type_="unique")
        batch.create_unique_constraint("uq_deliveries_hit_channel_kind", ["hit_id", "channel", "kind"])

    _backfill()


def _backfill() -> None:
    """One source row per existing article, and every article's canonical URL."""
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO article_sources (article_id, feed_id, guid, link, title, first_seen_at) "
            "SELECT id, feed_id, guid, link, title, first_seen_at FROM articles ORDER BY id"
        )
    )
    articles = sa.table(
        "articles",
        sa.column("id", sa.Integer()),
        sa.column("link", sa.String()),
        sa.column("canonical_url", sa.String()),
    )
    update = (
        sa.update(articles).where(articles.c.id == sa.bindparam("article_id")).values(canonical_url=sa.bindparam("url"))
    )
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(articles.c.id, articles.c.link)
            .where(articles.c.id > last_id, articles.c.link.is_not(None))
            .order_by(articles.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        values = []
        for article_id, link in rows:
            url = canonical_url(link)
            if url and len(url) <= URL_LENGTH:
                values.append({"article_id": article_id, "url": url})
        if values:
            bind.execute(update, values)
        last_id = rows[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM deliveries WHERE kind <> 'alert'"))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_hit_channel_kind", type_="unique")
        batch.create_unique_constraint("uq_deliveries_hit_channel", ["hit_id", "channel"])
        batch.drop_column("kind")
    with op.batch_alter_table("hits") as batch:
        batch.drop_index("ix_hits_story_id")
        batch.drop_column("story_id")
    op.drop_table("story_keys")
    op.drop_table("article_sources")
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_story")
        batch.drop_index("ix_articles_canonical_url")
        batch.drop_column("updated_at")
        batch.drop_column("story_id")
        batch.drop_column("content_hash")
        batch.drop_column("canonical_url")
    op.drop_table("stories")
