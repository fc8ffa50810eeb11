"""The database schema, in one place: feeds, articles and their sources,
stories and their index keys, hits, and the outbox (deliveries, messages).

SQLAlchemy 2.x typed ORM. Every timestamp is stored and returned as an
aware UTC datetime, whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from monitor.models import Snippet


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


class SnippetsJSON(TypeDecorator[tuple[Snippet, ...]]):
    """A hit's snippets as JSON: ``[{"text": "...", "marks": [[start, end], ...]}]``.

    The matches are offsets into the text, so nothing in feed text (``**``,
    ``<mark>``) can be read as a highlight. Reading is lenient: a bare
    string (written before revision 0004, or by hand) is a snippet with no
    marks, and marks that do not fit their text are dropped.
    """

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return [{"text": s.text, "marks": [list(mark) for mark in s.marks]} for s in value]

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[Snippet, ...]:
        return tuple(_snippet(item) for item in value or ())


def _snippet(item: Any) -> Snippet:
    if not isinstance(item, dict):
        return Snippet(str(item))
    text = str(item.get("text") or "")
    try:
        return Snippet(text, tuple((int(a), int(b)) for a, b in item.get("marks") or ()))
    except (TypeError, ValueError):
        return Snippet(text)


class Base(DeclarativeBase):
    pass


class DeliveryStatus:
    """The states of an outbox row (a delivery or a message).

    pending → sending → sent, or back to pending with a retry time, or failed
    for good. A delivery for a digest channel waits as `queued` until a digest
    takes it; one over an instant channel's hourly cap waits as `held` until a
    summary takes it. Either is then `batched` into that message, and sent or
    failed with it.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    QUEUED = "queued"
    HELD = "held"
    BATCHED = "batched"


