"""Schema migrations on SQLite and PostgreSQL.

The first released schema is frozen as DDL in tests/data/schema_v1_<backend>.sql
(what `create_all` emitted at the first release), not rebuilt through revision
0001: that way the upgrade is tested against exactly what users' databases
hold — our tables and no alembic_version — and a separate test checks that
0001 builds that same schema.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from monitor.cli import main
from monitor.core.identity import canonical_url
from monitor.models import Snippet
from monitor.store.engine import make_engine
from monitor.store.migrate import FIRST_REVISION, current_revision, head_revision, include_object, upgrade
from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    Base,
    DeliveryRow,
    FeedRow,
    HitRow,
    StoryRow,
)

DATA = Path(__file__).resolve().parent.parent / "data"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LINKS = [
    "https://WWW.Example.com/news/cartel-arrest?utm_source=rss&id=7#top",
    "https://example.com/amp/news/border-deal",
    None,
]


def backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def v1_ddl(url: str) -> list[str]:
    text = (DATA / f"schema_v1_{backend(url)}.sql").read_text(encoding="utf-8")
    return [stmt for stmt in text.split(";") if stmt.strip()]


def plain_engine(url: str) -> sa.Engine:
    """An engine without our listeners and without migrating: a user's old database."""
    if backend(url) == "sqlite":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url)


def ts(url: str, value: datetime) -> datetime:
    # The first release stored naive UTC on SQLite (UTCDateTime), aware on PostgreSQL.
    return value.replace(tzinfo=None) if backend(url) == "sqlite" else value


def schema_differences(engine: sa.Engine, metadata: sa.MetaData = Base.metadata) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        return list(compare_metadata(context, metadata))


def build_v1_database(url: str) -> None:
    """The first released schema, made as `create_all` made it, with a few rows."""
    engine = plain_engine(url)
    with engine.begin() as conn:
        for stmt in v1_ddl(url):
            conn.exec_driver_sql(stmt)
        tables = sa.MetaData()
        tables.reflect(conn)
        feeds, articles, hits = tables.tables["feeds"], tables.tables["articles"], tables.tables["hits"]
        messages, deliveries = tables.tables["messages"], tables.tables["deliveries"]
        conn.execute(
            feeds.insert(),
            [
                dict(
                    id=1, name="Diario", url="https://diario.example/rss", config_url="https://diario.example/rss",
                    active=True, consecutive_failures=0, admin_alerted=False, unchanged_polls=0,
                    created_at=ts(url, T0),
                )
            ],
        )
        conn.execute(
            articles.insert(),
            [
                dict(
                    id=i + 1, feed_id=1, guid=f"g{i}", link=link, title=f"Title {i}", summary="s", content="c",
                    author=None, published_at=ts(url, T0), first_seen_at=ts(url, T0 + timedelta(minutes=i)),
                )
                for i, link in enumerate(LINKS)
            ],
        )
        conn.execute(
            hits.insert(),
            [
                dict(
                    id=1, article_id=1, watchlist="cartels", terms=["cartel"], snippet="a **cartel**", score=1.5,
                    spans=[["title", 0, 6]], snippets=["**cartel**"], found_at=ts(url, T0),
                ),
                dict(
                    id=2, article_id=2, watchlist="border", terms=["border"], snippet="", score=0.5,
                    spans=[], snippets=[], found_at=ts(url, T0),
                ),
            ],
        )
        conn.execute(
            messages.insert(),
            [
                dict(
                    id=1, channel="desk", kind="digest", window_start=ts(url, T0), window_end=ts(url, T0),
                    status="sent", attempts=1, done_targets=[], next_attempt_at=ts(url, T0),
                    created_at=ts(url, T0),
                )
            ],
        )
        conn.execute(
            deliveries.insert(),
            [
                dict(
                    id=1, hit_id=1, channel="slack", message_id=None, status="sent", attempts=1, done_targets=["x"],
                    next_attempt_at=ts(url, T0), sent_at=ts(url, T0), created_at=ts(url, T0),
                ),
                dict(
                    id=2, hit_id=2, channel="desk", message_id=1, status="batched", attempts=0, done_targets=[], sent_at=None,
                    next_attempt_at=ts(url, T0), created_at=ts(url, T0),
                ),
            ],
        )
        if backend(url) == "postgresql":  # explicit ids: move the sequences past them
            for table in ("feeds", "articles", "hits", "messages", "deliveries"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)")
    engine.dispose()


