"""Feed leases on the real databases: daemons sharing one database never
lease one feed twice, an expired lease is taken over, a recorded result ends
the lease, and config sync is safe when every daemon starts at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.polling import Decision
from monitor.store.engine import make_engine
from monitor.store.feeds import FeedSpec
from monitor.store.repository import Repository

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
FEEDS = [FeedSpec(f"feed {i}", f"http://127.0.0.1:9/{i}.xml") for i in range(40)]


@pytest.fixture
def repos(database_url):
    engines = [make_engine(database_url) for _ in range(3)]
    repos = [Repository(engine) for engine in engines]
    repos[0].sync_feeds(FEEDS, NOW)
    yield repos
    for engine in engines:
        engine.dispose()


def test_daemons_claiming_at_once_get_disjoint_feeds(repos, database_url) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("one daemon per SQLite database (refused at start)")
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(3)

    def claim(node: str, repo: Repository) -> None:
        barrier.wait()
        got: list[int] = []
        while True:
            batch, _ = repo.claim_due(node, NOW, 120, limit=4)
            if not batch:
                break
            got.extend(r.feed_id for r in batch)
        claimed[node] = got

    threads = [threading.Thread(target=claim, args=(f"node{i}", repo)) for i, repo in enumerate(repos)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [feed for got in claimed.values() for feed in got]
    assert len(every) == len(FEEDS) == len(set(every))


def test_a_lease_blocks_others_until_it_expires_then_is_taken_over(repos) -> None:
    a, b = repos[0], repos[1]
    mine, taken = a.claim_due("a", NOW, 60, limit=10)
    assert len(mine) == 10 and taken == 0
    rest, _ = b.claim_due("b", NOW + timedelta(seconds=30), 60)
    assert {r.feed_id for r in rest}.isdisjoint(r.feed_id for r in mine) and len(rest) == 30
    later, taken = b.claim_due("b", NOW + timedelta(seconds=61), 60)
    # a's expired leases are taken over; b's own (until 90 s) are still live
    assert sorted(r.feed_id for r in later) == sorted(r.feed_id for r in mine) and taken == 10


def test_recording_a_result_ends_the_lease_and_release_gives_back_the_rest(repos) -> None:
    a, b = repos[0], repos[1]
    mine, _ = a.claim_due("a", NOW, 600, limit=3)
    decision = Decision(NOW + timedelta(minutes=15), 900, 0, 0, None)
    a.record_failure(mine[0].feed_id, "HTTP 500", NOW, Decision(NOW + timedelta(minutes=1), 60, 1, 0, NOW))
    a.record_not_modified_many([(mine[1].feed_id, decision)], NOW)
    assert a.release_leases("a") == 1  # the third, never recorded
    again, _ = b.claim_due("b", NOW + timedelta(minutes=2), 600)
    ids = {r.feed_id for r in again}
    assert mine[0].feed_id in ids  # failed: due again after its retry time, lease gone
    assert mine[1].feed_id not in ids  # 304: not due for 15 minutes
    assert mine[2].feed_id in ids


def test_every_daemon_syncing_the_config_at_once_succeeds(repos, database_url) -> None:
    more = [*FEEDS, *(FeedSpec(f"new {i}", f"http://127.0.0.1:9/n{i}.xml") for i in range(20))]
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def sync(repo: Repository) -> None:
        barrier.wait()
        try:
            repo.sync_feeds(more, NOW)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(repo,)) for repo in repos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(repos[0].active_feeds()) == 60


def test_an_older_config_does_not_switch_off_a_feed_a_newer_one_added(repos) -> None:
    a, b = repos[0], repos[1]
    a.sync_feeds([*FEEDS, FeedSpec("only new", "http://127.0.0.1:9/new.xml")], NOW)
    b.sync_feeds(FEEDS, NOW, deactivate=False)  # the old config, while versions differ
    assert "only new" in {r.name for r in a.active_feeds()}
    b.sync_feeds(FEEDS, NOW)  # every node on the old config again
    assert "only new" not in {r.name for r in a.active_feeds()}


def test_a_once_per_cluster_job_runs_on_one_daemon_per_interval(repos) -> None:
    a, b = repos[0], repos[1]
    with a.once("housekeeping", "a", NOW, 3600) as due_a:
        assert due_a
        # While a runs it, b skips (PostgreSQL: the advisory lock; SQLite: the row)
        with b.once("housekeeping", "b", NOW, 3600) as due_b:
            assert not due_b
    with b.once("housekeeping", "b", NOW + timedelta(minutes=30), 3600) as due_b:
        assert not due_b  # a ran it half an hour ago
    with b.once("housekeeping", "b", NOW + timedelta(hours=1), 3600) as due_b:
        assert due_b
    (run,) = a.last_runs()
    assert run[0] == "housekeeping" and run[1] == "b" and run[3] is not None


def test_one_digest_window_is_recorded_once_when_daemons_open_it_together(database_url) -> None:
    from monitor.store.outbox import Outbox
    from monitor.store.schema import DeliveryStatus

    engines = [make_engine(database_url) for _ in range(3)]
    try:
        repo = Repository(engines[0])
        repo.sync_feeds(FEEDS[:1], NOW)
        with engines[0].begin() as conn:
            feed_id = conn.exec_driver_sql("SELECT id FROM feeds").scalar()
            conn.exec_driver_sql(
                "INSERT INTO articles (id, feed_id, guid, title, summary, content, published_at, first_seen_at) "
                f"VALUES (1, {feed_id}, 'g', 't', '', '', '2026-12-04 11:00:00+00', '2026-12-04 11:00:00+00')"
            )
            conn.exec_driver_sql(
                "INSERT INTO hits (id, article_id, watchlist, terms, snippet, score, spans, snippets, found_at) "
                "VALUES (1, 1, 'w', '[]', '', 1.0, '[]', '[]', '2026-12-04 11:00:00+00')"
            )
            conn.exec_driver_sql(
                "INSERT INTO deliveries (hit_id, channel, kind, status, attempts, done_targets, next_attempt_at, created_at) "
                f"VALUES (1, 'desk', 'alert', '{DeliveryStatus.QUEUED}', 0, '[]', "
                "'2026-12-04 11:00:00+00', '2026-12-04 11:00:00+00')"
            )
        outboxes = [Outbox(engine) for engine in engines]
        opened: list[int | None] = []
        barrier = threading.Barrier(3)

        def open_window(outbox: Outbox) -> None:
            barrier.wait()
            opened.append(outbox.open_message("desk", "digest", NOW, NOW))

        threads = [threading.Thread(target=open_window, args=(o,)) for o in outboxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(opened) == 3 and len([m for m in opened if m is not None]) == 1
    finally:
        for engine in engines:
            engine.dispose()


def _article_without_keys(repo: Repository, *, story_id: int, article_id: int) -> None:
    """A stored article of a story whose index keys never went in: the start-up re-index's work."""
    import sqlalchemy as sa

    from monitor.store.schema import ArticleRow, StoryRow

    feed_id = next(f.feed_id for f in repo.due_feeds(NOW + timedelta(days=1)))
    with repo.engine.begin() as conn:
        conn.execute(sa.insert(StoryRow.__table__).values(id=story_id, title="t", first_seen_at=NOW, last_seen_at=NOW))
        conn.execute(
            sa.insert(ArticleRow.__table__).values(
                id=article_id,
                feed_id=feed_id,
                guid=f"g{article_id}",
                title="Cartel leaders arrested",
                story_id=story_id,
                content="Security forces arrested two cartel leaders near the border on Tuesday morning, officials said.",
                published_at=NOW,
                first_seen_at=NOW,
            )
        )


