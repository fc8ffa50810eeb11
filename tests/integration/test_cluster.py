"""Several `monitor run` daemons on one PostgreSQL (issue 14), as real processes.

Three (or two) `python -m monitor run` subprocesses share a fresh schema,
poll a counting loopback feed server and alert a loopback webhook sink:
each due feed fetched once, each hit delivered once, all of them starting
at the same instant, one SIGKILLed mid-cycle, a digest channel, database
connections terminated under them, and two config versions at once.

PostgreSQL only: skipped without MONITOR_TEST_DATABASE_URL. Waits are
bounded polls of the database, the feed server or the sink, never sleeps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from monitor.store.repository import Repository
from monitor.times import utcnow
from tests.integration.conftest import PG_ENV
from tests.integration.test_cli_and_daemon import run_cli
from tests.servers import FeedServer, WebhookServer, wait_for

pytestmark = [
    pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"PostgreSQL only: set {PG_ENV}"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

# The daemons' connections carry this application_name (psycopg takes it from
# the URL): what a test terminates is theirs and nobody else's.
APP = "monitor-cluster-test"
HEARTBEAT = 2.0


# --- feeds ----------------------------------------------------------------------------------------


def words(seed: str, n: int = 24) -> str:
    """Text of `n` words unique to `seed`: no two articles look like one story."""
    return " ".join(f"{seed}w{k}x{zlib.crc32(f'{seed}/{k}'.encode()) % 99991}" for k in range(n))


@dataclass(frozen=True)
class Item:
    guid: str
    title: str

    def xml(self) -> str:
        link = f"https://news.example/{self.guid}"
        return (
            f"<item><title>{escape(self.title)}</title><link>{link}</link><guid>{self.guid}</guid>"
            f"<description>{escape(self.title)}. {words(self.guid)}</description></item>"
        )


def rss(name: str, items: Sequence[Item]) -> bytes:
    body = "".join(item.xml() for item in items)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(name)}</title>'
        f"<link>https://news.example/</link><description>test</description>{body}</channel></rss>"
    ).encode()


class Feeds:
    """Feed `i` is /f/<i>.xml: one routine item, and a cartel item for the chosen ones."""

    def __init__(self, server: FeedServer, count: int, matching: Sequence[int] = ()) -> None:
        self.server = server
        self.count = count
        self.items: dict[int, list[Item]] = {}
        for i in range(count):
            items = [Item(f"r{i}", f"Routine council minutes {i}")]
            if i in matching:
                items.append(Item(f"c{i}", f"Cartel raid number {i} in the port"))
            self.items[i] = items
            server.add(self.path(i), rss(f"feed {i}", items))

    @staticmethod
    def path(i: int) -> str:
        return f"/f/{i}.xml"

    def add_item(self, i: int, item: Item) -> None:
        self.items[i] = [item, *self.items[i]]
        self.server.set(self.path(i), rss(f"feed {i}", self.items[i]))

    def config(self, indexes: Sequence[int] | None = None, interval: str | None = None) -> list[dict[str, Any]]:
        chosen = range(self.count) if indexes is None else indexes
        feeds = [{"name": f"feed {i}", "url": self.server.url(self.path(i))} for i in chosen]
        if interval:
            for feed in feeds:
                feed["interval"] = interval
        return feeds

    def counts(self) -> Counter[str]:
        return Counter(r.path for r in self.server.requests)

    @property
    def articles(self) -> int:
        return sum(len(items) for items in self.items.values())

    def titles(self, prefix: str = "Cartel") -> set[str]:
        return {item.title for items in self.items.values() for item in items if item.title.startswith(prefix)}


# --- the database ---------------------------------------------------------------------------------


def daemon_url(database_url: str) -> str:
    return make_url(database_url).update_query_dict({"application_name": APP}).render_as_string(hide_password=False)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A schema of its own (as the `database_url` fixture makes), dropped afterwards."""
    base = os.environ[PG_ENV]
    schema = f"monitor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