class FeedRow(Base):
    """A configured feed, its HTTP validators and its health."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # `url` is what is fetched: the configured URL, or where a 301/308 moved it.
    url: Mapped[str] = mapped_column(String(2048))
    config_url: Mapped[str] = mapped_column(String(2048), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # still in the config
    # Disabled by the feed itself (410 Gone); re-enabled when its config URL changes.
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    title: Mapped[str | None] = mapped_column(String(1024), default=None)
    etag: Mapped[str | None] = mapped_column(String(1024), default=None)
    last_modified: Mapped[str | None] = mapped_column(String(200), default=None)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_new_article_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    admin_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Successful polls in a row that brought nothing new (adaptive interval).
    unchanged_polls: Mapped[int] = mapped_column(Integer, default=0)
    interval_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The daemon polling it now, and until when its claim holds (several
    # daemons on one PostgreSQL: a feed is polled by whoever holds the lease;
    # an expired lease is anyone's).
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # What the source is (rss, atom, rdf, jsonfeed, sitemap, html), from its last parse.
    kind: Mapped[str | None] = mapped_column(String(16), default=None)
    # Article pages fetched for this feed's entries: read, and given up on.
    pages_ok: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pages_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class NodeRow(Base):
    """A daemon sharing this database: who it is and when it last said so.

    Each daemon writes only its own row (insert at start, heartbeat, stop);
    anyone may read them (`monitor status`, the dashboard). A row whose
    heartbeat is old is a stale node: it crashed or lost the database.
    """

    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    config_hash: Mapped[str] = mapped_column(String(64))
    web_url: Mapped[str | None] = mapped_column(String(300), default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class JobRunRow(Base):
    """When a once-per-cluster job (housekeeping, retention) last ran, and where.

    Written under the job's lock by whichever daemon runs it, so the others
    see it was done and skip their turn.
    """

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    node: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class StoryRow(Base):
    """Articles from any feeds that tell the same story (near-duplicates).

    `alerted_at` is when the story first got an outbox row, `escalated_at`
    when its one follow-up ("now reported by N outlets") was queued.
    """

    __tablename__ = "stories"
    __table_args__ = (Index("ix_stories_last_seen", "last_seen_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    escalated_outlets: Mapped[int | None] = mapped_column(Integer, default=None)


class ArticleRow(Base):
    """One stored article, whichever feeds carried it (see `ArticleSourceRow`).

    Identified by its canonical URL across feeds, and per feed by guid.
    `content_hash` fingerprints the text that matters, so a changed entry
    under a stable guid is seen as an update.
    """

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_articles_feed_guid"),
        Index("ix_articles_link", "link"),
        Index("ix_articles_canonical_url", "canonical_url"),
        Index("ix_articles_first_seen", "first_seen_at"),
        Index("ix_articles_story", "story_id"),
        Index("ix_articles_page_due", "page_state", "page_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The feed that brought it first (every feed that carries it: sources).
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(512))
    link: Mapped[str | None] = mapped_column(String(2048), default=None)
    canonical_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(512), default=None)
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), default=None)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The article page's main text ('' when none was fetched or it added nothing).
    page_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Its fetch: NULL (not wanted), pending, retry, done or failed (`fulltext`).
    # A daemon leases a due page (page_lease_*) before fetching it, so
    # daemons sharing the database fetch each page once.
    page_state: Mapped[str | None] = mapped_column(String(12), default=None)
    page_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    page_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    page_reason: Mapped[str | None] = mapped_column(Text, default=None)
    page_lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    page_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # SQLite: the article's story index keys (little-endian int64s,
    # `store.memkeys.keys_blob`), from which the in-memory index is rebuilt
    # at start. NULL on PostgreSQL (its keys are `story_keys` rows) and for
    # articles stored with de-duplication off.
    story_keys: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)

    feed: Mapped[FeedRow] = relationship()


class ArticleSourceRow(Base):
    """One feed entry that carried an article: the publisher's, an aggregator's, ..."""

    __tablename__ = "article_sources"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_sources_feed_guid"),
        Index("ix_sources_article", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(512))
    link: Mapped[str | None] = mapped_column(String(2048), default=None)
    title: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StoryKeyRow(Base):
    """The story index: LSH band keys and lead-sentence keys of recent articles.

    Looking a new article up is an index probe per key, so its cost follows
    the size of a bucket, not the number of stored articles; keys of articles
    older than the de-duplication window are pruned.
    """

    __tablename__ = "story_keys"
    __table_args__ = (Index("ix_story_keys_key", "key"), Index("ix_story_keys_article", "article_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger)
    # Its age is the article's first_seen_at: two integers per row keep the
    # tens of keys each new article writes cheap. No foreign key (migration
    # 0010): checking each of a feed's ~900 keys against articles was 40 %
    # of their insert on PostgreSQL. Whoever deletes articles deletes their
    # keys in the same transaction (retention does); a key whose article is
    # gone finds nothing, since lookups read the articles by id.
    article_id: Mapped[int] = mapped_column(Integer)


class HitRow(Base):
    """One watchlist match of one article, with why it matched."""

    __tablename__ = "hits"
    __table_args__ = (
        UniqueConstraint("article_id", "watchlist", name="uq_hits_article_watchlist"),
        Index("ix_hits_found_at", "found_at"),
        # Keyset pages of one watchlist's hits (the dashboard and API).
        Index("ix_hits_watchlist_found", "watchlist", "found_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), default=None, index=True
    )
    watchlist: Mapped[str] = mapped_column(String(200))
    terms: Mapped[list[str]] = mapped_column(JSON)
    snippet: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    # [[field, start, end], ...]: character offsets into the stored title/text.
    spans: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    # The best few snippets with their matches marked (why it matched).
    snippets: Mapped[tuple[Snippet, ...]] = mapped_column(SnippetsJSON, default=tuple)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The text it matched in: `feed` (title and the feed's text) or `page`
    # (only the article page's full text has it).
    matched_in: Mapped[str] = mapped_column(String(8), default="feed", server_default="feed")

    article: Mapped[ArticleRow] = relationship()


class SendState:
    """The columns every outbox row carries: where it is in its life and how its sends went."""

    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Fingerprints (never the URLs: they carry secrets) of the channel's
    # URLs that already accepted it, so a retry skips them.
    done_targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageRow(SendState, Base):
    """A message carrying many hits to one channel: a digest or a storm summary.

    Its window is recorded, unique per channel and kind, before it is sent,
    so the same window is never sent twice.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "kind", "window_end", name="uq_messages_window"),
        Index("ix_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "digest" | "summary"
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)


