"""Named database operations; the only code that writes SQL for the service.

Each public method is one transaction. `save_entries` stores one feed's new
articles, their hits and their outbox rows together, or nothing at all.
No network I/O happens while a transaction is open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.matcher import MatchResult
from monitor.core.polling import Decision
from monitor.models import (
    ArticleData,
    HitRecord,
    NewHit,
    StoredArticle,
)
from monitor.store.feeds import FeedStore, mark_success
from monitor.store.schema import ArticleRow, DeliveryRow, FeedRow, HitRow

MAX_GUID = 512
# Which outbox rows a new hit gets: (channel, initial status) pairs.
Router = Callable[[MatchResult], Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class SaveResult:
    """What one feed's update stored."""

    new_articles: int
    hits: tuple[NewHit, ...]


def guid_key(guid: str) -> str:
    """A guid short enough for the unique index (long ones are hashed)."""
    if len(guid) <= MAX_GUID:
        return guid
    return "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()


class Repository(FeedStore):
    """Every read and write of feeds (`FeedStore`), articles and hits."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    # --- feeds -------------------------------------------------------------

    def save_entries(
        self,
        feed_id: int,
        articles: Sequence[ArticleData],
        *,
        now: datetime,
        decide: Callable[[int], Decision],
        etag: str | None,
        last_modified: str | None,
        feed_title: str | None,
        match: Callable[[ArticleData], Sequence[MatchResult]],
        route: Router,
    ) -> SaveResult:
        """Store new articles, their hits and outbox rows in one transaction.

        An article already stored for this feed under the same guid, or
        anywhere under the same link, is not new. `decide` turns the number
        of new articles into the feed's next state.
        """
        with self._session.begin() as session:
            feed = session.get_one(FeedRow, feed_id)
            fresh = _unseen(session, feed_id, articles)
            new_hits: list[NewHit] = []
            if fresh:
                # One multi-row INSERT per feed (RETURNING the ids in order):
                # an ORM flush per row costs several times more.
                ids = session.scalars(
                    insert(ArticleRow).returning(ArticleRow.id, sort_by_parameter_order=True),
                    [
                        {
                            "feed_id": feed_id,
                            "guid": guid_key(article.guid),
                            "link": article.link,
                            "title": article.title,
                            "summary": article.summary,
                            "content": article.content,
                            "author": article.author,
                            "published_at": article.published or now,
                            "first_seen_at": now,
                        }
                        for article in fresh
                    ],
                ).all()
                found = [
                    _Found(article_id, result, article.title, article.link, feed.name, article.published or now)
                    for article_id, article in zip(ids, fresh, strict=True)
                    for result in match(article)
                ]
                new_hits = _insert_hits(session, found, route, now)
            mark_success(feed, now, decide(len(fresh)))
            feed.etag, feed.last_modified = etag, last_modified
            if feed_title:
                feed.title = feed_title[:1024]
            if fresh:
                feed.last_new_article_at = now
            return SaveResult(len(fresh), tuple(new_hits))

    def article_count(self) -> int:
        with self._session.begin() as session:
            return int(session.scalar(select(func.count()).select_from(ArticleRow)) or 0)

    # --- hits ----------------------------------------------------------------

    def list_hits(
        self,
        since: datetime | None = None,
        watchlist: str | None = None,
        limit: int | None = None,
    ) -> list[HitRecord]:
        """Stored hits, newest first."""
        with self._session.begin() as session:
            query = (
                select(HitRow, ArticleRow, FeedRow.name)
                .join(ArticleRow, HitRow.article_id == ArticleRow.id)
                .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                .order_by(HitRow.found_at.desc(), ArticleRow.published_at.desc(), HitRow.id.desc())
            )
            if since is not None:
                query = query.where(HitRow.found_at >= since)
            if watchlist:
                query = query.where(HitRow.watchlist == watchlist)
            if limit:
                query = query.limit(limit)
            return [hit_record(hit, art, feed) for hit, art, feed in session.execute(query)]

    # --- replays ---------------------------------------------------------------

    def count_articles(self, since: datetime | None = None) -> int:
        with self._session.begin() as session:
            query = select(func.count()).select_from(ArticleRow)
            if since is not None:
                query = query.where(ArticleRow.first_seen_at >= since)
            return int(session.scalar(query) or 0)

    def iter_articles(
        self, since: datetime | None = None, batch: int = 500
    ) -> Iterator[list[StoredArticle]]:
        """Stored articles first seen since `since`, oldest first, in batches.

        Keyset pagination by id: each batch is its own short transaction, so
        a long replay never holds the database.
        """
        last_id = 0
        while True:
            with self._session.begin() as session:
                query = (
                    select(ArticleRow, FeedRow.name)
                    .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                    .where(ArticleRow.id > last_id)
                    .order_by(ArticleRow.id)
                    .limit(batch)
                )
                if since is not None:
                    query = query.where(ArticleRow.first_seen_at >= since)
                rows = [_stored(article, feed) for article, feed in session.execute(query)]
            if not rows:
                return
            last_id = rows[-1].id
            yield rows

    def recent_articles(self, limit: int) -> list[StoredArticle]:
        """The last `limit` articles stored, newest first."""
        with self._session.begin() as session:
            query = (
                select(ArticleRow, FeedRow.name)
                .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                .order_by(ArticleRow.first_seen_at.desc(), ArticleRow.id.desc())
                .limit(limit)
            )
            return [_stored(article, feed) for article, feed in session.execute(query)]

    def add_hits(
        self,
        matches: Sequence[tuple[int, MatchResult]],
        *,
        now: datetime,
        route: Router,
    ) -> list[NewHit]:
        """Store hits found by a replay, skipping (article, watchlist) pairs already hit.

        `route` gives the outbox rows to queue (none: store only).
        """
        if not matches:
            return []
        with self._session.begin() as session:
            ids = sorted({article_id for article_id, _ in matches})
            existing: set[tuple[int, str]] = {
                (article_id, watchlist)
                for article_id, watchlist in session.execute(
                    select(HitRow.article_id, HitRow.watchlist).where(HitRow.article_id.in_(ids))
                )
            }
            articles = {
                article.id: (article, feed)
                for article, feed in session.execute(
                    select(ArticleRow, FeedRow.name)
                    .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                    .where(ArticleRow.id.in_(ids))
                )
            }
            found = []
            for article_id, result in matches:
                if (article_id, result.watchlist) in existing:
                    continue
                existing.add((article_id, result.watchlist))
                article, feed = articles[article_id]
                found.append(_Found(article_id, result, article.title, article.link, feed, article.published_at))
            return _insert_hits(session, found, route, now)

    def vacuum(self) -> None:
        """Housekeeping for SQLite: checkpoint the WAL and refresh statistics."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA optimize")
            conn.commit()
        raw = self.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


