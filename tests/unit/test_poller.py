"""The poller's decisions per fetch outcome, with a fake clock, a fake HTTP
transport and an in-memory feed store (no server, no database): failures
back off, a 410 disables, 304s are recorded, permanent moves are stored,
and the admin channel hears once of a long failure and once of recovery."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest

from monitor.config import parse_config
from monitor.core.matcher import Matcher
from monitor.fetch.http import Fetcher
from monitor.poller import Poller
from monitor.wiring import fetch_settings, make_router
from tests.fakes import FakeClock, FakeFeedStore, FakeTransport

A = "http://news.example/a.xml"
B = "http://news.example/b.xml"
CONFIG = """
poll: {interval: 15m, alert_after: 1h, host_delay: 0, jitter: 0, parse_workers: 0}
feeds:
  - {name: A, url: "http://news.example/a.xml"}
  - {name: B, url: "http://news.example/b.xml"}
channels:
  ops: {urls: ["json://127.0.0.1:9/ops"]}
admin_channel: ops
watchlists:
  - {name: cartels, keywords: [cartel]}
"""


@pytest.fixture
def rig():
    settings = parse_config(CONFIG, source="test")
    transport = FakeTransport()
    clock = FakeClock()
    store = FakeFeedStore({"A": A, "B": B}, etags={"A": '"v1"', "B": '"v1"'})
    poller = Poller(
        settings,
        store,
        Matcher([]),
        make_router(settings),
        clock=clock,
        rng=random.Random(0),
        stop=threading.Event(),
        echo=lambda _: None,
        fetcher=Fetcher(fetch_settings(settings), transport=transport),
    )
    yield poller, transport, clock, store
    poller.close()


def test_an_unchanged_feed_is_asked_with_its_validator_and_recorded_as_such(rig) -> None:
    poller, transport, clock, store = rig
    transport.set(A, 200, b"<rss/>", etag='"v1"')
    transport.set(B, 200, b"<rss/>", etag='"v1"')
    summary = poller.poll()
    assert (summary.not_modified, summary.feeds_failed) == (2, 0)
    assert {r.headers["if-none-match"] for r in transport.requests} == {'"v1"'}
    record = store.by_name("A")
    assert record.last_error is None and record.next_poll_at == clock.now + timedelta(minutes=15)
    assert poller.poll().feeds == 0  # nothing due until then


def test_a_failing_feed_backs_off_and_the_other_is_unaffected(rig) -> None:
    poller, transport, clock, store = rig
    transport.set(A, 500, b"down")
    transport.set(B, 200, b"", etag='"v1"')
    waits = []
    for _ in range(3):
        summary = poller.poll(all_feeds=True)
        assert (summary.feeds_failed, summary.not_modified) == (1, 1)
        record = store.by_name("A")
        waits.append(record.next_poll_at - clock.now)
        clock.now = record.next_poll_at
    assert record.last_error == "HTTP 500 Internal Server Error"
    assert waits == sorted(waits) and waits[-1] > waits[0]
    assert store.by_name("B").last_error is None


def test_gone_disables_the_feed(rig) -> None:
    poller, transport, _clock, store = rig
    transport.set(A, 410, b"gone")
    transport.set(B, 200, b"", etag='"v1"')
    poller.poll()
    assert store.by_name("A").disabled and "410" in store.by_name("A").disabled
    assert [r.name for r in store.active_feeds()] == ["B"]


def test_a_permanent_redirect_is_stored_as_the_feeds_new_url(rig) -> None:
    poller, transport, _clock, store = rig
    transport.set(A, 301, b"", location="http://news.example/new-a.xml")
    transport.set("http://news.example/new-a.xml", 200, b"", etag='"v1"')
    transport.set(B, 200, b"", etag='"v1"')
    summary = poller.poll()
    assert summary.not_modified == 2
    assert store.moves == [(store.by_name("A").request.feed_id, "http://news.example/new-a.xml")]


def test_admin_channel_is_told_once_of_a_long_failure_and_once_of_recovery(rig) -> None:
    poller, transport, clock, store = rig
    transport.set(A, 503, b"down")
    transport.set(B, 200, b"", etag='"v1"')
    start = clock.now
    for hours in (0, 0.5, 1.5, 3, 6):
        clock.now = start + timedelta(hours=hours)
        poller.poll(all_feeds=True)
    assert [n.subject for n in store.notices] == ["monitor: feed 'A' is failing"]
    assert store.notices[0].channel == "ops" and "HTTP 503" in store.notices[0].body
    transport.set(A, 200, b"", etag='"v1"')
    poller.poll(all_feeds=True)
    poller.poll(all_feeds=True)
    assert [n.subject for n in store.notices][1:] == ["monitor: feed 'A' recovered"]
    assert store.notices[0].key != store.notices[1].key


def test_a_refused_connection_is_that_feeds_failure(rig) -> None:
    poller, transport, _clock, store = rig
    transport.set(B, 200, b"", etag='"v1"')
    summary = poller.poll()
    assert (summary.feeds_failed, summary.not_modified) == (1, 1)
    assert "refused" in (store.by_name("A").last_error or "")


def test_an_unexpected_error_while_fetching_is_that_feeds_failure_not_a_lost_feed(rig) -> None:
    poller, transport, _clock, store = rig
    transport.responses[A] = RuntimeError("a bug in a transport")
    transport.set(B, 200, b"", etag='"v1"')
    summary = poller.poll()
    assert (summary.feeds_failed, summary.not_modified) == (1, 1)
    assert store.by_name("A").last_error == "internal error: RuntimeError: a bug in a transport"
    assert store.by_name("A").next_poll_at is not None