class Db:
    """What the test reads of the daemons' schema (its own connections, its own application_name)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, pool_pre_ping=True)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def tables_ready(self) -> bool:
        return bool(self.scalar("SELECT to_regclass('feeds') IS NOT NULL AND to_regclass('nodes') IS NOT NULL"))

    def polled(self) -> int:
        if not self.tables_ready():
            return 0
        return int(self.scalar("SELECT count(*) FROM feeds WHERE last_polled_at IS NOT NULL") or 0)

    def alive(self) -> list[Any]:
        if not self.tables_ready():
            return []
        return [n for n in Repository(self.engine).nodes(utcnow(), HEARTBEAT) if n.state == "alive"]

    def close(self) -> None:
        self.engine.dispose()


# --- daemons --------------------------------------------------------------------------------------


class Daemon:
    """One `python -m monitor run --config …` subprocess, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=config.parent,
                env=env,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
        self.proc.wait(timeout=30)

    def polled(self) -> list[str]:
        """The feeds this daemon polled and stored (its `feed=… status=ok` lines)."""
        return re.findall(r"feed='([^']+)' status=(?:ok|not_modified)", self.log)


@pytest.fixture
def daemons() -> Iterator[Callable[..., list[Daemon]]]:
    """Start daemons (all at once); any still running at the end are killed."""
    started: list[Daemon] = []
    counter = iter(range(1000))

    def start(config: Path, n: int = 1) -> list[Daemon]:
        batch = [Daemon(config, config.parent / f"daemon-{next(counter)}.log") for _ in range(n)]
        started.extend(batch)
        return batch

    try:
        yield start
    finally:
        for daemon in started:
            daemon.kill()


def stop_all(daemons: Sequence[Daemon], *, clean: bool = True) -> None:
    """SIGTERM every daemon at once, then each must exit 0 (with a clean log unless not `clean`)."""
    for daemon in daemons:
        if daemon.running():
            daemon.proc.send_signal(signal.SIGTERM)
    for daemon in daemons:
        code = daemon.proc.wait(timeout=30)
        log = daemon.log
        assert code == 0, log[-3000:]
        assert "monitor stopped" in log, log[-3000:]
        assert "UniqueViolation" not in log, log[-5000:]
        if clean:
            assert "Traceback" not in log and "ERROR" not in log, log[-5000:]


