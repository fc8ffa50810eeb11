"""The HTTP fetcher against a local server: gzip, redirects, size cap, timeouts,
and the guard against redirects from public addresses into private space."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from monitor.fetch.http import Fetcher, FetchSettings, run_fetches
from monitor.models import FeedRequest, FetchResult
from tests.servers import FakeInternet, FeedServer

FIXTURE = (Path(__file__).resolve().parents[1] / "data" / "us-mexico-security.xml").read_bytes()
# Public addresses (example.com's and its neighbours). Never dialled for real:
# FakeInternet routes them to loopback servers.
PUBLIC = "93.184.216.34"
PUBLIC_2 = "93.184.216.35"


def fetch(
    *urls: str, internet: FakeInternet | None = None, fetcher: Fetcher | None = None, **settings
) -> list[FetchResult]:
    results: list[FetchResult] = []
    requests = [FeedRequest(i, f"feed{i}", url) for i, url in enumerate(urls)]
    if fetcher is not None:
        run_fetches(fetcher, requests, results.append)
    else:
        seams = {"resolve": internet.resolve, "network": internet.network} if internet else {}
        own = Fetcher(FetchSettings(**settings), **seams)
        try:
            run_fetches(own, requests, results.append)
        finally:
            own.close()
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


def test_fetching_runs_a_bounded_number_of_results_ahead_of_a_slow_caller(feed_server, monkeypatch) -> None:
    """A caller that stores slowly holds at most RESULTS_AHEAD fetched bodies:
    the next feed is fetched only when it takes one."""
    import time

    from monitor.fetch import http

    monkeypatch.setattr(http, "RESULTS_AHEAD", 3)
    urls = [feed_server.add(f"/ahead/{i}.xml", FIXTURE) for i in range(12)]
    fetcher = Fetcher(FetchSettings(concurrency=2, host_delay=0, per_host=2))

    def served() -> int:
        return sum(1 for r in feed_server.requests if r.path.startswith("/ahead/"))

    try:
        taken = 0
        for result in fetcher.fetch([FeedRequest(i, f"f{i}", u) for i, u in enumerate(urls)]):
            assert result is not None and result.ok
            taken += 1
            # Wait until fetching has used every permit it now has, then
            # check it went no further (unbounded, it ran to all 12 at once).
            allowed = min(taken + 3, len(urls))
            deadline = time.monotonic() + 10
            while served() < allowed and time.monotonic() < deadline:
                time.sleep(0.01)
            assert served() == allowed
    finally:
        fetcher.close()
    assert taken == len(urls)


# --- redirects into private address space --------------------------------------
#
# A "public" feed is configured by a name (feeds.example) that the fake DNS
# answers with a public address; FakeInternet carries connections to that
# address to feed_server on loopback. The guard judges the address it
# resolved and dialled, so the loopback server stands in for a publisher.


@pytest.fixture
def internet(feed_server: FeedServer) -> FakeInternet:
    net = FakeInternet()
    net.dns("feeds.example", [PUBLIC])
    net.route(PUBLIC, feed_server)
    return net


def public(feed_server: FeedServer, path: str) -> str:
    return f"http://feeds.example:{feed_server.port}{path}"


def test_public_feed_redirecting_to_loopback_is_refused(feed_server, internet) -> None:
    feed_server.add("/secret.xml", FIXTURE)
    feed_server.redirect("/feed.xml", feed_server.url("/secret.xml"), status=302)
    (result,) = fetch(public(feed_server, "/feed.xml"), internet=internet)
    assert result.error == "redirect to private address 127.0.0.1 refused"
    assert result.body == b"" and result.permanent_url is None
    assert feed_server.count("/feed.xml") == 1
    assert feed_server.count("/secret.xml") == 0
    assert internet.dialled == [(PUBLIC, feed_server.port)]


def test_permanent_redirect_to_ipv6_loopback_is_refused_and_not_a_move(feed_server, internet) -> None:
    feed_server.redirect("/feed.xml", f"http://[::1]:{feed_server.port}/secret.xml", status=301)
    (result,) = fetch(public(feed_server, "/feed.xml"), internet=internet)
    assert result.error == "redirect to private address ::1 refused"
    assert result.permanent_url is None and result.status is None
    assert ("::1", feed_server.port) not in internet.dialled


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "redirect to private address 169.254.169.254 refused"),
        ("http://[::ffff:127.0.0.1]:{port}/secret.xml", "redirect to private address ::ffff:127.0.0.1 refused"),
        ("http://10.1.2.3:{port}/secret.xml", "redirect to private address 10.1.2.3 refused"),
        ("http://0.0.0.0:{port}/secret.xml", "redirect to private address 0.0.0.0 refused"),
        (
            "http://internal.example:{port}/secret.xml",
            "redirect to private address 10.0.0.1 (internal.example) refused",
        ),
        ("http://localhost:{port}/secret.xml", "redirect to private address 127.0.0.1 (localhost) refused"),
        # One private answer among public ones is enough to refuse the name.
        ("http://mixed.example:{port}/secret.xml", "redirect to private address 127.0.0.1 (mixed.example) refused"),
    ],
)
def test_redirects_into_private_space_are_refused(feed_server, internet, location, reason) -> None:
    internet.dns("internal.example", ["10.0.0.1"])
    internet.dns("localhost", ["127.0.0.1"])
    internet.dns("mixed.example", [PUBLIC_2, "127.0.0.1"])
    internet.route(PUBLIC_2, feed_server)
    feed_server.add("/secret.xml", FIXTURE)
    feed_server.redirect("/feed.xml", location.format(port=feed_server.port), status=302)
    (result,) = fetch(public(feed_server, "/feed.xml"), internet=internet)
    assert result.error == reason
    assert feed_server.count("/secret.xml") == 0
    assert internet.dialled == [(PUBLIC, feed_server.port)]


def test_dns_rebinding_cannot_reach_the_private_address(feed_server, internet) -> None:
    """rebind.example answers a public address once, then 127.0.0.1: the
    connection goes to the address that was checked, never to a second answer."""
    with FeedServer() as private:
        private.add("/data.xml", b"<rss>internal</rss>")
        feed_server.add("/data.xml", FIXTURE)
        internet.dns("rebind.example", [PUBLIC_2], ["127.0.0.1"])
        internet.route(PUBLIC_2, feed_server)
        feed_server.redirect("/feed.xml", f"http://rebind.example:{private.port}/data.xml", status=302)
        (result,) = fetch(public(feed_server, "/feed.xml"), internet=internet)
        assert result.ok and result.body == FIXTURE
        assert private.count("/data.xml") == 0
        assert internet.dialled == [(PUBLIC, feed_server.port), (PUBLIC_2, private.port)]
        assert internet.lookups.count("rebind.example") == 1


def test_a_hop_back_from_public_into_private_is_refused(feed_server, internet) -> None:
    """Configured on loopback (trusted), sent to a public host, which sends it back to loopback."""
    feed_server.add("/secret.xml", FIXTURE)
    feed_server.redirect("/middle.xml", feed_server.url("/secret.xml"), status=302)
    start = feed_server.redirect("/start.xml", public(feed_server, "/middle.xml"), status=302)
    (result,) = fetch(start, internet=internet)
    assert result.error == "redirect to private address 127.0.0.1 refused"
    assert feed_server.count("/middle.xml") == 1 and feed_server.count("/secret.xml") == 0


def test_a_kept_alive_private_connection_is_not_lent_to_a_public_feeds_redirect(feed_server, internet) -> None:
    feed_server.add("/own.xml", FIXTURE)
    feed_server.add("/secret.xml", FIXTURE)
    feed_server.redirect("/feed.xml", feed_server.url("/secret.xml"), status=302)
    fetcher = Fetcher(FetchSettings(), resolve=internet.resolve, network=internet.network)
    try:
        (own,) = fetch(feed_server.url("/own.xml"), fetcher=fetcher)  # keeps a connection to 127.0.0.1
        (sneaky,) = fetch(public(feed_server, "/feed.xml"), fetcher=fetcher)
    finally:
        fetcher.close()
    assert own.ok
    assert sneaky.error == "redirect to private address 127.0.0.1 refused"
    assert feed_server.count("/secret.xml") == 0


def test_configured_private_feed_may_redirect_within_private_space(feed_server, internet) -> None:
    """The operator chose that network: loopback to a name on loopback is followed."""
    internet.dns("intranet.example", ["127.0.0.1"])
    feed_server.add("/b.xml", FIXTURE)
    start = feed_server.redirect("/a.xml", f"http://intranet.example:{feed_server.port}/b.xml", status=301)
    (result,) = fetch(start, internet=internet)
    assert result.ok and result.body == FIXTURE
    assert result.permanent_url == f"http://intranet.example:{feed_server.port}/b.xml"


def test_public_to_public_redirects_are_followed_and_moves_reported(feed_server, internet) -> None:
    internet.dns("new.example", [PUBLIC_2])
    internet.route(PUBLIC_2, feed_server)
    feed_server.add("/new.xml", FIXTURE)
    feed_server.redirect("/old.xml", f"http://new.example:{feed_server.port}/new.xml", status=301)
    (result,) = fetch(public(feed_server, "/old.xml"), internet=internet)
    assert result.ok and result.body == FIXTURE
    assert result.permanent_url == f"http://new.example:{feed_server.port}/new.xml"


def test_allow_private_redirects_opts_out(feed_server, internet) -> None:
    feed_server.add("/secret.xml", FIXTURE)
    feed_server.redirect("/feed.xml", feed_server.url("/secret.xml"), status=302)
    (result,) = fetch(public(feed_server, "/feed.xml"), internet=internet, allow_private_redirects=True)
    assert result.ok and result.body == FIXTURE
    assert feed_server.count("/secret.xml") == 1


def test_unknown_redirect_host_is_a_dns_failure(feed_server, internet) -> None:
    feed_server.redirect("/feed.xml", f"http://nowhere.example:{feed_server.port}/x.xml", status=302)
    (result,) = fetch(public(feed_server, "/feed.xml"), internet=internet)
    assert result.error == "DNS lookup failed (host not found)"


def test_not_modified_answers_keep_their_connection() -> None:
    """A 304's (empty) body is read, so its kept-alive connection serves the
    next feed: a cycle of 304s does not open a connection per feed."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    connections: list[int] = []

    class NotModified(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_GET(self) -> None:
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotModified)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fetcher = Fetcher(FetchSettings(concurrency=1, per_host=1, host_delay=0))
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        requests = [FeedRequest(i, f"f{i}", f"{base}/{i}.xml", etag='"v1"') for i in range(10)]
        results = [r for r in fetcher.fetch(requests) if r is not None]
    finally:
        fetcher.close()
        server.shutdown()
        server.server_close()
    assert [r.not_modified for r in results] == [True] * 10
    assert len(connections) == 1