def test_first_release_database_is_stamped_upgraded_and_keeps_its_data(database_url: str) -> None:
    build_v1_database(database_url)
    engine = make_engine(database_url)  # what every start does
    try:
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
        with Session(engine) as session:
            assert session.scalars(select(FeedRow.name)).all() == ["Diario"]
            articles = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
            assert [a.title for a in articles] == ["Title 0", "Title 1", "Title 2"]
            assert [a.canonical_url for a in articles] == [
                canonical_url(LINKS[0]),
                canonical_url(LINKS[1]),  # type: ignore[arg-type]
                None,
            ]
            assert articles[0].canonical_url == "https://example.com/news/cartel-arrest?id=7"
            assert articles[1].first_seen_at == T0 + timedelta(minutes=1)
            assert all(a.story_id is None and a.content_hash is None for a in articles)
            sources = session.scalars(select(ArticleSourceRow).order_by(ArticleSourceRow.article_id)).all()
            assert [(s.article_id, s.feed_id, s.guid, s.link, s.title, s.first_seen_at) for s in sources] == [
                (a.id, a.feed_id, a.guid, a.link, a.title, a.first_seen_at) for a in articles
            ]
            hits = session.scalars(select(HitRow).order_by(HitRow.id)).all()
            assert [(h.article_id, h.watchlist, h.terms, h.spans, h.story_id) for h in hits] == [
                (1, "cartels", ["cartel"], [["title", 0, 6]], None),
                (2, "border", ["border"], [], None),
            ]
            # Revision 0004: the `**` of old snippets became marks (offsets).
            assert [h.snippets for h in hits] == [(Snippet("cartel", ((0, 6),)),), ()]
            deliveries = session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)).all()
            assert [(d.hit_id, d.channel, d.kind, d.status, d.message_id) for d in deliveries] == [
                (1, "slack", "alert", "sent", None),
                (2, "desk", "alert", "batched", 1),
            ]
            # The new schema at work: a second delivery of the same hit to the
            # same channel, as an escalation, and a story for a hit.
            story = StoryRow(title="Cartel arrest", first_seen_at=T0, last_seen_at=T0)
            session.add(story)
            session.flush()
            hits[0].story_id = story.id
            session.add(DeliveryRow(hit_id=1, channel="slack", kind="escalation", next_attempt_at=T0, created_at=T0))
            session.commit()
            # Foreign keys survived the SQLite table rebuilds: deleting an
            # article still cascades to its hits, sources and deliveries.
            session.delete(session.get(ArticleRow, 1))
            session.commit()
            assert session.scalar(select(sa.func.count()).select_from(HitRow)) == 1
            assert session.scalar(select(sa.func.count()).select_from(DeliveryRow)) == 1
            assert session.scalar(select(sa.func.count()).select_from(ArticleSourceRow)) == 2
            # ...and removing a story only unlinks its hits.
            session.delete(session.get(StoryRow, story.id))
            session.commit()
    finally:
        engine.dispose()
    again = make_engine(database_url)
    try:
        assert upgrade(again).changed is False
    finally:
        again.dispose()