def test_an_article_being_reindexed_cannot_be_deleted_until_its_keys_are_in(repos, database_url, monkeypatch) -> None:
    """The story index has no foreign key (migration 0010): the start-up
    re-index holds its articles (FOR KEY SHARE), so another daemon's
    retention waits instead of leaving keys of a deleted article behind."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's writers are serial: no other writer can run in between")
    import sqlalchemy as sa

    from monitor.store import storyindex

    a, b = repos[0], repos[1]
    _article_without_keys(a, story_id=7, article_id=70)
    attempts: list[str] = []
    computing = storyindex.story_keys_many

    def keys_while_another_daemon_deletes(articles: list[tuple[str, str]]) -> list[tuple[int, ...]]:
        with b.engine.connect() as conn:
            try:
                with conn.begin():
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
                    conn.exec_driver_sql("DELETE FROM articles WHERE id = 70")
                attempts.append("deleted")
            except sa.exc.OperationalError as exc:
                attempts.append(type(exc.orig).__name__)
        return computing(articles)

    monkeypatch.setattr(storyindex, "story_keys_many", keys_while_another_daemon_deletes)
    assert a.index_missing_story_keys(NOW - timedelta(days=1)) == 1
    assert attempts == ["LockNotAvailable"]
    with a.engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT count(*) FROM story_keys WHERE article_id = 70").scalar_one()
    assert keys > 0
    with b.engine.begin() as conn:  # once the keys are in, retention proceeds as usual
        conn.exec_driver_sql("DELETE FROM story_keys WHERE article_id = 70")
        conn.exec_driver_sql("DELETE FROM articles WHERE id = 70")


def test_retention_running_during_the_reindex_leaves_no_orphan_keys(repos, database_url, monkeypatch) -> None:
    """Another daemon's retention, in its own order of deletes, waits on the
    article the re-index holds; once the keys are in it removes the article
    and those keys too, so no key is left pointing at a deleted article
    (nothing would ever prune it: pruning joins the articles)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's writers are serial: no other writer can run in between")

    from monitor.store import storyindex
    from monitor.store.retention import _delete_articles

    a, b = repos[0], repos[1]
    _article_without_keys(a, story_id=8, article_id=80)
    deleted: list[int] = []
    errors: list[BaseException] = []

    def retention() -> None:
        try:
            with b.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL application_name = 'retention-under-test'")
                deleted.append(_delete_articles(conn, [80]).articles)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            errors.append(exc)

    worker = threading.Thread(target=retention)
    computing = storyindex.story_keys_many

    def keys_while_retention_runs(articles: list[tuple[str, str]]) -> list[tuple[int, ...]]:
        worker.start()
        # Go on only once retention is blocked on the article this re-index holds.
        with a.engine.connect() as conn:
            for _ in range(500):
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'retention-under-test' AND wait_event_type = 'Lock'"
                ).scalar_one()
                conn.rollback()
                if waiting or not worker.is_alive():
                    break
                worker.join(0.01)
        assert waiting == 1, errors
        return computing(articles)

    monkeypatch.setattr(storyindex, "story_keys_many", keys_while_retention_runs)
    assert a.index_missing_story_keys(NOW - timedelta(days=1)) == 1
    worker.join(30)
    assert not errors and deleted == [1]
    with a.engine.connect() as conn:
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM story_keys k WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = k.article_id)"
        ).scalar_one()
    assert orphans == 0
