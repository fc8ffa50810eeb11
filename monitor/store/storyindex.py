"""The story index's upkeep: filled at start, pruned to the de-duplication window.

Owns `StoryIndexStore` (mixed into `Repository`). SQLite's index lives in
this process's memory (`store.memkeys`): loaded at start from the keys
stored with each article, after keys are computed for the window's
articles stored without them; SQLite runs one daemon per database. On
PostgreSQL the index is the `story_keys` table, shared by every daemon:
the start-up re-index holds the articles it keys (FOR KEY SHARE) so
another daemon's retention cannot delete one in between, and pruning runs
in short batches inside once-per-cluster housekeeping. Writing a feed's
new keys is `store.entries`' (in the feed's transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.keybatch import story_keys_many
from monitor.models import body_text
from monitor.store.memkeys import MemoryKeys, keys_blob
from monitor.store.schema import ArticleRow, StoryKeyRow
from monitor.store.stories import add_keys

__all__ = ["StoryIndexStore"]


class StoryIndexStore:
    """Filling and pruning the story index (mixed into `Repository`, which sets the attributes)."""

    _session: sessionmaker[Session]
    # SQLite's story index (None on PostgreSQL: the `story_keys` table).
    _memory: MemoryKeys | None

    @property
    def story_memory(self) -> MemoryKeys | None:
        """SQLite's in-memory story index (None on PostgreSQL)."""
        return self._memory

    def index_missing_story_keys(self, since: datetime, batch: int = 500) -> int:
        """Index recent articles whose keys are missing; run at start. Returns how many.

        PostgreSQL: articles of the window with no `story_keys` rows (a
        process stopped before its feed's keys were written). SQLite: the
        window's articles stored without keys (stored before migration 0012)
        get them computed and stored, then every key of the window is loaded
        into memory.
        """
        if self._memory is not None:
            # Ids grow with first_seen_at on SQLite's one daemon: the window
            # is read from its first id on, not the whole table.
            first = self._first_id_since(since)
            self._memory.clear()
            if first is None:
                return 0
            done = self._index_unkeyed(since, first - 1, batch)
            self._load_story_keys(since, first - 1, batch * 20)
            return done
        return self._index_unkeyed(since, 0, batch)

    def _index_unkeyed(self, since: datetime, last_id: int, batch: int) -> int:
        """Keys computed and stored for the window's articles (ids above
        `last_id`) that have none: SQLite's as each article's blob,
        PostgreSQL's as `story_keys` rows. Returns how many articles."""
        sqlite = self._memory is not None
        missing = (
            ArticleRow.story_keys.is_(None)
            if sqlite
            else ~select(StoryKeyRow.id).where(StoryKeyRow.article_id == ArticleRow.id).exists()
        )
        table = cast(Table, ArticleRow.__table__)
        done = 0
        while True:
            with self._session.begin() as session:
                rows = session.execute(
                    select(
                        ArticleRow.id, ArticleRow.title, ArticleRow.summary, ArticleRow.content, ArticleRow.page_text
                    )
                    .where(
                        ArticleRow.id > last_id,
                        ArticleRow.first_seen_at >= since,
                        ArticleRow.story_id.is_not(None),
                        missing,
                    )
                    .order_by(ArticleRow.id)
                    .limit(batch)
                    # PostgreSQL: held until the keys are in, so another
                    # daemon's retention cannot delete an article between
                    # this read and its keys' insert (what the foreign key
                    # did before migration 0010). SQLite's writers are serial.
                    .with_for_update(read=True, key_share=True)
                ).all()
                texts = [
                    (title, page_text or body_text(summary, content)) for _, title, summary, content, page_text in rows
                ]
                keyed = list(zip([row[0] for row in rows], story_keys_many(texts), strict=True)) if rows else []
                if keyed and sqlite:
                    session.execute(
                        table.update().where(table.c.id == bindparam("article_id")),
                        [{"article_id": article_id, "story_keys": keys_blob(keys)} for article_id, keys in keyed],
                    )
                elif keyed:
                    add_keys(session, sorted((key, article_id) for article_id, keys in keyed for key in keys))
            if not rows:
                return done
            done += len(rows)
            last_id = rows[-1][0]

    def _load_story_keys(self, since: datetime, last_id: int, batch: int) -> None:
        """SQLite: the in-memory index filled from the keys stored with the
        window's articles (ids above `last_id`)."""
        assert self._memory is not None
        while True:
            with self._session.begin() as session:
                rows = session.execute(
                    select(ArticleRow.id, ArticleRow.story_keys)
                    .where(
                        ArticleRow.id > last_id,
                        ArticleRow.first_seen_at >= since,
                        ArticleRow.story_keys.is_not(None),
                    )
                    .order_by(ArticleRow.id)
                    .limit(batch)
                ).all()
            if not rows:
                return
            self._memory.add_blobs((article_id, blob) for article_id, blob in rows if blob is not None)
            last_id = rows[-1][0]

    def prune_story_keys(self, before: datetime, batch: int = 20_000) -> int:
        """Drop story index keys older than `before`: no copy can join those stories any more.

        Keeps the index the size of one de-duplication window, however much
        is stored. PostgreSQL: short batched transactions. SQLite: this
        process's in-memory index forgets the articles before the window's
        first (their stored keys stay with them, never loaded again).
        """
        if self._memory is not None:
            lowest = self._first_id_since(before)
            if lowest is None:
                dropped = self._memory.count
                self._memory.clear()
                return dropped
            return self._memory.drop_below(lowest)
        dropped = 0
        while True:
            with self._session.begin() as session:
                oldest = (
                    select(StoryKeyRow.id)
                    .join(ArticleRow, ArticleRow.id == StoryKeyRow.article_id)
                    .where(ArticleRow.first_seen_at < before)
                    .limit(batch)
                )
                result = session.execute(delete(StoryKeyRow).where(StoryKeyRow.id.in_(oldest.scalar_subquery())))
                count = int(result.rowcount or 0)  # type: ignore[attr-defined]
            dropped += count
            if count < batch:
                return dropped

    def _first_id_since(self, since: datetime) -> int | None:
        """The first article id seen at or after `since` (ids grow with
        first_seen_at on SQLite's one daemon)."""
        with self._session.begin() as session:
            first = session.scalar(select(func.min(ArticleRow.id)).where(ArticleRow.first_seen_at >= since))
        return None if first is None else int(first)
