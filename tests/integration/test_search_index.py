"""The full-text index holds exactly the articles that have hits, and follows
them, on both backends (SQLite's FTS5 table, PostgreSQL's `article_search`),
read through the query search uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, text, update

from monitor.store import search
from monitor.store.engine import make_engine
from monitor.store.schema import ArticleRow, FeedRow, HitRow

NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def found(engine, words: str) -> list[int]:
    dialect = engine.dialect.name
    with engine.connect() as conn:
        params = {"q": search.search_param(search.SearchTerms.parse(words), dialect)}
        return sorted(r[0] for r in conn.execute(text(search.article_ids_clause(dialect)), params))


def test_index_follows_hits_updates_and_deletes(engine) -> None:
    assert search.available(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(FeedRow), [{"id": 1, "name": "F", "url": "http://f/", "config_url": "http://f/", "created_at": NOW}]
        )
        conn.execute(
            insert(ArticleRow),
            [
                {
                    "id": i,
                    "feed_id": 1,
                    "guid": f"g{i}",
                    "title": f"Cártel story {i}",
                    "summary": "",
                    "content": "Culiacán border",
                    "published_at": NOW,
                    "first_seen_at": NOW,
                }
                for i in (1, 2, 3)
            ],
        )
    assert found(engine, "border") == []  # stored, no hit: not indexed
    with engine.begin() as conn:
        for hit_id, watchlist in ((1, "a"), (2, "b")):  # two hits, one entry
            conn.execute(
                insert(HitRow), [{"id": hit_id, "article_id": 1, "watchlist": watchlist, "terms": [], "found_at": NOW}]
            )
        # Two hits of one article in one statement, with one of another: one entry each.
        conn.execute(
            insert(HitRow),
            [
                {"id": 3 + i, "article_id": article, "watchlist": "c", "terms": [], "found_at": NOW}
                for i, article in enumerate((1, 3))
            ],
        )
    assert found(engine, "border") == [1, 3] and found(engine, "bord*") == [1, 3]
    if engine.dialect.name == "sqlite":
        assert found(engine, "culiacan cartel") == [1, 3]  # accents folded
    with engine.begin() as conn:
        conn.execute(update(ArticleRow).where(ArticleRow.id == 1).values(content="Tijuana"))
        conn.execute(update(ArticleRow).where(ArticleRow.id == 3).values(page_state="done"))  # not a searched column
    assert found(engine, "border") == [3] and found(engine, "tijuana") == [1]
    with engine.begin() as conn:
        conn.execute(delete(HitRow).where(HitRow.article_id == 1))
        conn.execute(delete(ArticleRow).where(ArticleRow.id == 1))
    assert found(engine, "tijuana") == [] and found(engine, "story") == [3]
