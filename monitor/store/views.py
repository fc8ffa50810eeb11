"""The reads the dashboard and the API show: hits (grouped by story), feeds, watchlist counts, the outbox.

The lists are the CLI's: hits come from `store.hits.find_hits` (as `monitor
hits` does), deliveries from `store.outbox.list_deliveries` (as `monitor
deliveries` does), feed health from `FeedStore.feed_health` (as `monitor
feeds` does). Every list is keyset-paginated on its sort key and id
(`store.paging.Cursor`), newest first, so a deep page costs what the first
one does. Reads go through a reader engine (on SQLite one without `BEGIN
IMMEDIATE`, so the dashboard never waits for the poller's write lock); the
one write, a retry, goes through `Outbox`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.models import DeliveryRecord, FeedHealth, HitRecord, StoredArticle
from monitor.store import search
from monitor.store.hits import HitFilter, HitRowTuple, find_hits, hit_records
from monitor.store.nodes import NodeRecord, leases_held, list_nodes
from monitor.store.outbox import UNSENT, Outbox, delivery_counts, list_deliveries
from monitor.store.paging import MAX_LIMIT, Cursor, split_page
from monitor.store.repository import Repository
from monitor.store.schema import ArticleRow, DeliveryRow, FeedRow, HitRow

T = TypeVar("T")


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


class Views:
    """The dashboard's and the API's named reads (and the retry write)."""

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
        with self._session() as session:
            found = find_hits(
                session, filters, by_story=group_stories, cursor=cursor, limit=limit + 1, search_index=self.search_index
            )
            rows, next_cursor = split_page(found.rows, limit, lambda row: Cursor(row[0].found_at, row[0].id))
            entries = self._entries(session, rows, group_stories)
        return Page(entries, next_cursor, found.note)

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
            entry = self._entries(session, [(hit, article, feed)], group_stories=True)[0]
            stored = StoredArticle(
                article.id,
                feed,
                article.title,
                article.summary,
                article.content,
                article.link,
                article.published_at,
                article.page_text or "",
            )
            return entry, stored

    def _entries(self, session: Session, rows: Sequence[HitRowTuple], group_stories: bool) -> list[HitEntry]:
        if not rows:
            return []
        hit_ids = [hit.id for hit, _, _ in rows]
        story_ids = sorted({hit.story_id for hit, _, _ in rows if hit.story_id is not None})
        deliveries: dict[int, list[DeliveryState]] = defaultdict(list)
        for d in session.execute(
            select(
                DeliveryRow.id,
                DeliveryRow.hit_id,
                DeliveryRow.channel,
                DeliveryRow.status,
                DeliveryRow.attempts,
                DeliveryRow.last_error,
            )
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
        records = hit_records(session, rows)
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
                    select(
                        ArticleRow.id,
                        ArticleRow.title,
                        ArticleRow.link,
                        ArticleRow.published_at,
                        ArticleRow.first_seen_at,
                    )
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
        with self._session() as session:
            found = list_deliveries(session, statuses=statuses, channel=channel, cursor=cursor, limit=limit + 1)
        records, next_cursor = split_page(found, limit, lambda record: Cursor(record.created_at, record.id))
        return Page(records, next_cursor)

    def delivery_counts(self) -> dict[str, int]:
        with self._session() as session:
            return delivery_counts(session)

    def retry(self, delivery_id: int, now: datetime) -> int:
        """Re-queue one failed delivery (its digest, if it failed in one); how many were re-queued."""
        return self.outbox.retry([delivery_id], now=now)

    # --- nodes ---------------------------------------------------------------

    def nodes(self, now: datetime, heartbeat: float) -> list[NodeRecord]:
        """The daemons sharing this database, as `monitor status` lists them (`store.nodes`)."""
        with self._session() as session:
            return list_nodes(session, now, heartbeat)

    def leases_held(self, node: str, now: datetime) -> int:
        """Feeds `node` holds an unexpired lease on (`monitor_leases_held`, read at scrape time)."""
        with self._session() as session:
            return leases_held(session, node, now)

    def ping(self) -> None:
        """SELECT 1 on the database (raises if it does not answer)."""
        with self.reader.connect() as conn:
            conn.execute(text("SELECT 1"))


__all__ = ["DeliveryState", "FeedArticle", "HitEntry", "Page", "Views", "reader_engine"]
