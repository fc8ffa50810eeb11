"""A fresh PostgreSQL database's tables are analysed early in its first poll
(the planner has no statistics until autovacuum's first ANALYZE, and scans
`articles` for every feed meanwhile); once, and never on SQLite."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from monitor.service import Service
from monitor.store import analyze
from monitor.store.analyze import FirstAnalyze
from monitor.store.engine import make_engine
from tests.integration.test_fulltext import rss

TABLES = ("articles", "article_sources", "story_keys")


def statistics(database_url: str) -> dict[str, float]:
    """reltuples of the store's looked-up tables (-1: never analysed)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                name: float(tuples)
                for name, tuples in conn.execute(
                    text("SELECT relname, reltuples FROM pg_class WHERE oid = ANY(CAST(:t AS regclass[]))"),
                    {"t": list(TABLES)},
                )
            }
    finally:
        engine.dispose()


def feed(start: int, count: int) -> bytes:
    return rss(
        [
            (
                f"Convoy {i} stopped near the border crossing",
                f"https://ledger.example/{i}",
                f"Teaser number {i} of a long day.",
            )
            for i in range(start, start + count)
        ]
    )


def settings(url: str) -> dict:
    return {
        "feeds": [{"name": "Ledger", "url": url}],
        "watchlists": [{"name": "border", "keywords": ["border"]}],
        "poll": {"parse_workers": 0},
    }


def test_the_first_poll_analyses_the_tables_once(
    database_url, feed_server, make_settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's planner statistics")
    monkeypatch.setattr(analyze, "ANALYZE_AFTER", 8)
    url = feed_server.add("/feed.xml", feed(0, 5))
    service = Service(make_settings(settings(url)), echo=lambda _: None)
    try:
        assert set(statistics(database_url).values()) == {-1.0}  # fresh: never analysed
        assert service.poll(all_feeds=True).new_articles == 5  # 5 of 8: not yet
        assert set(statistics(database_url).values()) == {-1.0}
        feed_server.set("/feed.xml", feed(5, 5))
        with caplog.at_level(logging.INFO, logger=analyze.__name__):
            assert service.poll(all_feeds=True).new_articles == 5  # 10: analysed
        after = statistics(database_url)
        assert after["articles"] == 10 and after["article_sources"] == 10 and after["story_keys"] > 10
        assert "analysed article_sources, articles, story_keys" in caplog.text
        # Once: more articles do not analyse again (autovacuum keeps them current).
        caplog.clear()
        feed_server.set("/feed.xml", feed(10, 20))
        with caplog.at_level(logging.INFO, logger=analyze.__name__):
            assert service.poll(all_feeds=True).new_articles == 20
        assert statistics(database_url)["articles"] == 10
        assert "analysed" not in caplog.text
    finally:
        service.close()


def test_tables_analysed_before_are_left_to_autovacuum(database_url) -> None:
    """Another daemon (or autovacuum) analysed them already: nothing runs."""
    engine = make_engine(database_url)
    try:
        sessions = sessionmaker(engine)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE articles"))
            assert FirstAnalyze(after=1).stored(sessions, 1) == ["article_sources", "story_keys"]
        else:  # SQLite: never
            assert FirstAnalyze(after=1).stored(sessions, 1) == []
        once = FirstAnalyze(after=2)
        assert once.stored(sessions, 1) == []  # not yet
        once.stored(sessions, 1)
        assert once.stored(sessions, 100) == []  # checked once
    finally:
        engine.dispose()
