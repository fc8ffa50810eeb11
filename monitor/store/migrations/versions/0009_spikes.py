"""Spike alerts: hourly story counts per watchlist and entity, open surges,
and the spike alerts' outbox.

Revision ID: 0009_spikes
Revises: 0008_fulltext
Create Date: 2026-12-05

`trend_events` (one story of a series carried by one feed, in the hour it
was first seen), `trend_counts` (stories and outlets per series and hour,
recomputed from the events), `trend_marks` (how far the hits have been
read), `spike_state` (each series' open surge) and `spike_alerts` (one
surge or follow-up to one channel, unique per channel and key). The counts
start empty: the first spike job run rebuilds them from the stored hits.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_spikes"
down_revision = "0008_fulltext"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trend_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("series", sa.String(200), nullable=False),
        sa.Column("story_key", sa.BigInteger(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("hour", UTC_DATETIME, nullable=False),
        sa.UniqueConstraint("kind", "series", "story_key", "feed_id", name="uq_trend_events"),
    )
    op.create_index("ix_trend_events_series_hour", "trend_events", ["kind", "series", "hour"])
    op.create_index("ix_trend_events_hour", "trend_events", ["hour"])
    op.create_table(
        "trend_counts",
        sa.Column("kind", sa.String(12), primary_key=True),
        sa.Column("series", sa.String(200), primary_key=True),
        sa.Column("hour", UTC_DATETIME, primary_key=True),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column("outlets", sa.Integer(), nullable=False),
    )
    op.create_index("ix_trend_counts_hour", "trend_counts", ["hour"])
    op.create_table(
        "trend_marks",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("at", UTC_DATETIME, nullable=False),
    )
    op.create_table(
        "spike_state",
        sa.Column("kind", sa.String(12), primary_key=True),
        sa.Column("series", sa.String(200), primary_key=True),
        sa.Column("start", UTC_DATETIME, nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("per_day", sa.Float(), nullable=False),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("alerted_at", UTC_DATETIME, nullable=False),
    )
    op.create_table(
        "spike_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("series", sa.String(200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("surge_start", UTC_DATETIME, nullable=False),
        sa.Column("window_start", UTC_DATETIME, nullable=False),
        sa.Column("window_end", UTC_DATETIME, nullable=False),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column("outlets", sa.Integer(), nullable=False),
        sa.Column("per_day", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_targets", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("claimed_at", UTC_DATETIME, nullable=True),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.UniqueConstraint("channel", "key", name="uq_spike_alerts_channel_key"),
    )
    op.create_index("ix_spike_alerts_due", "spike_alerts", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_spike_alerts_due", table_name="spike_alerts")
    op.drop_table("spike_alerts")
    op.drop_table("spike_state")
    op.drop_table("trend_marks")
    op.drop_index("ix_trend_counts_hour", table_name="trend_counts")
    op.drop_table("trend_counts")
    op.drop_index("ix_trend_events_hour", table_name="trend_events")
    op.drop_index("ix_trend_events_series_hour", table_name="trend_events")
    op.drop_table("trend_events")