@dataclass(frozen=True)
class _Found:
    """A match about to be stored, with what its HitRecord shows of the article."""

    article_id: int
    result: MatchResult
    title: str
    link: str | None
    feed: str
    published: datetime


def _insert_hits(session: Session, found: Sequence[_Found], route: Router, now: datetime) -> list[NewHit]:
    """Hit rows and their outbox rows (one per routed channel), in the caller's transaction."""
    if not found:
        return []
    hit_ids = session.scalars(
        insert(HitRow).returning(HitRow.id, sort_by_parameter_order=True),
        [
            {
                "article_id": f.article_id,
                "watchlist": f.result.watchlist,
                "terms": list(f.result.terms),
                "snippet": f.result.snippet,
                "score": f.result.score,
                "spans": [[span.field, span.start, span.end] for span in f.result.spans],
                "snippets": list(f.result.snippets),
                "found_at": now,
            }
            for f in found
        ],
    ).all()
    deliveries: list[dict[str, object]] = []
    new_hits = []
    for hit_id, f in zip(hit_ids, found, strict=True):
        routes = tuple(route(f.result))
        deliveries.extend(
            {"hit_id": hit_id, "channel": channel, "status": status, "next_attempt_at": now, "created_at": now, "attempts": 0, "done_targets": []}
            for channel, status in routes
        )
        record = HitRecord(
            id=hit_id,
            watchlist=f.result.watchlist,
            title=f.title,
            link=f.link,
            feed=f.feed,
            terms=tuple(f.result.terms),
            snippet=f.result.snippet,
            score=f.result.score,
            published=f.published,
            found_at=now,
            spans=tuple((span.field, span.start, span.end) for span in f.result.spans),
            snippets=tuple(f.result.snippets),
        )
        new_hits.append(NewHit(record, tuple(channel for channel, _ in routes)))
    if deliveries:
        session.execute(insert(DeliveryRow), deliveries)
    return new_hits


def _stored(article: ArticleRow, feed: str) -> StoredArticle:
    return StoredArticle(
        id=article.id,
        feed=feed,
        title=article.title,
        summary=article.summary,
        content=article.content,
        link=article.link,
        published=article.published_at,
    )


def _unseen(session: Session, feed_id: int, articles: Sequence[ArticleData]) -> list[ArticleData]:
    """The articles not stored yet, each once, in feed order."""
    if not articles:
        return []
    guids = list({guid_key(a.guid) for a in articles})
    links = list({a.link for a in articles if a.link})
    seen_guids: set[str] = set()
    seen_links: set[str] = set()
    for chunk in _chunks(guids, 500):
        seen_guids.update(
            session.scalars(
                select(ArticleRow.guid).where(ArticleRow.feed_id == feed_id, ArticleRow.guid.in_(chunk))
            )
        )
    for chunk in _chunks(links, 500):
        seen_links.update(
            link
            for link in session.scalars(select(ArticleRow.link).where(ArticleRow.link.in_(chunk)))
            if link
        )
    fresh = []
    for article in articles:
        key = guid_key(article.guid)
        if key in seen_guids or (article.link and article.link in seen_links):
            continue
        seen_guids.add(key)
        if article.link:
            seen_links.add(article.link)
        fresh.append(article)
    return fresh


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def hit_record(hit: HitRow, article: ArticleRow, feed: str) -> HitRecord:
    return HitRecord(
        id=hit.id,
        watchlist=hit.watchlist,
        title=article.title,
        link=article.link,
        feed=feed,
        terms=tuple(hit.terms),
        snippet=hit.snippet,
        score=hit.score,
        published=article.published_at,
        found_at=hit.found_at,
        spans=tuple((str(f), int(a), int(b)) for f, a, b in (hit.spans or ())),
        snippets=tuple(hit.snippets or ()),
    )
