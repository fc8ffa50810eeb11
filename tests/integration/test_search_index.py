"""SQLite's full-text index holds exactly the articles that have hits, and follows them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, text, update

from monitor.store.engine import make_engine
from monitor.store.schema import ArticleRow, FeedRow, HitRow

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def test_index_follows_hits_updates_and_deletes(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")

    def found(word: str) -> list[int]:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q"), {"q": word})]

    with engine.begin() as conn:
        conn.execute(insert(FeedRow), [{"id": 1, "name": "F", "url": "http://f/", "config_url": "http://f/", "created_at": NOW}])
        conn.execute(
            insert(ArticleRow),
            [
                {"id": i, "feed_id": 1, "guid": f"g{i}", "title": f"Cártel story {i}", "summary": "", "content": "Culiacán",
                 "published_at": NOW, "first_seen_at": NOW}
                for i in (1, 2)
            ],
        )
    assert found("culiacan") == []  # stored, no hit: not indexed
    with engine.begin() as conn:
        for hit_id, watchlist in ((1, "a"), (2, "b")):  # two hits, one entry
            conn.execute(insert(HitRow), [{"id": hit_id, "article_id": 1, "watchlist": watchlist, "terms": [], "found_at": NOW}])
    assert found("culiacan") == [1] and found("cartel") == [1]  # accents folded
    with engine.begin() as conn:
        conn.execute(update(ArticleRow).where(ArticleRow.id == 1).values(content="Tijuana"))
    assert found("culiacan") == [] and found("tijuana") == [1]
    with engine.begin() as conn:
        conn.execute(delete(ArticleRow).where(ArticleRow.id == 1))
    assert found("tijuana") == [] and found("cartel") == []
