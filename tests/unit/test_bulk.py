"""`store.bulk.insert_rows` on SQLite stores exactly what SQLAlchemy's Core insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, create_engine, insert, text
from sqlalchemy.orm import Session

from monitor.models import Snippet
from monitor.store.bulk import insert_rows
from monitor.store.schema import ArticleRow, Base, DeliveryRow, FeedRow, HitRow, StoryRow

NOW = datetime(2026, 12, 5, 7, 30, 15, 123456, tzinfo=UTC)


def rows() -> dict[Table, list[dict[str, Any]]]:
    """One feed, one story, two articles, a hit with JSON columns, its delivery (defaults left out)."""
    return {
        cast(Table, FeedRow.__table__): [{"id": 1, "name": "feed", "url": "http://x.test/f", "created_at": NOW}],
        cast(Table, StoryRow.__table__): [{"id": 3, "title": "T", "first_seen_at": NOW, "last_seen_at": NOW}],
        cast(Table, ArticleRow.__table__): [
            {
                "id": i,
                "feed_id": 1,
                "guid": f"g{i}",
                "link": None if i == 2 else "http://x.test/1",
                "title": "Cártel «Sinaloa» \U0001f600",
                "summary": "s",
                "content": "",
                "story_id": 3,
                # another offset: stored in UTC, as the Core insert does
                "published_at": NOW.astimezone(timezone(timedelta(hours=-6))),
                "first_seen_at": NOW,
                "updated_at": None,
            }
            for i in (1, 2)
        ],
        cast(Table, HitRow.__table__): [
            {
                "id": 5,
                "article_id": 1,
                "story_id": 3,
                "watchlist": "cartels",
                "terms": ["Sinaloa", "cártel"],
                "snippet": "…",
                "score": 1.5,
                "spans": [["title", 0, 6]],
                "snippets": [Snippet("a Sinaloa b", ((2, 9),)), Snippet("plain")],
                "found_at": NOW,
            }
        ],
        cast(Table, DeliveryRow.__table__): [
            {
                "hit_id": 5,
                "channel": "slack",
                "status": "pending",
                "next_attempt_at": NOW,
                "created_at": NOW,
                "attempts": 0,
                "done_targets": ["mailto://a"],
            }
        ],
    }


def stored(path: Path, fast: bool) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        for table, values in rows().items():
            if fast:
                insert_rows(session, table, values)
            else:
                session.execute(insert(table), values)
    with engine.connect() as connection:
        out = {
            table.name: [tuple(r) for r in connection.execute(text(f"SELECT * FROM {table.name} ORDER BY 1"))]
            for table in rows()
        }
    engine.dispose()
    return out


def test_the_sqlite_path_stores_what_core_stores(tmp_path: Path) -> None:
    core, fast = stored(tmp_path / "core.db", False), stored(tmp_path / "fast.db", True)
    assert fast == core
    assert len(fast["articles"]) == 2 and fast["deliveries"][0].count("alert")  # a default filled in


def test_the_sqlite_path_reads_back_through_the_orm(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        with session.begin():
            for table, values in rows().items():
                insert_rows(session, table, values)
        hit = session.get_one(HitRow, 5)
        article = session.get_one(ArticleRow, 1)
        assert hit.terms == ["Sinaloa", "cártel"] and hit.spans == [["title", 0, 6]] and hit.found_at == NOW
        assert hit.snippets == (Snippet("a Sinaloa b", ((2, 9),)), Snippet("plain"))
        assert article.published_at == NOW and article.title.endswith("\U0001f600")
    engine.dispose()


def test_a_computed_default_is_left_to_the_core_insert(tmp_path: Path) -> None:
    """`done_targets` defaults to a new list: rows leaving it out still go in."""
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        with session.begin():
            for table, values in rows().items():
                if table.name == "deliveries":
                    values = [{k: v for k, v in values[0].items() if k != "done_targets"}]
                insert_rows(session, table, values)
        assert session.get_one(DeliveryRow, 1).done_targets == []
    engine.dispose()


def test_an_unknown_column_is_named(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin(), pytest.raises(KeyError, match="no column 'nope'"):
        insert_rows(session, cast(Table, StoryRow.__table__), [{"id": 1, "nope": 2}])
    engine.dispose()
