"""`store.bulk.insert_rows` stores exactly what SQLAlchemy's Core insert stores (SQLite, and
PostgreSQL, through COPY, when MONITOR_TEST_DATABASE_URL names one)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, create_engine, insert, text
from sqlalchemy.engine import make_url
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
                # what COPY's text format escapes: tab, line breaks, a backslash, its NULL marker
                "content": "" if i == 1 else "a\tb\r\nc \\ d \\N",
                "story_id": 3,
                # another offset: stored in UTC, as the Core insert does (the
                # same instant in two zones: bound values are memoised per zone)
                "published_at": NOW.astimezone(timezone(timedelta(hours=-6))) if i == 1 else NOW,
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


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one kind: one for the Core insert, one for ours."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/core.db", f"sqlite:///{tmp_path}/fast.db"
        return
    base = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not base:
        pytest.skip("no PostgreSQL (MONITOR_TEST_DATABASE_URL)")
    schemas = [f"bulk_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = create_engine(base)
    with admin.begin() as connection:
        for schema in schemas:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield tuple(  # type: ignore[misc]
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
            for schema in schemas
        )
    finally:
        with admin.begin() as connection:
            for schema in schemas:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def stored(url: str, fast: bool) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
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


def test_our_insert_stores_what_core_stores(urls: tuple[str, str]) -> None:
    core, fast = stored(urls[0], False), stored(urls[1], True)
    assert fast == core
    assert len(fast["articles"]) == 2 and fast["deliveries"][0].count("alert")  # a default filled in
    terms = fast["hits"][0][4]
    assert (json.loads(terms) if isinstance(terms, str) else terms) == ["Sinaloa", "cártel"]  # JSON, not an array


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


def test_only_psycopg_3_takes_the_copy_path() -> None:
    """COPY needs psycopg 3's cursor; another PostgreSQL driver gets the portable insert."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
    from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    from monitor.store.bulk import uses_copy

    assert uses_copy(PGDialect_psycopg())
    assert not uses_copy(PGDialect_psycopg2())
    assert not uses_copy(SQLiteDialect_pysqlite())
