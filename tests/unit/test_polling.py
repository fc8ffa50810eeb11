"""Adaptive polling decisions and feed health (core.polling)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from monitor.core.polling import FeedState, Policy, after_failure, after_success, feed_health, server_hint

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = Policy(interval=900, min_interval=300, max_interval=86400, jitter=0.0)
RNG = random.Random(0)


def test_a_quiet_feed_is_asked_less_often_within_the_bound() -> None:
    state = FeedState(polled=True)
    intervals = []
    for _ in range(30):
        decision = after_success(POLICY, state, NOW, RNG, new_entries=0, entries=20)
        intervals.append(decision.interval)
        state = FeedState(unchanged_polls=decision.unchanged_polls, polled=True)
    assert intervals[0] == 900 and intervals[3] == 1800 and intervals[6] == 3600
    assert max(intervals) == 86400 and intervals == sorted(intervals)


def test_new_articles_reset_and_a_busy_feed_is_asked_more_often() -> None:
    state = FeedState(unchanged_polls=9, polled=True)
    assert after_success(POLICY, state, NOW, RNG, new_entries=1, entries=20).interval == 900
    busy = after_success(POLICY, FeedState(polled=True), NOW, RNG, new_entries=15, entries=20)
    assert busy.interval == 450
    first = after_success(POLICY, FeedState(), NOW, RNG, new_entries=20, entries=20)
    assert first.interval == 900  # the first poll sees everything as new


def test_server_hints_are_a_floor_and_the_bounds_hold() -> None:
    hint = server_hint({"Cache-Control": "public, max-age=3600"}, NOW)
    assert hint == 3600
    assert after_success(POLICY, FeedState(polled=True), NOW, RNG, new_entries=1, entries=9, hint=hint).interval == 3600
    assert server_hint({}, NOW, ttl_minutes="120") == 7200
    assert server_hint({}, NOW, update_period="daily", update_frequency="4") == 21600
    expires = (NOW + timedelta(hours=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert server_hint({"Expires": expires}, NOW) == 3 * 3600
    week = server_hint({"Cache-Control": "max-age=604800"}, NOW)
    assert after_success(POLICY, FeedState(polled=True), NOW, RNG, new_entries=1, entries=9, hint=week).interval == 86400
    tiny = Policy(interval=10, min_interval=300, max_interval=86400, jitter=0)
    assert after_success(tiny, FeedState(polled=True), NOW, RNG, new_entries=1, entries=9).interval == 300


def test_a_per_feed_interval_is_used_as_is() -> None:
    fixed = Policy(interval=60, min_interval=300, max_interval=86400, fixed=True, jitter=0)
    state = FeedState(unchanged_polls=30, polled=True)
    assert after_success(fixed, state, NOW, RNG, new_entries=0, entries=5, hint=3600).interval == 60


def test_errors_back_off_and_retry_after_is_obeyed() -> None:
    state = FeedState(polled=True)
    intervals = []
    for _ in range(10):
        decision = after_failure(POLICY, state, NOW, RNG, status=500)
        intervals.append(decision.interval)
        state = FeedState(failures=decision.failures, failing_since=decision.failing_since, polled=True)
    assert intervals[:4] == [900, 1800, 3600, 7200] and intervals[-1] == 86400
    assert decision.failing_since == NOW
    throttled = after_failure(POLICY, FeedState(), NOW, RNG, status=429, retry_after=200_000)
    assert throttled.next_poll_at >= NOW + timedelta(seconds=200_000)
    assert after_failure(POLICY, FeedState(), NOW, RNG, status=503, retry_after=10).interval == 900


def test_gone_disables() -> None:
    decision = after_failure(POLICY, FeedState(), NOW, RNG, status=410)
    assert decision.disable_reason == "HTTP 410 Gone: the publisher removed this feed"


def test_health_states() -> None:
    common = dict(first_seen=NOW - timedelta(days=30), now=NOW, quiet_after=7 * 86400, last_error=None)
    assert feed_health(disabled_reason="gone", polled=True, failures=3, last_new_article_at=None, **common) == ("disabled", "gone")
    assert feed_health(disabled_reason=None, polled=False, failures=0, last_new_article_at=None, **common)[0] == "new"
    failing = dict(common, last_error="HTTP 500")
    assert feed_health(disabled_reason=None, polled=True, failures=2, last_new_article_at=None, **failing) == (
        "failing",
        "HTTP 500 (2 in a row)",
    )
    quiet = feed_health(disabled_reason=None, polled=True, failures=0, last_new_article_at=NOW - timedelta(days=9), **common)
    assert quiet == ("quiet", "nothing new for 9 days")
    ok = feed_health(disabled_reason=None, polled=True, failures=0, last_new_article_at=NOW - timedelta(hours=1), **common)
    assert ok == ("ok", "")