def test_fresh_database_is_built_by_the_revisions(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            assert sa.inspect(conn).has_table("alembic_version")  # in the test's own schema on PostgreSQL
    finally:
        engine.dispose()


def test_story_keys_lose_their_foreign_key_keeping_their_rows_and_downgrade_puts_it_back(database_url: str) -> None:
    """0010: the index keeps its rows and accepts a key whose article is
    gone; downgrading drops such keys and brings the constraint back."""
    from alembic import command

    from monitor.store.migrate import make_config

    engine = make_engine(database_url, migrate=False)
    try:
        upgrade(engine, "0009_spikes")
        with engine.begin() as conn:
            conn.execute(sa.insert(FeedRow.__table__).values(id=1, name="wire", url="http://wire/", created_at=T0))
            conn.execute(
                sa.insert(ArticleRow.__table__).values(
                    id=1, feed_id=1, guid="g", title="t", published_at=T0, first_seen_at=T0
                )
            )
            conn.exec_driver_sql("INSERT INTO story_keys (key, article_id) VALUES (11, 1), (12, 1)")
        upgrade(engine, "0010_story_keys_no_fk")
        with engine.begin() as conn:
            assert sa.inspect(conn).get_foreign_keys("story_keys") == []
            conn.exec_driver_sql("INSERT INTO story_keys (key, article_id) VALUES (13, 999)")  # article gone
            rows = conn.exec_driver_sql("SELECT key, article_id FROM story_keys ORDER BY key").all()
        assert [tuple(r) for r in rows] == [(11, 1), (12, 1), (13, 999)]
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
            with conn.begin():
                command.downgrade(make_config(conn), "0009_spikes")
        with engine.begin() as conn:
            fks = sa.inspect(conn).get_foreign_keys("story_keys")
            assert [(fk["referred_table"], fk["constrained_columns"]) for fk in fks] == [("articles", ["article_id"])]
            rows = conn.exec_driver_sql("SELECT key, article_id FROM story_keys ORDER BY key").all()
        assert [tuple(r) for r in rows] == [(11, 1), (12, 1)]
    finally:
        engine.dispose()


def test_sqlite_story_keys_move_into_their_articles_and_downgrade_puts_the_rows_back(database_url: str) -> None:
    """0012: SQLite's index rows become a blob of keys on each article (the
    table emptied); PostgreSQL keeps its rows and the column stays empty.
    Downgrade gives SQLite its rows back."""
    from alembic import command

    from monitor.store.memkeys import keys_of_blob
    from monitor.store.migrate import make_config

    engine = make_engine(database_url, migrate=False)
    sqlite = backend(database_url) == "sqlite"

    def rows() -> list[tuple[int, int]]:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT key, article_id FROM story_keys ORDER BY key, article_id").all()
        return [(int(k), int(a)) for k, a in found]

    try:
        upgrade(engine, "0011_pg_search_hits_only")
        with engine.begin() as conn:
            conn.execute(sa.insert(FeedRow.__table__).values(id=1, name="wire", url="http://wire/", created_at=T0))
            for article in (1, 2, 3):
                conn.exec_driver_sql(
                    "INSERT INTO articles (id, feed_id, guid, title, summary, content, published_at, first_seen_at, "
                    f"page_text, page_attempts) VALUES ({article}, 1, 'g{article}', 't', '', '', "
                    "'2024-05-01 12:00:00', '2024-05-01 12:00:00', '', 0)"
                )
            conn.exec_driver_sql(
                "INSERT INTO story_keys (key, article_id) VALUES (-4611686018427387909, 1), (11, 1), (11, 2), (12, 2)"
            )
        before = rows()
        upgrade(engine)
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            blobs = dict(conn.exec_driver_sql("SELECT id, story_keys FROM articles ORDER BY id").all())
        if sqlite:
            assert rows() == []
            assert sorted(keys_of_blob(blobs[1]).tolist()) == [-4611686018427387909, 11]
            assert sorted(keys_of_blob(blobs[2]).tolist()) == [11, 12]
            assert blobs[3] is None  # no keys: computed at the next start
        else:
            assert rows() == before and set(blobs.values()) == {None}
        with engine.connect() as conn, conn.begin():
            command.downgrade(make_config(conn), "0011_pg_search_hits_only")
        assert rows() == before
        with engine.connect() as conn:
            assert "story_keys" not in {c["name"] for c in sa.inspect(conn).get_columns("articles")}
    finally:
        engine.dispose()


def test_postgresql_search_index_keeps_only_articles_with_hits_and_downgrade_restores_it(database_url: str) -> None:
    """0011: PostgreSQL's search moves from an index over every article to a
    table of the articles with hits, filled on upgrade; downgrade puts the
    expression index back."""
    if backend(database_url) == "sqlite":
        pytest.skip("SQLite's FTS5 table held only articles with hits from the start")
    from alembic import command

    from monitor.store.migrate import make_config

    engine = make_engine(database_url, migrate=False)

    def indexes() -> set[str]:
        with engine.connect() as conn:
            return {i["name"] for i in sa.inspect(conn).get_indexes("articles")}

    try:
        upgrade(engine, "0010_story_keys_no_fk")
        assert "ix_articles_fts" in indexes()
        with engine.begin() as conn:
            conn.execute(sa.insert(FeedRow.__table__).values(id=1, name="wire", url="http://wire/", created_at=T0))
            for article in (1, 2):
                conn.execute(
                    sa.insert(ArticleRow.__table__).values(
                        id=article, feed_id=1, guid=f"g{article}", title=f"Cartel {article}", content="border",
                        published_at=T0, first_seen_at=T0,
                    )
                )
            conn.execute(sa.insert(HitRow.__table__).values(id=1, article_id=2, watchlist="w", terms=[], found_at=T0))
        upgrade(engine)
        assert "ix_articles_fts" not in indexes()
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT article_id FROM article_search WHERE vector @@ to_tsquery('simple', 'border')"
            ).all()
        assert [r[0] for r in rows] == [2]
        assert schema_differences(engine) == []
        with engine.connect() as conn, conn.begin():
            command.downgrade(make_config(conn), "0010_story_keys_no_fk")
        assert "ix_articles_fts" in indexes()
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("article_search")
    finally:
        engine.dispose()


