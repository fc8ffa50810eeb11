"""The dashboard's reads: hits (grouped by story), feeds, watchlist counts, the outbox.

Every list is keyset-paginated on its sort key and id (`Cursor`), newest
first, so a deep page costs what the first one does. Reads go through a
reader engine (on SQLite one without `BEGIN IMMEDIATE`, so the dashboard
never waits for the poller's write lock); the one write, a retry, goes
through `Outbox`.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Engine,
    Integer,
    and_,
    column,
    create_engine,
    event,
    exists,
    func,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.sql import Select

from monitor.models import DeliveryRecord, FeedHealth, HitRecord, StoredArticle
from monitor.store.outbox import Outbox, delivery_record
from monitor.store.repository import Repository, hit_record
from monitor.store.schema import (
    ArticleRow,
    DeliveryRow,
    DeliveryStatus,
    FeedRow,
    HitRow,
    MessageRow,
)
from monitor.store.stories import with_sources
from monitor.web import search

T = TypeVar("T")
MAX_LIMIT = 200
# Ids are INTEGER columns: 32-bit on PostgreSQL (and no SQLite database gets past that);
# a larger id names no row, and the database must not be asked about it.
MAX_ID = 2**31 - 1
# Without a search index, a search scans at most this many of the newest hits.
LIKE_SCAN = 20_000
UNSENT = (
    DeliveryStatus.FAILED,
    DeliveryStatus.PENDING,
    DeliveryStatus.SENDING,
    DeliveryStatus.HELD,
    DeliveryStatus.QUEUED,
    DeliveryStatus.BATCHED,
)
STATUSES = (*UNSENT, DeliveryStatus.SENT)


class BadCursor(ValueError):
    """A cursor that this server did not make."""


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first list: the last item's time and id."""

    at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.at.astimezone(UTC).isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, _, ident = raw.rpartition("|")
            when = datetime.fromisoformat(at)
            if when.tzinfo is None:
                raise ValueError("naive time")
            ident_value = int(ident)
            if not 0 <= ident_value <= MAX_ID:
                raise ValueError("id out of range")
            return cls(when.astimezone(UTC), ident_value)
        except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise BadCursor(f"invalid cursor {value[:40]!r}") from None


@dataclass(frozen=True)
class HitFilter:
    watchlist: str | None = None
    feed: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    story: int | None = None


