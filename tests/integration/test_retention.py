"""Retention: pruning old articles and hits, with a frozen `now`, on each backend."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.service import Service
from monitor.store.engine import make_engine
from monitor.store.retention import Retention, RetentionResult
from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    DeliveryRow,
    FeedRow,
    HitRow,
    MessageRow,
    StoryKeyRow,
    StoryRow,
)

NOW = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
DAY = 86400.0


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def populate(engine: Engine) -> dict[str, int]:
    """Articles and hits of every age and outbox state; returns their ids by name."""
    ids: dict[str, int] = {}
    with Session(engine) as s:
        feed = FeedRow(name="Diario", url="https://d.example/rss", created_at=ago(400))
        s.add(feed)
        s.flush()
        lonely = StoryRow(title="only old articles", first_seen_at=ago(40), last_seen_at=ago(40))
        shared = StoryRow(title="old and new", first_seen_at=ago(40), last_seen_at=ago(5))
        s.add_all([lonely, shared])
        s.flush()

        def article(name: str, days: float, story: StoryRow | None = None) -> ArticleRow:
            row = ArticleRow(
                feed_id=feed.id, guid=name, link=f"https://d.example/{name}", title=name,
                published_at=ago(days), first_seen_at=ago(days), story_id=story.id if story else None,
            )
            s.add(row)
            s.flush()
            s.add(ArticleSourceRow(article_id=row.id, feed_id=feed.id, guid=name, title=name, first_seen_at=ago(days)))
            s.add(StoryKeyRow(key=hash(name) & 0xFFFFFFFF, article_id=row.id))
            ids[name] = row.id
            return row

        def hit(name: str, a: ArticleRow, days: float, *statuses: str, message: MessageRow | None = None) -> None:
            row = HitRow(article_id=a.id, watchlist=name, terms=["x"], found_at=ago(days))
            s.add(row)
            s.flush()
            ids[name] = row.id
            for i, status in enumerate(statuses):
                s.add(
                    DeliveryRow(
                        hit_id=row.id, channel=f"c{i}", status=status, next_attempt_at=ago(days),
                        created_at=ago(days), message_id=message.id if message else None,
                    )
                )

        article("old_no_hits", 40, lonely)  # pruned, with its story
        article("old_shared_story", 40, shared)  # pruned; the story stays
        article("recent_no_hits", 5, shared)  # kept
        old_recent_hit = article("old_recent_hit", 40)
        hit("recent", old_recent_hit, 10, "sent")  # kept, and so its article
        old_sent = article("old_hit_sent", 100)
        hit("old_sent", old_sent, 100, "sent", "failed")  # pruned with both deliveries and its article
        for status in ("pending", "sending", "queued", "held"):
            a = article(f"old_hit_{status}", 100)
            hit(f"old_{status}", a, 100, "sent", status)  # kept: a send is owed
        unsent = MessageRow(
            channel="desk", kind="digest", window_start=ago(101), window_end=ago(100),
            next_attempt_at=ago(100), created_at=ago(100),
        )  # status pending by default
        s.add(unsent)
        s.flush()
        a = article("old_hit_in_unsent_digest", 100)
        hit("old_batched", a, 100, "batched", message=unsent)  # kept: the digest is rendered from it
        two = article("old_two_hits", 100)
        hit("old_one_of_two", two, 100, "sent")  # pruned
        hit("recent_one_of_two", two, 1, "sent")  # kept, and so the article
        s.commit()
    return ids


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (ArticleRow, ArticleSourceRow, StoryKeyRow, StoryRow, HitRow, DeliveryRow)
        }


def surviving(engine: Engine, model: type[ArticleRow] | type[HitRow], key: Callable) -> set[str]:
    with Session(engine) as s:
        return {key(row) for row in s.scalars(select(model))}


@pytest.mark.parametrize("batch_size", [1, 500])
def test_prune_keeps_what_is_owed_and_recent(database_url: str, batch_size: int) -> None:
    engine = make_engine(database_url)
    try:
        populate(engine)
        before = counts(engine)
        result = Retention(engine, batch_size=batch_size).prune(now=NOW, articles_after=30 * DAY, hits_after=90 * DAY)
        assert result == RetentionResult(
            articles=3, sources=3, story_keys=3, stories=1, hits=2, deliveries=3
        ), result
        after = counts(engine)
        assert {k: before[k] - after[k] for k in before} == {
            "articles": 3, "article_sources": 3, "story_keys": 3, "stories": 1, "hits": 2, "deliveries": 3,
        }
        assert surviving(engine, ArticleRow, lambda a: a.guid) == {
            "recent_no_hits", "old_recent_hit", "old_hit_pending", "old_hit_sending", "old_hit_queued",
            "old_hit_held", "old_hit_in_unsent_digest", "old_two_hits",
        }
        assert surviving(engine, HitRow, lambda h: h.watchlist) == {
            "recent", "old_pending", "old_sending", "old_queued", "old_held", "old_batched", "recent_one_of_two",
        }
        with Session(engine) as s:
            assert s.scalars(select(StoryRow.title)).all() == ["old and new"]
            # No orphans anywhere.
            assert s.scalar(
                select(func.count()).select_from(ArticleSourceRow).where(
                    ArticleSourceRow.article_id.not_in(select(ArticleRow.id))
                )
            ) == 0
        # Idempotent: nothing more to do.
        assert Retention(engine).prune(now=NOW, articles_after=30 * DAY, hits_after=90 * DAY).total == 0
    finally:
        engine.dispose()


def test_only_articles_retention_never_touches_hits(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        populate(engine)
        result = Retention(engine).prune(now=NOW, articles_after=30 * DAY, hits_after=None)
        assert (result.articles, result.hits, result.deliveries) == (2, 0, 0)
        assert surviving(engine, ArticleRow, lambda a: a.guid) >= {"old_hit_sent", "old_recent_hit"}
    finally:
        engine.dispose()


def test_housekeeping_prunes_with_the_configured_retention_and_logs_counts(
    make_settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings({"retention": {"articles": "30d", "hits": "90d"}})
    service = Service(settings, clock=lambda: NOW)
    try:
        populate(service.repo.engine)
        with caplog.at_level(logging.INFO, logger="monitor.service"):
            service.housekeeping()
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention:")]
        assert lines == [
            "retention: pruned articles=3 sources=3 story_keys=3 stories=1 hits=2 deliveries=3"
        ]
        service.housekeeping()  # daily, or every 6 h: the same result
        assert counts(service.repo.engine)["articles"] == 8
    finally:
        service.close()


def test_no_retention_configured_keeps_everything(make_settings) -> None:
    service = Service(make_settings({}), clock=lambda: NOW)
    try:
        populate(service.repo.engine)
        before = counts(service.repo.engine)
        assert service.prune() is None
        service.housekeeping()
        after = counts(service.repo.engine)
        # (Story-index keys past the de-duplication window are housekeeping's
        # own business, retention or not.)
        del before["story_keys"], after["story_keys"]
        assert after == before
    finally:
        service.close()