class NoticeRow(SendState, Base):
    """An operational message to one channel (the admin channel): a feed
    failing for long, or recovered. Written in the transaction that records
    the feed's state; `key` names the event, so it is queued once whoever
    records it (two daemons, a retried transaction)."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("channel", "key", name="uq_notices_channel_key"),
        Index("ix_notices_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


class DeliveryRow(SendState, Base):
    """The outbox: one alert of one hit to one channel, and its outcome."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("hit_id", "channel", "kind", name="uq_deliveries_hit_channel_kind"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_channel_sent", "channel", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    # "alert": the hit itself; "escalation": its story's one follow-up.
    kind: Mapped[str] = mapped_column(String(16), default="alert")
    # The digest or summary that carries this hit, if any.
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None, index=True
    )

    hit: Mapped[HitRow] = relationship()


# --- spike alerts (store.trends): hourly counts per watchlist and entity, surges, their outbox ---


class TrendEventRow(Base):
    """One story of a series (a watchlist, or an entity) carried by one feed,
    in the UTC hour it was first seen there (`store.trends`).

    `story_key` is the story's id (an article without a story: minus its
    id). The unique key makes counting idempotent: the update that writes
    these reads hits again with an overlap, and two writers (two daemons, a
    replay) insert the same rows with ON CONFLICT DO NOTHING. No foreign
    keys: the counts outlive retention and a feed's removal.
    """

    __tablename__ = "trend_events"
    __table_args__ = (
        UniqueConstraint("kind", "series", "story_key", "feed_id", name="uq_trend_events"),
        Index("ix_trend_events_series_hour", "kind", "series", "hour"),
        Index("ix_trend_events_hour", "hour"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # "watchlist" | "entity"
    series: Mapped[str] = mapped_column(String(200))
    story_key: Mapped[int] = mapped_column(BigInteger)
    feed_id: Mapped[int] = mapped_column(Integer)
    hour: Mapped[datetime] = mapped_column(UTCDateTime)


class TrendCountRow(Base):
    """A series' counts in one UTC hour: stories first seen in it (a story
    counts once, in its first hour) and distinct feeds that carried one.
    Recomputed from `trend_events` for the hours an update touched."""

    __tablename__ = "trend_counts"
    __table_args__ = (Index("ix_trend_counts_hour", "hour"),)

    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    series: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    stories: Mapped[int] = mapped_column(Integer, default=0)
    outlets: Mapped[int] = mapped_column(Integer, default=0)


class TrendMarkRow(Base):
    """How far the counts have read the hits (`hits`: found_at up to `at`)."""

    __tablename__ = "trend_marks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpikeStateRow(Base):
    """A series' open surge (`core.spikes.SurgeState`), so a restart mid-surge
    does not alert again. Written by the once-per-cluster spike job only."""

    __tablename__ = "spike_state"

    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    series: Mapped[str] = mapped_column(String(200), primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    expected: Mapped[float] = mapped_column(Float)
    per_day: Mapped[float] = mapped_column(Float)
    stories: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    alerted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpikeAlertRow(SendState, Base):
    """The outbox of spike alerts: one surge (or follow-up) to one channel.

    `key` names the series, the surge's start and the alert's level, unique
    per channel: whoever queues it (two daemons, a job run twice) queues it
    once. `detail` holds what the message lists (top stories and outlets).
    """

    __tablename__ = "spike_alerts"
    __table_args__ = (
        UniqueConstraint("channel", "key", name="uq_spike_alerts_channel_key"),
        Index("ix_spike_alerts_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(12))
    series: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    surge_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    stories: Mapped[int] = mapped_column(Integer)
    outlets: Mapped[int] = mapped_column(Integer)
    per_day: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