def test_revision_0001_is_the_first_released_schema(database_url: str) -> None:
    engine = plain_engine(database_url)
    with engine.begin() as conn:
        for stmt in v1_ddl(database_url):
            conn.exec_driver_sql(stmt)
    frozen = sa.MetaData()
    frozen.reflect(engine)
    with engine.begin() as conn:
        for table in reversed(frozen.sorted_tables):
            conn.execute(sa.schema.DropTable(table))
    engine.dispose()
    migrated = make_engine(database_url, migrate=False)
    try:
        result = upgrade(migrated, FIRST_REVISION)
        assert (result.before, result.after) == (None, FIRST_REVISION)
        assert schema_differences(migrated, frozen) == []
    finally:
        migrated.dispose()


def test_db_upgrade_and_stats_commands(database_url: str, write_config, capsys) -> None:
    build_v1_database(database_url)
    config = str(write_config({}))
    assert main(["db", "stats", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"schema revision: (none) (behind {head_revision()}: run `monitor db upgrade`)" in out
    assert main(["db", "upgrade", "--config", config]) == 0
    assert f"schema upgraded (made before migrations) → {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", config]) == 0
    assert f"schema at {head_revision()} (up to date)" in capsys.readouterr().out
    assert main(["db", "stats", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"schema revision: {head_revision()}\n" in out
    assert "oldest article: 2024-05-01T12:00:00Z" in out and "newest article: 2024-05-01T12:02:00Z" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line and line.split()[0] in (
        "articles", "article_sources", "hits", "deliveries", "stories")}
    assert rows["articles"][0] == "3" and rows["article_sources"][0] == "3"
    assert rows["hits"][0] == "2" and rows["deliveries"][0] == "2" and rows["stories"][0] == "0"
    assert main(["db", "stats", "--format", "json", "--config", config]) == 0
    import json

    stats = json.loads(capsys.readouterr().out)
    assert stats["up_to_date"] is True and stats["tables"]["articles"]["rows"] == 3
    assert stats["size_bytes"] > 0
    if backend(database_url) == "postgresql":
        assert stats["tables"]["articles"]["size_bytes"] > 0


def test_db_commands_have_help(capsys) -> None:
    for argv in (["db", "--help"], ["db", "upgrade", "--help"], ["db", "stats", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "migrate the schema" in out or "schema migrations" in out
    assert "What the database holds" in out
