"""The first released schema: feeds, articles, hits, messages, deliveries.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01

Frozen: this is what `create_all` made before migrations existed, so a
database without an alembic_version table but with these tables is stamped
at this revision and upgraded from here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def _send_state() -> list[sa.Column[object]]:
    """The columns every outbox row carries."""
    return [
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_targets", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("claimed_at", UTC_DATETIME, nullable=True),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("config_url", sa.String(2048), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("title", sa.String(1024), nullable=True),
        sa.Column("etag", sa.String(1024), nullable=True),
        sa.Column("last_modified", sa.String(200), nullable=True),
        sa.Column("last_polled_at", UTC_DATETIME, nullable=True),
        sa.Column("last_success_at", UTC_DATETIME, nullable=True),
        sa.Column("last_new_article_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTC_DATETIME, nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", UTC_DATETIME, nullable=True),
        sa.Column("admin_alerted", sa.Boolean(), nullable=False),
        sa.Column("unchanged_polls", sa.Integer(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("next_poll_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("window_start", UTC_DATETIME, nullable=False),
        sa.Column("window_end", UTC_DATETIME, nullable=False),
        *_send_state(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "kind", "window_end", name="uq_messages_window"),
    )
    op.create_index("ix_messages_due", "messages", ["status", "next_attempt_at"])
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(512), nullable=False),
        sa.Column("link", sa.String(2048), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author", sa.String(512), nullable=True),
        sa.Column("published_at", UTC_DATETIME, nullable=False),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "guid", name="uq_articles_feed_guid"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_articles_first_seen", "articles", ["first_seen_at"])
    op.create_index("ix_articles_link", "articles", ["link"])
    op.create_table(
        "hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("watchlist", sa.String(200), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.Column("snippets", sa.JSON(), nullable=False),
        sa.Column("found_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "watchlist", name="uq_hits_article_watchlist"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_hits_found_at", "hits", ["found_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        *_send_state(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hit_id", "channel", name="uq_deliveries_hit_channel"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
    )
    op.create_index("ix_deliveries_channel_sent", "deliveries", ["channel", "sent_at"])
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])


def downgrade() -> None:
    for table in ("deliveries", "hits", "articles", "messages", "feeds"):
        op.drop_table(table)
