"""Full text of article pages, and what kind of source a feed is.

Revision ID: 0008_fulltext
Revises: 0007_cluster
Create Date: 2026-12-04

`articles.page_text`: the main text extracted from the article's page ('' when
none); `page_state` (NULL: not wanted, `pending`, `retry`, `done`, `failed`),
`page_attempts`, `page_due_at`, `page_reason`, and a lease
(`page_lease_owner`, `page_lease_until`) so that daemons sharing a database
fetch each page once. `hits.matched_in`: `feed` or `page`, the text a hit
matched in. `feeds.kind` (rss, atom, rdf, jsonfeed, sitemap, html) and the
counts behind the full-text success rate (`pages_ok`, `pages_failed`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_fulltext"
down_revision = "0007_cluster"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("page_text", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("page_state", sa.String(12), nullable=True))
        batch.add_column(sa.Column("page_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("page_due_at", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("page_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("page_lease_owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("page_lease_until", UTC_DATETIME, nullable=True))
    op.create_index("ix_articles_page_due", "articles", ["page_state", "page_due_at"])
    with op.batch_alter_table("hits") as batch:
        batch.add_column(sa.Column("matched_in", sa.String(8), nullable=False, server_default="feed"))
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("pages_ok", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pages_failed", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("pages_failed")
        batch.drop_column("pages_ok")
        batch.drop_column("kind")
    with op.batch_alter_table("hits") as batch:
        batch.drop_column("matched_in")
    op.drop_index("ix_articles_page_due", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        for column in (
            "page_lease_until",
            "page_lease_owner",
            "page_reason",
            "page_due_at",
            "page_attempts",
            "page_state",
            "page_text",
        ):
            batch.drop_column(column)
