"""The HTTP fetcher against a local server: gzip, redirects, size cap, timeouts."""

from __future__ import annotations

import threading
from pathlib import Path

from monitor.fetch.http import Fetcher, FetchSettings, run_fetches
from monitor.models import FeedRequest, FetchResult

FIXTURE = (Path(__file__).resolve().parents[1] / "data" / "us-mexico-security.xml").read_bytes()


def fetch(*urls: str, **settings) -> list[FetchResult]:
    results: list[FetchResult] = []
    requests = [FeedRequest(i, f"feed{i}", url) for i, url in enumerate(urls)]
    run_fetches(Fetcher(FetchSettings(**settings)), requests, results.append)
    return sorted(results, key=lambda r: r.request.feed_id)


def test_gzip_is_requested_and_decoded(feed_server) -> None:
    url = feed_server.add("/f.xml", FIXTURE, gzip=True)
    (result,) = fetch(url)
    assert result.ok and result.body == FIXTURE
    assert "gzip" in feed_server.requests_to("/f.xml")[0].headers["accept-encoding"]
    assert result.headers["content-encoding"] == "gzip"


def test_redirects_are_followed(feed_server) -> None:
    feed_server.add("/new.xml", FIXTURE)
    url = feed_server.redirect("/old.xml", "/new.xml", status=301)
    (result,) = fetch(url)
    assert result.ok and result.final_url == feed_server.url("/new.xml")


def test_redirect_loop_is_bounded(feed_server) -> None:
    feed_server.redirect("/a.xml", "/b.xml", status=302)
    url = feed_server.redirect("/b.xml", "/a.xml", status=302)
    (result,) = fetch(url)
    assert result.error == "more than 5 redirects"


def test_body_size_cap(feed_server) -> None:
    url = feed_server.add("/big.xml", b"<rss>" + b"x" * 200_000 + b"</rss>")
    (result,) = fetch(url, max_bytes=100_000)
    assert result.error == "body larger than 100000 bytes"


def test_hard_deadline_and_concurrency(feed_server) -> None:
    slow = feed_server.hang("/slow.xml", 20)
    good = feed_server.add("/good.xml", FIXTURE)
    results = fetch(slow, good, timeout=0.5, connect_timeout=0.5, concurrency=2)
    assert "timed out" in results[0].error
    assert results[1].ok


def test_stop_abandons_outstanding_fetches(feed_server) -> None:
    slow = feed_server.hang("/slow.xml", 20)
    stop = threading.Event()
    stop.set()
    results: list[FetchResult] = []
    requests = [FeedRequest(1, "slow", slow)]
    run_fetches(Fetcher(FetchSettings(timeout=10)), requests, results.append, stop)
    assert results == []
