"""Retention: pruning stored articles and hits older than the configured ages.

Two rules, both optional (`retention.articles`, `retention.hits`):

* an article first seen before `now - articles` that has no hit is deleted,
  with its source rows and story-index keys;
* a hit found before `now - hits` is deleted with its deliveries, and then
  its article if no other hit remains on it.

A hit is never deleted while one of its deliveries still has to go out
(pending, sending, queued, held), nor while one is batched into a digest or
summary that has not been sent: the message is rendered from those rows.
Stories left without articles or hits go too.

Every batch of rows is its own short transaction, so the daemon's polls
and sends wait at most for one batch. Foreign keys cascade on PostgreSQL
and on SQLite (the engine turns them on), but the dependent rows are
deleted explicitly all the same: a connection with foreign keys off must
not leave orphans behind. Running it again finds nothing more to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, exists, select

from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    DeliveryRow,
    DeliveryStatus,
    HitRow,
    MessageRow,
    StoryKeyRow,
    StoryRow,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# Outbox states that still owe a send.
UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.QUEUED, DeliveryStatus.HELD)
UNSENT_MESSAGE = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class RetentionResult:
    """How many rows of each kind one pruning run deleted."""

    articles: int = 0
    sources: int = 0
    story_keys: int = 0
    stories: int = 0
    hits: int = 0
    deliveries: int = 0

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


class Retention:
    """Deletes what the retention settings no longer keep, in short batches."""

    def __init__(self, engine: Engine, batch_size: int = BATCH_SIZE) -> None:
        self.engine = engine
        self.batch_size = batch_size

    def prune(
        self,
        *,
        now: datetime,
        articles_after: float | None,
        hits_after: float | None,
    ) -> RetentionResult:
        """Prune hits older than `hits_after` seconds, then articles older than
        `articles_after` seconds that have no hits (None: keep for ever)."""
        result = RetentionResult()
        if hits_after is not None:
            result += self._prune_hits(now - timedelta(seconds=hits_after))
        if articles_after is not None:
            result += self._prune_articles(now - timedelta(seconds=articles_after))
        return result

    # --- hits ---------------------------------------------------------------

    def _prune_hits(self, cutoff: datetime) -> RetentionResult:
        owed = exists().where(
            DeliveryRow.hit_id == HitRow.id,
            DeliveryRow.status.in_(UNSENT)
            | exists().where(and_(MessageRow.id == DeliveryRow.message_id, MessageRow.status.in_(UNSENT_MESSAGE))),
        )
        query = (
            select(HitRow.id, HitRow.article_id)
            .where(HitRow.found_at < cutoff, ~owed)
            .order_by(HitRow.id)
            .limit(self.batch_size)
        )
        result = RetentionResult()
        last_id = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(query.where(HitRow.id > last_id)).all()
                if not rows:
                    return result
                last_id = rows[-1][0]
                hit_ids = [row[0] for row in rows]
                deliveries = conn.execute(delete(DeliveryRow).where(DeliveryRow.hit_id.in_(hit_ids))).rowcount
                hits = conn.execute(delete(HitRow).where(HitRow.id.in_(hit_ids))).rowcount
                article_ids = sorted({row[1] for row in rows})
                orphans = (
                    conn.execute(
                        select(ArticleRow.id).where(
                            ArticleRow.id.in_(article_ids), ~exists().where(HitRow.article_id == ArticleRow.id)
                        )
                    )
                    .scalars()
                    .all()
                )
                result += RetentionResult(hits=hits, deliveries=deliveries)
                result += _delete_articles(conn, list(orphans))

    # --- articles -------------------------------------------------------------

    def _prune_articles(self, cutoff: datetime) -> RetentionResult:
        query = (
            select(ArticleRow.id)
            .where(ArticleRow.first_seen_at < cutoff, ~exists().where(HitRow.article_id == ArticleRow.id))
            .order_by(ArticleRow.id)
            .limit(self.batch_size)
        )
        result = RetentionResult()
        last_id = 0
        while True:
            with self.engine.begin() as conn:
                ids = list(conn.execute(query.where(ArticleRow.id > last_id)).scalars())
                if not ids:
                    return result
                last_id = ids[-1]
                result += _delete_articles(conn, ids)


def _delete_articles(conn: Connection, ids: Sequence[int]) -> RetentionResult:
    """Delete these articles (which have no hits), their sources and keys,
    and the stories they leave empty."""
    if not ids:
        return RetentionResult()
    story_ids = [
        story_id
        for story_id in conn.execute(
            select(ArticleRow.story_id).where(ArticleRow.id.in_(ids), ArticleRow.story_id.is_not(None)).distinct()
        ).scalars()
    ]
    sources = conn.execute(delete(ArticleSourceRow).where(ArticleSourceRow.article_id.in_(ids))).rowcount
    articles = conn.execute(delete(ArticleRow).where(ArticleRow.id.in_(ids))).rowcount
    # Keys after their articles: `story_keys` has no foreign key (migration
    # 0010). On PostgreSQL the article delete waits for another daemon's
    # re-index holding these rows (FOR KEY SHARE) to commit their keys; this
    # statement's fresh snapshot (READ COMMITTED) then sees and removes them.
    keys = conn.execute(delete(StoryKeyRow).where(StoryKeyRow.article_id.in_(ids))).rowcount
    stories = 0
    if story_ids:
        stories = conn.execute(
            delete(StoryRow).where(
                StoryRow.id.in_(story_ids),
                ~exists().where(ArticleRow.story_id == StoryRow.id),
                ~exists().where(HitRow.story_id == StoryRow.id),
            )
        ).rowcount
    return RetentionResult(articles=articles, sources=sources, story_keys=keys, stories=stories)


def describe(result: RetentionResult) -> str:
    """One log line's worth of counts."""
    return (
        f"articles={result.articles} sources={result.sources} story_keys={result.story_keys} "
        f"stories={result.stories} hits={result.hits} deliveries={result.deliveries}"
    )
