"""Config reload: `Service.apply` between cycles, the `Reloader` (validation,
rejection, the database rule), the file watcher, digest jobs rescheduled,
and a real `monitor run` reloading on a file edit and on SIGHUP.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.reload import ConfigWatcher, Reloader, describe_reload
from monitor.scheduler import make_scheduler, schedule_digests
from monitor.service import Service
from monitor.store.engine import make_engine
from monitor.store.repository import Repository
from tests.servers import FeedServer, wait_for


def rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>http://news.example/{t.replace(' ', '-')}</link>"
        f"<guid>{t}</guid><description>{t}: a report.</description></item>"
        for t in titles
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}</channel></rss>'.encode()


def config(feeds: list[dict], keywords: list[str], **extra: object) -> dict:
    return {
        # parse_workers 0: parse in this process (no worker pool to start per test)
        "poll": {"interval": "15m", "timeout": "5s", "connect_timeout": "2s", "parse_workers": 0},
        "feeds": feeds,
        "watchlists": [{"name": "watch", "keywords": keywords}],
        **extra,
    }


def hits(repo: Repository) -> set[tuple[str, str]]:
    return {(h.watchlist, h.title) for h in repo.list_hits()}


@pytest.fixture
def service_of() -> Iterator[Callable[[Path], Service]]:
    made: list[Service] = []

    def make(path: Path) -> Service:
        service = Service(load_config(path), echo=lambda _: None)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


# --- Service.apply ----------------------------------------------------------------


def test_the_next_poll_uses_a_changed_watchlist(feed_server: FeedServer, write_config, service_of) -> None:
    url = feed_server.add("/news.xml", rss("Cartel story 1", "Storm story 1"))
    service = service_of(write_config(config([{"name": "News", "url": url}], ["cartel"])))
    service.poll(all_feeds=True)
    assert hits(service.repo) == {("watch", "Cartel story 1")}

    service.apply(load_config(write_config(config([{"name": "News", "url": url}], ["storm"]))))
    feed_server.set("/news.xml", rss("Cartel story 1", "Storm story 1", "Cartel story 2", "Storm story 2"))
    service.poll(all_feeds=True)
    assert hits(service.repo) == {("watch", "Cartel story 1"), ("watch", "Storm story 2")}


def test_a_removed_feed_stops_being_polled_and_a_new_one_starts(
    feed_server: FeedServer, write_config, service_of
) -> None:
    a = feed_server.add("/a.xml", rss("Alpha cartel"))
    b = feed_server.add("/b.xml", rss("Bravo cartel"))
    c = feed_server.add("/c.xml", rss("Charlie cartel"))
    service = service_of(write_config(config([{"name": "A", "url": a}, {"name": "B", "url": b}], ["cartel"])))
    service.poll(all_feeds=True)
    assert (feed_server.count("/a.xml"), feed_server.count("/b.xml"), feed_server.count("/c.xml")) == (1, 1, 0)

    service.apply(load_config(write_config(config([{"name": "B", "url": b}, {"name": "C", "url": c}], ["cartel"]))))
    service.poll(all_feeds=True)
    assert (feed_server.count("/a.xml"), feed_server.count("/b.xml"), feed_server.count("/c.xml")) == (1, 2, 1)
    assert {f.name: f.active for f in service.repo.feed_health()} == {"A": False, "B": True, "C": True}
    assert ("watch", "Charlie cartel") in hits(service.repo)


def test_a_poll_cycle_in_flight_finishes_with_the_old_settings(
    feed_server: FeedServer, write_config, service_of
) -> None:
    body = rss("Cartel story 1", "Storm story 1")
    url = feed_server.trickle("/slow.xml", body, seconds_per_byte=1.0 / len(body))  # about a second
    service = service_of(write_config(config([{"name": "Slow", "url": url}], ["cartel"])))
    polling = threading.Thread(target=service.poll, kwargs={"all_feeds": True})
    polling.start()
    wait_for(lambda: feed_server.count("/slow.xml") == 1, message="the poll's request")

    service.apply(load_config(write_config(config([{"name": "Slow", "url": url}], ["storm"]))))
    # apply() returned only after the cycle under way had finished, with the old watchlist.
    assert not polling.is_alive()
    polling.join()
    assert hits(service.repo) == {("watch", "Cartel story 1")}
    assert service.settings.watchlists[0].keywords == ("storm",)


def test_a_dispatch_in_flight_finishes_before_the_new_dispatcher_takes_over(
    feed_server: FeedServer, webhook_server, apprise_unthrottled, write_config, service_of
) -> None:
    url = feed_server.add("/news.xml", rss(*(f"Cartel story {i}" for i in range(5))))
    channels = {"hook": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}}
    data = config([{"name": "News", "url": url}], ["cartel"], channels=channels)
    data["watchlists"][0]["channels"] = ["hook"]
    service = service_of(write_config(data))
    service.poll(all_feeds=True)
    webhook_server.delay = 0.2  # five alerts: about a second
    dispatching = threading.Thread(target=service.dispatch)
    dispatching.start()
    wait_for(lambda: webhook_server.attempts, message="the first send")

    data["channels"]["hook"]["min_score"] = 1000
    service.apply(load_config(write_config(data)))
    assert not dispatching.is_alive()  # apply() waited for the dispatch under way
    dispatching.join()
    assert len(webhook_server.posts_to("/hook")) == 5
    assert service.dispatcher.settings.channels["hook"].min_score == 1000


def test_digest_jobs_are_added_rescheduled_and_removed(write_config, service_of) -> None:
    hook = "json://127.0.0.1:9/hook"
    before = {
        "morning": {"urls": [hook], "mode": "digest", "schedule": "0 7 * * *"},
        "desk": {"urls": [hook], "mode": "digest", "schedule": "0 12 * * *"},
    }
    after = {
        "desk": {"urls": [hook], "mode": "digest", "schedule": "30 18 * * *"},
        "evening": {"urls": [hook], "mode": "digest", "schedule": "0 21 * * *"},
    }
    path = write_config(config([], ["cartel"], channels=before))
    service = service_of(path)
    scheduler = make_scheduler(service)
    scheduler.start(paused=True)
    try:
        assert {j.id for j in scheduler.get_jobs() if j.id.startswith("digest:")} == {"digest:morning", "digest:desk"}
        service.apply(load_config(write_config(config([], ["cartel"], channels=after))))
        schedule_digests(scheduler, service)
        jobs = {j.id: j for j in scheduler.get_jobs() if j.id.startswith("digest:")}
        assert set(jobs) == {"digest:desk", "digest:evening"}
        fields = {f.name: str(f) for f in jobs["digest:desk"].trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("18", "30")
    finally:
        scheduler.shutdown(wait=False)


# --- Reloader --------------------------------------------------------------------


def test_an_invalid_file_is_rejected_with_the_check_lines_and_the_old_config_keeps_working(
    feed_server: FeedServer, write_config, service_of, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.add("/news.xml", rss("Cartel story 1"))
    feeds = [{"name": "News", "url": url}]
    path = write_config(config(feeds, ["cartel"]))
    service = service_of(path)
    running = service.settings
    broken = config(feeds, ["storm"], poll={"interval": "soon"})
    broken["watchlists"][0]["channels"] = ["nowhere"]
    write_config(broken)
    with pytest.raises(ConfigError) as checked:  # what `monitor check` prints, one line each
        load_config(path)

    caplog.set_level(logging.INFO, logger="monitor.reload")
    assert Reloader(service, path, watch_file=False).reload("test") is False

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0] == (
        f"config reload rejected: {path}: invalid configuration (2 problems); keeping the running config"
    )
    assert errors[1:] == [f"  {p}" for p in checked.value.problems]
    assert any("unknown channel 'nowhere'" in line for line in errors)
    assert service.settings is running
    feed_server.set("/news.xml", rss("Cartel story 1", "Cartel story 2", "Storm story 2"))
    service.poll(all_feeds=True)
    assert hits(service.repo) == {("watch", "Cartel story 1"), ("watch", "Cartel story 2")}


def test_a_new_database_url_is_rejected(
    feed_server: FeedServer, write_config, service_of, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.add("/news.xml", rss("Cartel story 1"))
    path = write_config(config([{"name": "News", "url": url}], ["cartel"]))
    service = service_of(path)
    moved = {**config([{"name": "News", "url": url}], ["storm"]), "database": f"sqlite:///{tmp_path}/other.db"}
    path.write_text(yaml.safe_dump(moved), encoding="utf-8")
    caplog.set_level(logging.INFO, logger="monitor.reload")

    assert Reloader(service, path, watch_file=False).reload("test") is False
    assert "  database: cannot change while the daemon runs; restart it to use another database" in caplog.messages
    assert service.settings.watchlists[0].keywords == ("cartel",)
    assert not (tmp_path / "other.db").exists()


def test_a_reload_logs_the_counts_and_an_unchanged_file_is_not_reloaded_on_a_file_event(
    feed_server: FeedServer, write_config, service_of, caplog: pytest.LogCaptureFixture
) -> None:
    a = feed_server.add("/a.xml", rss("Alpha"))
    b = feed_server.add("/b.xml", rss("Bravo"))
    path = write_config(config([{"name": "A", "url": a}], ["cartel"]))
    service = service_of(path)
    reloader = Reloader(service, path, watch_file=False)
    caplog.set_level(logging.INFO, logger="monitor.reload")

    assert reloader.reload("file changed", force=False) is False  # same bytes as loaded
    write_config(config([{"name": "B", "url": b}, {"name": "C", "url": b + "?c"}], ["cartel"]))
    assert reloader.reload("file changed", force=False) is True
    assert "config reloaded: 2 feeds (+2 -1), 1 watchlists, 0 channels" in caplog.messages
    assert reloader.reload("SIGHUP", force=True) is True  # a signal always re-reads


def test_describe_reload_counts_feeds_added_and_removed(write_config) -> None:
    feeds = [{"name": n, "url": f"http://127.0.0.1:9/{n}"} for n in "abc"]
    old = load_config(write_config(config(feeds[:2], ["x"])))
    new = load_config(write_config(config(feeds[1:], ["x"], channels={"c": {"urls": ["json://127.0.0.1:9/"]}})))
    assert describe_reload(old, new) == "2 feeds (+1 -1), 1 watchlists, 1 channels"


def test_editing_the_file_reloads_the_running_service(
    feed_server: FeedServer, write_config, service_of
) -> None:
    url = feed_server.add("/news.xml", rss("Cartel story 1"))
    path = write_config(config([{"name": "News", "url": url}], ["cartel"]))
    service = service_of(path)
    reloader = Reloader(service, path)
    reloader.start()
    try:
        assert reloader.watcher is not None and reloader.watcher.wait_ready()
        # An editor's save: a new file renamed over the old one.
        new = path.with_name(".config.yaml.tmp")
        new.write_text(path.read_text().replace("- cartel", "- storm"), encoding="utf-8")
        os.replace(new, path)
        wait_for(lambda: service.settings.watchlists[0].keywords == ("storm",), timeout=10)
    finally:
        reloader.stop()


def test_the_watcher_ignores_other_files_in_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("feeds: []\n")
    seen: list[str] = []
    watcher = ConfigWatcher(path, lambda: seen.append("config"), step_ms=50)
    watcher.start()
    try:
        assert watcher.wait_ready()
        (tmp_path / "monitor.db").write_bytes(b"x" * 100)
        (tmp_path / "config.yaml.bak").write_text("other")
        path.write_text("feeds: []  # edited\n")
        wait_for(lambda: seen, timeout=10)
    finally:
        watcher.stop()
    assert seen == ["config"]


# --- a real daemon -----------------------------------------------------------------

OPML = """<?xml version="1.0"?><opml version="2.0"><head><title>Extra</title></head><body>
{}
</body></opml>"""


def opml(*urls: tuple[str, str]) -> str:
    return OPML.format("\n".join(f'<outline text="{name}" type="rss" xmlUrl="{url}"/>' for name, url in urls))


def test_the_daemon_reloads_on_edit_and_on_sighup_and_survives_a_broken_edit(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    news = feed_server.add("/news.xml", rss("Cartel story 1", "Storm story 1"))
    extra1 = feed_server.add("/extra1.xml", rss("Extra one"))
    extra2 = feed_server.add("/extra2.xml", rss("Extra two"))
    database = f"sqlite:///{tmp_path}/m.db"
    path = tmp_path / "config.yaml"

    def write(keywords: list[str], **watchlist: object) -> None:
        data = {
            "database": database,
            "poll": {"interval": "1h", "timeout": "5s", "parse_workers": 0},
            "feeds": [{"name": "News", "url": news, "interval": "2s"}, {"opml": "extra.opml", "interval": "2s"}],
            "watchlists": [{"name": "watch", "keywords": keywords, **watchlist}],
        }
        path.write_text(yaml.safe_dump(data), encoding="utf-8")

    (tmp_path / "extra.opml").write_text(opml(("Extra1", extra1)), encoding="utf-8")
    write(["cartel"])
    log_file = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=log_file.open("w"),
        cwd=tmp_path,
    )

    def log() -> str:
        return log_file.read_text(encoding="utf-8")

    try:
        wait_for(lambda: "watching" in log() and "monitor running" in log(), timeout=15, message="daemon start")
        repo = Repository(make_engine(database))
        wait_for(lambda: ("watch", "Cartel story 1") in hits(repo), timeout=15)

        # 1. An edit of the watchlist: the next poll uses it.
        write(["storm"])
        wait_for(lambda: "config reloaded: 2 feeds (+0 -0), 1 watchlists, 0 channels" in log(), timeout=10)
        feed_server.set("/news.xml", rss("Cartel story 1", "Storm story 1", "Cartel story 2", "Storm story 2"))
        wait_for(lambda: ("watch", "Storm story 2") in hits(repo), timeout=15)
        assert ("watch", "Cartel story 2") not in hits(repo)

        # 2. SIGHUP re-reads the file and the OPML it lists (which is not watched): a new feed is polled.
        (tmp_path / "extra.opml").write_text(opml(("Extra1", extra1), ("Extra2", extra2)), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded: 3 feeds (+1 -0)" in log(), timeout=10)
        wait_for(lambda: feed_server.count("/extra2.xml") >= 1, timeout=15)

        # 3. A broken edit is rejected with `monitor check`'s lines; the previous config keeps working.
        write(["storm"], channels=["nowhere"])
        wait_for(lambda: "config reload rejected:" in log(), timeout=10)
        check = subprocess.run(
            [sys.executable, "-m", "monitor", "check", "--config", str(path)],
            capture_output=True, text=True, cwd=tmp_path,
        )
        problems = [line for line in check.stderr.splitlines() if line.startswith("  ")]
        assert check.returncode == 2 and problems

        def logged_as_errors() -> bool:  # each problem as an ERROR line of its own
            errors = [line for line in log().splitlines() if " ERROR " in line]
            return all(any(line.endswith(f"monitor.reload: {p}") for line in errors) for p in problems)

        wait_for(logged_as_errors, timeout=5)
        feed_server.set("/news.xml", rss("Storm story 2", "Cartel story 3", "Storm story 3"))
        wait_for(lambda: ("watch", "Storm story 3") in hits(repo), timeout=15)
        assert ("watch", "Cartel story 3") not in hits(repo)

        # 4. SIGHUP re-reads even an unchanged file: rejected again, still running.
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log().count("config reload rejected:") == 2, timeout=10)
        assert proc.poll() is None
    finally:
        print(log())  # shown when the test fails
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    assert "Traceback" not in log()