def write_config(path: Path, database: str, feeds: list[dict[str, Any]], **sections: Any) -> Path:
    data: dict[str, Any] = {
        "database": database,
        "poll": {
            "interval": "1h",  # every feed due once in a test
            "jitter": 0,
            "timeout": "10s",
            "connect_timeout": "2s",
            "concurrency": 10,
            "per_host": 50,  # every feed is on 127.0.0.1
            "host_delay": 0,
            "parse_workers": 0,
            "fulltext": "never",  # the items link to made-up sites
        },
        "cluster": {"heartbeat": f"{HEARTBEAT:g}s"},
        "feeds": feeds,
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def hook_channel(sink: WebhookServer, **extra: Any) -> dict[str, Any]:
    return {"hook": {"urls": [f"json://127.0.0.1:{sink.port}/hook"], **extra}}


CARTELS = [{"name": "cartels", "keywords": ["cartel"], "channels": ["hook"]}]


def alerted_titles(sink: WebhookServer) -> list[str]:
    """The article titles named in the sink's posts, once per post that names them."""
    found: list[str] = []
    for post in sink.posts_to("/hook"):
        body = json.dumps(post.json, ensure_ascii=False)
        found.extend(sorted(set(re.findall(r"Cartel raid number \d+ in the port", body))))
    return found


# --- the tests ------------------------------------------------------------------------------------


def test_three_daemons_fetch_each_due_feed_once_and_deliver_each_hit_once(
    tmp_path: Path, database_url: str, feed_server: FeedServer, webhook_server: WebhookServer, daemons: Any
) -> None:
    feeds = Feeds(feed_server, 300, matching=range(0, 300, 10))
    feed_server.delay = 0.2  # a daemon alone would need ~6 s: the three share the cycle
    config = write_config(
        tmp_path / "config.yaml", daemon_url(database_url), feeds.config(),
        channels=hook_channel(webhook_server), watchlists=CARTELS,
    )
    db = Db(database_url)
    try:
        group = daemons(config, 3)
        wait_for(lambda: db.polled() == 300, timeout=90, interval=0.2, message="every feed polled")
        wait_for(lambda: len(webhook_server.posts_to("/hook")) >= 30, timeout=60, interval=0.2, message="30 alerts")
        assert len(db.alive()) == 3
        stop_all(group)

        # A fetch that failed is polled but never reached the server: say why first.
        assert db.rows("SELECT name, last_error FROM feeds WHERE last_error IS NOT NULL") == []
        counts = feeds.counts()
        assert {feeds.path(i): counts[feeds.path(i)] for i in range(300)} == {feeds.path(i): 1 for i in range(300)}
        by_daemon = [d.polled() for d in group]
        every = [name for names in by_daemon for name in names]
        assert sorted(every) == sorted(f"feed {i}" for i in range(300))
        assert all(by_daemon), [len(names) for names in by_daemon]  # all three shared the cycle

        titles = alerted_titles(webhook_server)
        assert len(webhook_server.posts_to("/hook")) == 30
        assert sorted(titles) == sorted(feeds.titles())
        assert db.scalar("SELECT count(*) FROM articles") == feeds.articles == 330
        assert db.scalar("SELECT count(*) FROM hits") == 30
        assert db.rows("SELECT status, count(*) FROM deliveries GROUP BY status") == [("sent", 30)]
        assert db.scalar("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL") == 0
    finally:
        db.close()


def test_three_daemons_started_at_the_same_instant_five_times_all_start(
    tmp_path: Path, feed_server: FeedServer, daemons: Any, database_url: str
) -> None:
    feeds = Feeds(feed_server, 40)
    for round_ in range(5):
        with fresh_schema() as url:  # an empty schema each time: migrations and config sync race
            config = write_config(tmp_path / f"config-{round_}.yaml", daemon_url(url), feeds.config())
            db = Db(url)
            try:
                group = daemons(config, 3)
                wait_for(lambda: len(db.alive()) == 3 or not all(d.running() for d in group), timeout=60,  # noqa: B023 - waited for here
                         interval=0.1, message=f"round {round_}: three nodes alive")
                assert all(d.running() for d in group), [d.log[-2000:] for d in group if not d.running()]
                if round_ == 0:
                    status = run_cli("status", "--config", str(config), "--format", "json")
                    assert status.returncode == 0, status.stderr
                    data = json.loads(status.stdout)
                    assert (data["alive"], data["config_versions"], data["warning"]) == (3, 1, None)
                    assert sorted(n["pid"] for n in data["nodes"]) == sorted(d.pid for d in group)
                wait_for(lambda: db.polled() == 40, timeout=60, interval=0.1, message=f"round {round_}: feeds polled")  # noqa: B023
                stop_all(group)
                assert db.scalar("SELECT count(*) FROM feeds") == 40
                assert {n.state for n in db.rows("SELECT stopped_at IS NOT NULL AS state FROM nodes")} == {True}
            finally:
                db.close()
        counts = feeds.counts()
        assert set(counts[feeds.path(i)] for i in range(40)) == {round_ + 1}, f"round {round_}: {counts}"


def test_a_daemon_killed_mid_cycle_leaves_its_feeds_to_the_others_within_the_lease(
    tmp_path: Path, database_url: str, feed_server: FeedServer, webhook_server: WebhookServer, daemons: Any
) -> None:
    feeds = Feeds(feed_server, 40, matching=range(0, 40, 4))
    feed_server.delay = 1.5  # the victim dies while fetching
    # A short lease: 2 rounds of a 3 s deadline, plus the poller's margin.
    config = write_config(
        tmp_path / "config.yaml", daemon_url(database_url), feeds.config(),
        poll={"deadline": "3s", "timeout": "3s", "concurrency": 2},
        cluster={"claim_batch": 2},
        channels=hook_channel(webhook_server), watchlists=CARTELS,
    )
    db = Db(database_url)
    try:
        victim = daemons(config, 1)[0]
        wait_for(lambda: db.tables_ready() and db.scalar(
            "SELECT count(*) FROM feeds WHERE lease_owner LIKE :n", n=f"%:{victim.pid}") > 0,
            timeout=60, interval=0.05, message="the victim to lease feeds")
        others = daemons(config, 2)
        wait_for(lambda: len(db.alive()) == 3, timeout=60, interval=0.1, message="three nodes alive")
        wait_for(lambda: db.scalar("SELECT count(*) FROM feeds WHERE lease_owner LIKE :n", n=f"%:{victim.pid}") > 0,
                 timeout=30, interval=0.02, message="the victim holding leases")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        killed_at = utcnow()
        held = db.rows("SELECT id, name, lease_until FROM feeds WHERE lease_owner LIKE :n", n=f"%:{victim.pid}")
        assert held, "the victim held no lease when it died"
        lease_until = max(row.lease_until for row in held)
        lease = (lease_until - killed_at).total_seconds()
        assert lease <= 3 * 2 + 60 + 1  # deadline × rounds + the poller's margin

        ids = [row.id for row in held]

        def taken_over() -> bool:
            rows = db.rows("SELECT last_polled_at, lease_owner FROM feeds WHERE id = ANY(:ids)", ids=ids)
            return all(r.last_polled_at is not None and r.last_polled_at > killed_at for r in rows)

        wait_for(taken_over, timeout=lease + 30, interval=0.2, message="the dead node's feeds polled by the others")
        taken_at = utcnow()
        # Not before its lease ran out, and within a poll tick (5 s) and a fetch of it.
        polled_at = [r[0] for r in db.rows("SELECT last_polled_at FROM feeds WHERE id = ANY(:ids)", ids=ids)]
        assert min(polled_at) >= lease_until
        assert (taken_at - lease_until).total_seconds() < 20
        assert any("took over" in d.log and "whose lease of another node had expired" in d.log for d in others)

        wait_for(lambda: db.polled() == 40, timeout=30, interval=0.2, message="every feed polled")
        wait_for(lambda: len(alerted_titles(webhook_server)) >= 10, timeout=30, interval=0.2, message="10 alerts")
        stop_all(others)
        # Nothing lost: every article stored once, every hit alerted once.
        assert db.scalar("SELECT count(*) FROM articles") == feeds.articles == 50
        assert sorted(alerted_titles(webhook_server)) == sorted(feeds.titles())
        counts = feeds.counts()
        assert all(counts[feeds.path(i)] >= 1 for i in range(40))
        # Only the dead node's in-flight feeds were fetched twice.
        twice = {path for path, n in counts.items() if n > 1}
        assert twice <= {feeds.path(int(row.name.split()[1])) for row in held}
    finally:
        db.close()


def test_a_digest_channel_with_three_daemons_sends_one_digest_per_window(
    tmp_path: Path, database_url: str, feed_server: FeedServer, webhook_server: WebhookServer, daemons: Any
) -> None:
    feeds = Feeds(feed_server, 60, matching=range(0, 60, 5))
    feed_server.delay = 0.5  # 2 fetches at a time per daemon: hits are found over several windows
    # A window every 3 seconds (six fields: seconds first): every daemon's cron job fires at once.
    config = write_config(
        tmp_path / "config.yaml", daemon_url(database_url), feeds.config(), poll={"concurrency": 2},
        channels=hook_channel(webhook_server, mode="digest", schedule="*/3 * * * * *"), watchlists=CARTELS,
    )
    db = Db(database_url)
    try:
        group = daemons(config, 3)
        wait_for(lambda: len(db.alive()) == 3, timeout=60, interval=0.1, message="three nodes alive")
        wait_for(lambda: len(alerted_titles(webhook_server)) >= 12, timeout=60, interval=0.2,
                 message="the 12 hits in digests")
        # Every window opened is sent (or being sent); stopping lets a send in flight finish, so
        # after the exits the sink has everything the daemons would ever send for these hits.
        wait_for(lambda: db.scalar("SELECT count(*) FROM messages WHERE status <> 'sent'") == 0, timeout=30,
                 interval=0.1, message="every digest window sent")
        stop_all(group)

        posts = webhook_server.posts_to("/hook")
        assert sorted(alerted_titles(webhook_server)) == sorted(feeds.titles())  # each hit in one digest
        messages = db.rows("SELECT window_end, status FROM messages WHERE kind = 'digest' ORDER BY window_end")
        assert len(messages) == len(posts) >= 2, messages
        assert len({m.window_end for m in messages}) == len(messages) and {m.status for m in messages} == {"sent"}
        assert db.rows("SELECT status, count(*) FROM deliveries GROUP BY status") == [("sent", 12)]
        # Each window was opened by one daemon, though all three woke for it.
        opened = Counter(re.findall(r"digest window ending (\S+) opened", "".join(d.log for d in group)))
        assert sorted(opened) == sorted(m.window_end.isoformat() for m in messages)
        assert set(opened.values()) == {1}
    finally:
        db.close()


@pytest.fixture
def daemon_role(database_url: str) -> Iterator[str]:
    """A login role of the test's own for the daemons, owning the test's schema's tables:
    refusing it logins and terminating its sessions takes the database away from the
    daemons only (as a PostgreSQL restart would), not from anyone else on the server."""
    role = f"monitor_daemon_{uuid.uuid4().hex[:10]}"
    schema = make_url(database_url).query["options"].split("=", 1)[1]
    admin = create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT ALL ON SCHEMA "{schema}" TO "{role}"')
    try:
        yield role
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER ROLE "{role}" LOGIN')
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %(role)s", {"role": role}
            )
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