@dataclass(frozen=True)
class DeliveryState:
    """One channel's alert of a hit, as the hits page shows it."""

    id: int
    channel: str
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class HitEntry:
    """A hit as the dashboard shows it: the record, its story's other feeds, its alerts.

    For a story, the entry stands for every hit of that story and watchlist
    (`copies` of them, the first shown, as `monitor hits` does); `sources`
    are the other feeds that carried the story.
    """

    record: HitRecord
    story_id: int | None
    copies: int
    sources: tuple[str, ...]
    deliveries: tuple[DeliveryState, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    note: str | None = None


@dataclass(frozen=True)
class FeedArticle:
    id: int
    title: str
    link: str | None
    published: datetime
    first_seen: datetime
    hits: tuple[str, ...]


def reader_engine(engine: Engine) -> Engine:
    """An engine for reads: SQLite without the writer's `BEGIN IMMEDIATE`; others as they are."""
    if engine.dialect.name != "sqlite":
        return engine
    reader = create_engine(engine.url, connect_args={"timeout": 30})

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    return reader


class WebStore:
    """The dashboard's named reads (and the retry write)."""

    def __init__(self, engine: Engine, *, search_index: bool | None = None) -> None:
        self.engine = engine
        self.reader = reader_engine(engine)
        self._session = sessionmaker(self.reader, expire_on_commit=False)
        self.repo = Repository(engine)
        self.outbox = Outbox(engine)
        self.search_index = search.available(engine) if search_index is None else search_index

    def close(self) -> None:
        if self.reader is not self.engine:
            self.reader.dispose()

    # --- hits ----------------------------------------------------------------

    def hits(
        self,
        filters: HitFilter,
        *,
        cursor: Cursor | None = None,
        limit: int = 50,
        group_stories: bool = False,
    ) -> Page[HitEntry]:
        """Hits newest first (found_at, id), filtered; with `group_stories` one entry per story+watchlist."""
        limit = max(1, min(limit, MAX_LIMIT))
        query: Select[Any] = (
            select(HitRow, ArticleRow, FeedRow.name)  # type: ignore[assignment]
            .join(ArticleRow, HitRow.article_id == ArticleRow.id)
            .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
            .order_by(HitRow.found_at.desc(), HitRow.id.desc())
            .limit(limit + 1)
        )
        if cursor is not None:
            query = query.where(
                HitRow.found_at <= cursor.at,
                or_(HitRow.found_at < cursor.at, and_(HitRow.found_at == cursor.at, HitRow.id < cursor.id)),
            )
        query, note = self._filtered(query, filters)
        if group_stories:
            # One entry per story and watchlist: its first hit, as `monitor hits` shows it.
            # (`+ 0` and `|| ''` keep SQLite on the story_id index, not a scan of ids or of the watchlist.)
            older = aliased(HitRow)
            query = query.where(
                or_(
                    HitRow.story_id.is_(None),
                    not_(
                        exists(
                            select(older.id).where(
                                older.story_id == HitRow.story_id,
                                older.watchlist.concat("") == HitRow.watchlist,
                                older.id + 0 < HitRow.id,
                            )
                        )
                    ),
                )
            )
        with self._session() as session:
            rows = list(session.execute(query, self._params(filters)))
            more = len(rows) > limit
            rows = rows[:limit]
            entries = self._entries(session, rows, group_stories)
        next_cursor = Cursor(rows[-1][0].found_at, rows[-1][0].id).encode() if more and rows else None
        return Page(entries, next_cursor, note)

    def hit(self, hit_id: int) -> tuple[HitEntry, StoredArticle] | None:
        with self._session() as session:
            row = session.execute(
                select(HitRow, ArticleRow, FeedRow.name)
                .join(ArticleRow, HitRow.article_id == ArticleRow.id)
                .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                .where(HitRow.id == hit_id)
            ).first()
            if row is None:
                return None
            hit, article, feed = row
            entry = self._entries(session, [row], group_stories=True)[0]
            stored = StoredArticle(
                article.id, feed, article.title, article.summary, article.content, article.link, article.published_at
            )
            return entry, stored

    def _filtered(self, query: Select[Any], filters: HitFilter) -> tuple[Select[Any], str | None]:
        note = None
        if filters.watchlist:
            query = query.where(HitRow.watchlist == filters.watchlist)
        if filters.feed:
            query = query.where(FeedRow.name == filters.feed)
        if filters.since is not None:
            query = query.where(HitRow.found_at >= filters.since)
        if filters.until is not None:
            query = query.where(HitRow.found_at < filters.until)
        if filters.story is not None:
            query = query.where(HitRow.story_id == filters.story)
        terms = search.SearchTerms.parse(filters.search or "")
        if terms:
            if self.search_index:
                ids = text(search.article_ids_clause(self.reader.dialect.name)).columns(column("id", Integer))
                query = query.where(ArticleRow.id.in_(ids))
            else:
                # No index: every word in the title or text, over the newest hits only.
                newest = select(HitRow.id).order_by(HitRow.found_at.desc(), HitRow.id.desc()).limit(LIKE_SCAN)
                query = query.where(HitRow.id.in_(newest.scalar_subquery()))
                for pattern in terms.like_patterns():
                    query = query.where(
                        or_(
                            ArticleRow.title.ilike(pattern),
                            ArticleRow.summary.ilike(pattern),
                            ArticleRow.content.ilike(pattern),
                        )
                    )
                note = f"no search index on this database: searched the newest {LIKE_SCAN:,} hits only"
        return query, note

    def _params(self, filters: HitFilter) -> dict[str, Any]:
        terms = search.SearchTerms.parse(filters.search or "")
        if terms and self.search_index:
            return {"q": search.search_param(terms, self.reader.dialect.name)}
        return {}

    def _entries(self, session: Session, rows: Sequence[Any], group_stories: bool) -> list[HitEntry]:
        if not rows:
            return []
        hit_ids = [hit.id for hit, _, _ in rows]
        story_ids = sorted({hit.story_id for hit, _, _ in rows if hit.story_id is not None})
        deliveries: dict[int, list[DeliveryState]] = defaultdict(list)
        for d in session.execute(
            select(DeliveryRow.id, DeliveryRow.hit_id, DeliveryRow.channel, DeliveryRow.status, DeliveryRow.attempts, DeliveryRow.last_error)
            .where(DeliveryRow.hit_id.in_(hit_ids))
            .order_by(DeliveryRow.channel, DeliveryRow.id)
        ):
            deliveries[d.hit_id].append(DeliveryState(d.id, d.channel, d.status, d.attempts, d.last_error))
        copies: dict[tuple[int, str], int] = {}
        if story_ids and group_stories:
            for story_id, watchlist, count in session.execute(
                select(HitRow.story_id, HitRow.watchlist, func.count())
                .where(HitRow.story_id.in_(story_ids))
                .group_by(HitRow.story_id, HitRow.watchlist)
            ):
                if story_id is not None:
                    copies[(story_id, watchlist)] = int(count)
        records = with_sources(session, [hit_record(hit, article, feed) for hit, article, feed in rows])
        entries = []
        for (hit, _article, _feed), record in zip(rows, records, strict=True):
            names = []
            for source in record.also_reported_by:
                if source.feed not in names and source.feed != record.feed:
                    names.append(source.feed)
            entries.append(
                HitEntry(
                    record=record,
                    story_id=hit.story_id,
                    copies=copies.get((hit.story_id, hit.watchlist), 1) if hit.story_id is not None else 1,
                    sources=tuple(names),
                    deliveries=tuple(deliveries.get(hit.id, ())),
                )
            )
        return entries

    # --- watchlists ----------------------------------------------------------

    def daily_hits(self, now: datetime, days: int = 30) -> dict[str, list[int]]:
        """Hits per watchlist per UTC day, oldest day first, the last `days` days (today included)."""
        today = now.astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        if self.reader.dialect.name == "sqlite":
            day = func.substr(HitRow.found_at, 1, 10)
        else:
            day = func.to_char(func.timezone("UTC", HitRow.found_at), "YYYY-MM-DD")
        query = (
            select(HitRow.watchlist, day.label("day"), func.count())
            .where(HitRow.found_at >= start)
            .group_by(HitRow.watchlist, day)
        )
        out: dict[str, list[int]] = {}
        with self._session() as session:
            for watchlist, when, count in session.execute(query):
                index = (datetime.strptime(str(when)[:10], "%Y-%m-%d").date() - first).days
                if 0 <= index < days:
                    out.setdefault(watchlist, [0] * days)[index] += int(count)
        return out

    def hit_totals(self) -> dict[str, int]:
        with self._session() as session:
            return {
                name: int(count)
                for name, count in session.execute(select(HitRow.watchlist, func.count()).group_by(HitRow.watchlist))
            }

    def recent_articles(self, limit: int) -> list[StoredArticle]:
        return self.repo.recent_articles(limit)

    # --- feeds ---------------------------------------------------------------

    def feed_health(self) -> list[FeedHealth]:
        return self.repo.feed_health()

    def articles_per_day(self, now: datetime, days: int = 7) -> dict[str, float]:
        """Each feed's new articles per day over the last `days` days."""
        query = (
            select(FeedRow.name, func.count())
            .join(ArticleRow, ArticleRow.feed_id == FeedRow.id)
            .where(ArticleRow.first_seen_at >= now - timedelta(days=days))
            .group_by(FeedRow.name)
        )
        with self._session() as session:
            return {name: int(count) / days for name, count in session.execute(query)}

    def feed_articles(self, name: str, limit: int = 50) -> list[FeedArticle]:
        with self._session() as session:
            feed_id = session.scalar(select(FeedRow.id).where(FeedRow.name == name))
            if feed_id is None:
                return []
            articles = list(
                session.execute(
                    select(ArticleRow.id, ArticleRow.title, ArticleRow.link, ArticleRow.published_at, ArticleRow.first_seen_at)
                    .where(ArticleRow.feed_id == feed_id)
                    .order_by(ArticleRow.first_seen_at.desc(), ArticleRow.id.desc())
                    .limit(limit)
                )
            )
            hits: dict[int, list[str]] = defaultdict(list)
            if articles:
                for article_id, watchlist in session.execute(
                    select(HitRow.article_id, HitRow.watchlist).where(HitRow.article_id.in_([a.id for a in articles]))
                ):
                    hits[article_id].append(watchlist)
            return [
                FeedArticle(a.id, a.title, a.link, a.published_at, a.first_seen_at, tuple(sorted(hits.get(a.id, ()))))
                for a in articles
            ]

    def last_polled_at(self) -> datetime | None:
        with self._session() as session:
            return session.scalar(select(func.max(FeedRow.last_polled_at)))

    # --- deliveries ----------------------------------------------------------

    def deliveries(
        self,
        *,
        statuses: Sequence[str] = UNSENT,
        channel: str | None = None,
        cursor: Cursor | None = None,
        limit: int = 50,
    ) -> Page[DeliveryRecord]:
        """Outbox rows newest first (created_at, id), as `monitor deliveries` lists them."""
        limit = max(1, min(limit, MAX_LIMIT))
        query = (
            select(DeliveryRow, HitRow.watchlist, ArticleRow.title, MessageRow.kind)
            .join(HitRow, DeliveryRow.hit_id == HitRow.id)
            .join(ArticleRow, HitRow.article_id == ArticleRow.id)
            .outerjoin(MessageRow, DeliveryRow.message_id == MessageRow.id)
            .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
            .limit(limit + 1)
        )
        if statuses:
            query = query.where(DeliveryRow.status.in_(list(statuses)))
        if channel:
            query = query.where(DeliveryRow.channel == channel)
        if cursor is not None:
            query = query.where(
                DeliveryRow.created_at <= cursor.at,
                or_(
                    DeliveryRow.created_at < cursor.at,
                    and_(DeliveryRow.created_at == cursor.at, DeliveryRow.id < cursor.id),
                ),
            )
        with self._session() as session:
            rows = list(session.execute(query))
        more = len(rows) > limit
        rows = rows[:limit]
        records = [
            delivery_record(row, watchlist, title, kind)
            for row, watchlist, title, kind in rows
        ]
        next_cursor = Cursor(rows[-1][0].created_at, rows[-1][0].id).encode() if more and rows else None
        return Page(records, next_cursor)

    def delivery_counts(self) -> dict[str, int]:
        with self._session() as session:
            return {
                status: int(count)
                for status, count in session.execute(
                    select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
                )
            }

    def retry(self, delivery_id: int, now: datetime) -> int:
        """Re-queue one failed delivery (its digest, if it failed in one); how many were re-queued."""
        return self.outbox.retry([delivery_id], now=now)

    def ping(self) -> None:
        """SELECT 1 on the database (raises if it does not answer)."""
        with self.reader.connect() as conn:
            conn.execute(text("SELECT 1"))
