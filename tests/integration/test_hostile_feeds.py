"""Hostile and broken publishers on loopback: every case ends in a recorded
state and reason on its own feed, the good feed beside them is stored, and the
service keeps going (a real `monitor run` too)."""

from __future__ import annotations

import functools
import gzip
import io
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from monitor.fetch.http import Fetcher
from monitor.service import Service
from tests.servers import FakeInternet, wait_for

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = (DATA / "us-mexico-security.xml").read_bytes()
HOSTILE = DATA / "hostile"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@functools.cache
def gzip_bomb() -> bytes:
    """About 1 MB of gzip that inflates to 1 GB of blanks."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as bomb:
        bomb.write(b"<rss>")
        block = b" " * (16 * 1024 * 1024)
        for _ in range(64):
            bomb.write(block)
    return out.getvalue()


def serve_hostile(feed_server) -> dict[str, str]:
    big = b"<rss><channel>" + b"<item><title>x</title></item>" * 2_000_000 + b"</channel></rss>"  # ~58 MB
    bomb = gzip_bomb()
    moved = FIXTURE.replace(b"example.test", b"moved.example").replace(b"<guid isPermaLink=\"false\">", b"<guid isPermaLink=\"false\">moved-")
    feed_server.add("/new-home.xml", moved)
    feed_server.add("/temp-target.xml", moved.replace(b"moved", b"temp"))
    feed_server.add("/loop-b.xml", b"")
    return {
        "Good": feed_server.add("/good.xml", FIXTURE),
        "Trickle": feed_server.trickle("/trickle.xml", FIXTURE, 1.0),
        "Huge": feed_server.add("/huge.xml", big, etag=False),
        "Bomb": feed_server.add("/bomb.xml", bomb, etag=False, headers={"Content-Encoding": "gzip"}),
        "Loop": (feed_server.redirect("/loop-b.xml", "/loop-a.xml", 302), feed_server.redirect("/loop-a.xml", "/loop-b.xml", 302))[1],
        "Throttled": feed_server.set_status("/busy.xml", 429, b"slow down", headers={"Retry-After": "7200"}),
        "Moved": feed_server.redirect("/old-home.xml", "/new-home.xml", 301),
        "Temporary": feed_server.redirect("/temp.xml", "/temp-target.xml", 302),
        "Gone": feed_server.set_status("/gone.xml", 410, b"gone"),
        "HTML": feed_server.add("/page.html", (HOSTILE / "html_page.html").read_bytes(), content_type="text/html"),
        "Empty": feed_server.add("/empty.xml", b""),
        "Laughs": feed_server.add("/laughs.xml", (HOSTILE / "billion_laughs_oneline.xml").read_bytes()),
        "Truncated": feed_server.add("/truncated.xml", (HOSTILE / "truncated.xml").read_bytes()),
        "Latin1": feed_server.add("/latin1.xml", (HOSTILE / "iso88591.xml").read_bytes(), content_type="application/rss+xml"),
    }


def config(urls: dict[str, str], database: str | None = None) -> dict:
    data = {
        "poll": {
            "interval": "15m",
            "timeout": "4s",
            "connect_timeout": "4s",
            "deadline": "5s",
            "max_bytes": 5 * 1024 * 1024,
            "host_delay": 0,
            "per_host": 6,
            "concurrency": 6,
        },
        "feeds": [{"name": name, "url": url} for name, url in urls.items()],
        "watchlists": [{"name": "cartels", "keywords": ["cartel", "cartels", "cárteles"]}],
    }
    return {"database": database, **data} if database else data


def test_each_hostile_case_is_recorded_on_its_own_feed(feed_server, make_settings) -> None:
    urls = serve_hostile(feed_server)
    clock = Clock()
    service = Service(make_settings(config(urls)), clock=clock, echo=lambda _: None)
    summary = service.poll(all_feeds=True)
    health = {h.name: h for h in service.repo.feed_health()}
    ok = {"Good", "Moved", "Temporary", "Truncated", "Latin1", "Laughs"}
    assert {n for n, h in health.items() if h.consecutive_failures == 0} == ok, {n: h.last_error for n, h in health.items()}
    assert health["Good"].articles == 4
    assert "timed out" in health["Trickle"].last_error
    assert health["Huge"].last_error == f"body larger than {5 * 1024 * 1024} bytes"
    assert health["Bomb"].last_error == f"body larger than {5 * 1024 * 1024} bytes"
    assert health["Loop"].last_error == "more than 5 redirects"
    assert health["Throttled"].last_error == "HTTP 429 Too Many Requests"
    assert health["Throttled"].next_poll_at >= clock.now + timedelta(seconds=7200)
    assert health["Gone"].disabled_reason == "HTTP 410 Gone: the publisher removed this feed"
    assert health["HTML"].last_error == "not a feed (an HTML page, text/html): for a listing page use `type: html` with an `items` selector"
    assert health["Empty"].last_error == "empty response body"
    # A permanent redirect is stored; a temporary one is not.
    assert health["Moved"].url == feed_server.url("/new-home.xml")
    assert health["Temporary"].url == feed_server.url("/temp.xml")
    # Billion laughs: parsed without the expansion; Latin-1 decoded.
    assert summary.feeds == len(urls)

    # A second cycle: the disabled feed is not fetched, the moved one is
    # fetched at its new home, the others back off.
    gone_before = feed_server.count("/gone.xml")
    old_home_before = feed_server.count("/old-home.xml")
    service.poll(all_feeds=True)
    assert feed_server.count("/gone.xml") == gone_before
    assert feed_server.count("/old-home.xml") == old_home_before
    later = {h.name: h for h in service.repo.feed_health()}
    assert later["Huge"].consecutive_failures == 2
    assert later["Huge"].next_poll_at > health["Huge"].next_poll_at


def test_the_daemon_keeps_running_through_them(tmp_path, feed_server) -> None:
    urls = serve_hostile(feed_server)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config(urls, f"sqlite:///{tmp_path}/m.db")))
    log = tmp_path / "daemon.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(path)],
            stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
        )
        try:
            wait_for(lambda: "poll cycle: feeds=14" in log.read_text(), timeout=60)
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert "feed='Good' status=ok entries=4 new=4 copies=0 updated=0 hits=3" in text
    assert "poll cycle: feeds=14 ok=6 not_modified=0 failed=8" in text
    assert "feed='Gone'" in text and "disabled: HTTP 410 Gone" in text
    assert "moved permanently" in text


def test_admin_channel_hears_once_of_a_long_failure_and_once_of_recovery(feed_server, webhook_server, make_settings) -> None:
    url = feed_server.set_status("/flaky.xml", 500, b"down")
    data = {
        "poll": {"interval": "15m", "alert_after": "1h", "host_delay": 0},
        "feeds": [{"name": "Flaky", "url": url}],
        "channels": {"ops": {"urls": [f"json://127.0.0.1:{webhook_server.port}/ops"]}},
        "admin_channel": "ops",
        "watchlists": [{"name": "cartels", "keywords": ["cartel"]}],
    }
    clock = Clock()
    service = Service(make_settings(data), clock=clock, echo=lambda _: None)
    for hours in (0, 0.5, 2, 3, 5):
        clock.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC) + timedelta(hours=hours)
        service.poll(all_feeds=True)
        service.dispatch()
    posts = webhook_server.posts_to("/ops")
    assert len(posts) == 1
    assert "Flaky" in posts[0].json["title"] and "failing" in posts[0].json["title"]
    assert "HTTP 500" in posts[0].json["message"]
    feed_server.set("/flaky.xml", FIXTURE)
    for _ in range(2):
        service.poll(all_feeds=True)
        service.dispatch()
    posts = webhook_server.posts_to("/ops")
    assert len(posts) == 2 and "recovered" in posts[1].json["title"]


def test_an_admin_notice_that_cannot_be_sent_is_retried_not_lost(feed_server, webhook_server, make_settings) -> None:
    """The notice is queued with the feed's failure: the admin endpoint being
    down when it is sent (or the daemon restarting) only delays it."""
    url = feed_server.set_status("/flaky.xml", 500, b"down")
    webhook_server.fail_next(3)
    data = {
        "poll": {"interval": "15m", "alert_after": "1h", "host_delay": 0},
        "delivery": {"retry_delay": "1m", "max_attempts": 5},
        "feeds": [{"name": "Flaky", "url": url}],
        "channels": {"ops": {"urls": [f"json://127.0.0.1:{webhook_server.port}/ops"]}},
        "admin_channel": "ops",
        "watchlists": [{"name": "cartels", "keywords": ["cartel"]}],
    }
    clock = Clock()
    settings = make_settings(data)
    service = Service(settings, clock=clock, echo=lambda _: None)
    for hours in (0, 2):
        clock.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC) + timedelta(hours=hours)
        service.poll(all_feeds=True)
    service.dispatch()  # the endpoint fails: the notice waits for its retry
    assert webhook_server.posts_to("/ops") == [] and len(webhook_server.attempts) == 1
    restarted = Service(settings, clock=clock, echo=lambda _: None)
    for minutes in range(1, 40, 3):
        clock.now = datetime(2026, 11, 29, 14, 0, tzinfo=UTC) + timedelta(minutes=minutes)
        restarted.dispatch()
    delivered = webhook_server.posts_to("/ops")
    assert len(delivered) == 1 and "failing" in delivered[0].json["title"]
    assert len(webhook_server.attempts) == 4  # three refused, then sent once



# --- redirects into private address space ----------------------------------------

PUBLIC = "93.184.216.34"  # routed by FakeInternet to the loopback feed server


def on_fake_internet(service: Service, internet: FakeInternet) -> Service:
    """The service's own fetcher (its settings from the config), with fake DNS and routes."""
    poller = service.poller
    poller.fetcher.close()
    poller.fetcher = Fetcher(poller.fetcher.settings, resolve=internet.resolve, network=internet.network)
    return service


