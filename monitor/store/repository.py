"""Named database operations; the only code that writes SQL for the service.

Each public method is one transaction; `feed_transaction` and
`hit_transaction` (from `EntryStore`) hold one open while the caller decides
what to write (see `monitor.ingest`). No network I/O happens while a
transaction is open.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from monitor.models import (
    HitRecord,
    StoredArticle,
)
from monitor.store.analyze import FirstAnalyze
from monitor.store.entries import EntryStore
from monitor.store.feeds import FeedStore
from monitor.store.hits import HitFilter, find_hits, hit_records
from monitor.store.jobs import JobStore
from monitor.store.memkeys import MemoryKeys
from monitor.store.nodes import NodeStore
from monitor.store.pages import PageStore
from monitor.store.schema import (
    ArticleRow,
    FeedRow,
)
from monitor.store.storyindex import StoryIndexStore


class Repository(EntryStore, StoryIndexStore, FeedStore, NodeStore, JobStore, PageStore):
    """Every read and write of feeds (`FeedStore`), feed entries (`EntryStore`), the
    story index's upkeep (`StoryIndexStore`), nodes (`NodeStore`), once-per-cluster
    jobs (`JobStore`), late article pages (`PageStore`), articles and hits."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)
        # SQLite's story index, in memory (`store.memkeys`; loaded at start by
        # `StoryIndexStore.index_missing_story_keys`). PostgreSQL's is the story_keys table.
        self._memory = MemoryKeys() if engine.dialect.name == "sqlite" else None
        # A fresh PostgreSQL database's tables analysed early in its first poll.
        self._first_analyze = FirstAnalyze()

    # --- feeds -------------------------------------------------------------

    def article_count(self) -> int:
        with self._session.begin() as session:
            return int(session.scalar(select(func.count()).select_from(ArticleRow)) or 0)

    # --- hits ----------------------------------------------------------------

    def list_hits(
        self,
        since: datetime | None = None,
        watchlist: str | None = None,
        limit: int | None = None,
        *,
        by_story: bool = True,
    ) -> list[HitRecord]:
        """Stored hits, newest first, each with its story's sources (`monitor hits`).

        `by_story`: one hit per story and watchlist (its first), the copies
        shown as its sources. The same list as the API's (`store.hits`).
        """
        with self._session.begin() as session:
            found = find_hits(session, HitFilter(watchlist=watchlist, since=since), by_story=by_story, limit=limit)
            return hit_records(session, found.rows)

    # --- replays ---------------------------------------------------------------

    def count_articles(self, since: datetime | None = None) -> int:
        with self._session.begin() as session:
            query = select(func.count()).select_from(ArticleRow)
            if since is not None:
                query = query.where(ArticleRow.first_seen_at >= since)
            return int(session.scalar(query) or 0)

    def iter_articles(self, since: datetime | None = None, batch: int = 500) -> Iterator[list[StoredArticle]]:
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


def _stored(article: ArticleRow, feed: str) -> StoredArticle:
    return StoredArticle(
        id=article.id,
        feed=feed,
        title=article.title,
        summary=article.summary,
        content=article.content,
        link=article.link,
        published=article.published_at,
        page_text=article.page_text or "",
    )