@contextmanager
def database_down(db: Db, role: str) -> Iterator[None]:
    """The daemons' database goes away: their sessions are terminated and new ones
    refused until the block ends (the test's own connections are untouched)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'ALTER ROLE "{role}" NOLOGIN')
        terminated = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = %(role)s AND application_name = %(app)s AND pid <> pg_backend_pid()",
            {"role": role, "app": APP},
        ).scalar()
    assert terminated, "the daemons had no connection open"
    try:
        yield
    finally:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'ALTER ROLE "{role}" LOGIN')


def test_daemons_carry_on_when_their_database_goes_away_and_comes_back(
    tmp_path: Path, database_url: str, daemon_role: str, feed_server: FeedServer, webhook_server: WebhookServer,
    daemons: Any,
) -> None:
    feeds = Feeds(feed_server, 30, matching=[3, 17])
    feed_server.delay = 0.2
    url = make_url(daemon_url(database_url)).set(username=daemon_role).render_as_string(hide_password=False)
    # Every feed polled every 2 seconds, 4 at a time: the daemons are busy when the database goes.
    config = write_config(
        tmp_path / "config.yaml", url, feeds.config(interval="2s"),
        poll={"concurrency": 4}, cluster={"claim_batch": 4},
        channels=hook_channel(webhook_server), watchlists=CARTELS,
    )
    db = Db(database_url)
    try:
        group = daemons(config, 3)
        wait_for(lambda: len(db.alive()) == 3, timeout=60, interval=0.1, message="three nodes alive")
        wait_for(lambda: len(alerted_titles(webhook_server)) == 2, timeout=30, interval=0.1, message="first alerts")

        # The database goes away while a daemon holds feed leases (fetching: the results cannot be
        # stored), then while an alert is being sent (it goes out; recording it fails).
        busy = {
            "mid-poll": "SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL",
            "mid-send": "SELECT count(*) FROM deliveries WHERE status = 'sending'",
        }
        late = 1000
        for round_, (when, query) in enumerate(busy.items()):
            webhook_server.delay = 1.0 if when == "mid-send" else 0.0
            for i in range(round_, 30, 2):  # new articles on half of the feeds
                late += 1
                title = f"Cartel raid number {late} in the port" if i % 4 < 2 else f"Routine late report {late}"
                feeds.add_item(i, Item(f"late{late}", title))
            beats = [d.log.count("heartbeat failed") for d in group]
            polls = [d.log.count("poll job failed") for d in group]
            wait_for(lambda q=query: db.scalar(q) > 0, timeout=30, interval=0.005, message=f"a daemon {when}")
            with database_down(db, daemon_role):
                down_at = utcnow()
                # ... and until every daemon has noticed: a heartbeat and a poll tick failed.
                wait_for(lambda b=beats, p=polls: all(d.log.count("heartbeat failed") > nb and
                                                      d.log.count("poll job failed") > np
                                                      for d, nb, np in zip(group, b, p, strict=True)),
                         timeout=30, interval=0.1, message=f"{when}: every daemon to notice the outage")
                if when == "mid-poll":  # a daemon started while the database is down exits, saying why
                    refused = run_cli("run", "--config", str(config))
                    assert refused.returncode == 1
                    assert refused.stderr.startswith("error: database: (psycopg.OperationalError) connection failed")
                    assert f'role "{daemon_role}" is not permitted to log in' in refused.stderr
            up_at = utcnow()
            # They reconnect and carry on: heartbeats from all three, every feed polled again (none
            # stuck under a lease taken before the outage), every new article stored.
            wait_for(lambda t=down_at: len([n for n in db.alive() if n.heartbeat_at > t]) == 3, timeout=30,
                     interval=0.1, message=f"{when}: three heartbeats after the outage")
            wait_for(lambda t=up_at: db.scalar("SELECT min(last_polled_at) FROM feeds") > t, timeout=20,
                     interval=0.2, message=f"{when}: every feed polled after the outage")
            wait_for(lambda: db.scalar("SELECT count(*) FROM articles") == feeds.articles, timeout=20, interval=0.2,
                     message=f"{when}: the new articles stored")
        assert all(d.running() for d in group)
        wait_for(lambda: sorted(alerted_titles(webhook_server)) == sorted(feeds.titles()), timeout=30, interval=0.2,
                 message="every hit alerted")
        wait_for(lambda: db.scalar("SELECT count(*) FROM deliveries WHERE status <> 'sent'") == 0, timeout=30,
                 interval=0.2, message="every delivery recorded as sent")
        stop_all(group, clean=False)

        assert sorted(alerted_titles(webhook_server)) == sorted(feeds.titles())  # once each
        assert db.scalar("SELECT count(*) FROM articles") == feeds.articles
        assert db.scalar("SELECT count(*) FROM hits") == len(feeds.titles())
        assert db.scalar("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL") == 0
        assert db.scalar("SELECT count(*) FROM feeds WHERE last_polled_at < now() - interval '20 seconds'") == 0
    finally:
        db.close()


def test_two_config_versions_run_side_by_side(
    tmp_path: Path, database_url: str, feed_server: FeedServer, daemons: Any
) -> None:
    feeds = Feeds(feed_server, 11)
    url = daemon_url(database_url)
    old = write_config(tmp_path / "old.yaml", url, feeds.config(range(10)))
    new = write_config(tmp_path / "new.yaml", url, feeds.config(range(11)))  # one more feed: "feed 10"
    db = Db(database_url)
    try:
        (a,) = daemons(old, 1)
        wait_for(lambda: db.polled() == 10, timeout=60, interval=0.1, message="the old config's feeds polled")
        (b,) = daemons(new, 1)
        wait_for(lambda: len(db.alive()) == 2, timeout=60, interval=0.1, message="both nodes alive")
        wait_for(lambda: db.polled() == 11, timeout=30, interval=0.1, message="the new feed polled")

        status = run_cli("status", "--config", str(old), "--format", "json")
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["warning"] == "a rolling config change is in progress: 2 config versions among 2 alive nodes"
        assert "rolling config change" in status.stderr

        # The old node re-reads its config (SIGHUP): it must not switch off the new node's feed.
        a.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "other node(s) run another config" in a.log, timeout=30, interval=0.1,
                 message="the old node's reload")
        assert db.rows("SELECT active, last_polled_at IS NOT NULL FROM feeds WHERE name = 'feed 10'") == [(True, True)]
        stop_all([a, b])

        assert "feed 10" in b.polled() and "feed 10" not in a.polled()
        assert feeds.counts()[feeds.path(10)] == 1
        assert all(feeds.counts()[feeds.path(i)] == 1 for i in range(11))
    finally:
        db.close()