def sneaky_feeds(feed_server) -> tuple[FakeInternet, dict[str, str]]:
    """Feeds on a public host: one good, two redirecting into loopback."""
    internet = FakeInternet()
    internet.dns("news.example", [PUBLIC])
    internet.route(PUBLIC, feed_server)
    port = feed_server.port
    feed_server.add("/good.xml", FIXTURE)
    feed_server.add("/internal.xml", FIXTURE.replace(b"example.test", b"internal.test").replace(b"<guid isPermaLink=\"false\">", b"<guid isPermaLink=\"false\">internal-"))
    feed_server.redirect("/302.xml", feed_server.url("/internal.xml"), 302)
    feed_server.redirect("/301.xml", f"http://[::1]:{port}/internal.xml", 301)
    urls = {
        "Good": f"http://news.example:{port}/good.xml",
        "Sneaky302": f"http://news.example:{port}/302.xml",
        "Sneaky301": f"http://news.example:{port}/301.xml",
    }
    return internet, urls


def test_redirects_into_private_space_are_refused_recorded_and_not_stored(feed_server, make_settings) -> None:
    internet, urls = sneaky_feeds(feed_server)
    service = on_fake_internet(Service(make_settings(config(urls)), clock=Clock(), echo=lambda _: None), internet)
    summary = service.poll(all_feeds=True)
    health = {h.name: h for h in service.repo.feed_health()}
    assert health["Sneaky302"].last_error == "redirect to private address 127.0.0.1 refused"
    assert health["Sneaky301"].last_error == "redirect to private address ::1 refused"
    # The 301 is not taken as the feed's new home.
    assert health["Sneaky301"].url == urls["Sneaky301"]
    assert health["Sneaky302"].articles == health["Sneaky301"].articles == 0
    assert health["Good"].articles == 4 and health["Good"].consecutive_failures == 0
    assert service.repo.article_count() == 4
    assert feed_server.count("/internal.xml") == 0
    assert (summary.feeds_ok, summary.feeds_failed) == (1, 2)


def test_allow_private_redirects_in_the_config_opts_out(feed_server, make_settings) -> None:
    internet, urls = sneaky_feeds(feed_server)
    del urls["Sneaky301"]  # nothing listens on [::1] here
    data = config(urls)
    data["poll"]["allow_private_redirects"] = True
    service = on_fake_internet(Service(make_settings(data), clock=Clock(), echo=lambda _: None), internet)
    service.poll(all_feeds=True)
    health = {h.name: h for h in service.repo.feed_health()}
    assert health["Sneaky302"].consecutive_failures == 0, health["Sneaky302"].last_error
    assert health["Sneaky302"].articles == 4
    assert feed_server.count("/internal.xml") == 1
