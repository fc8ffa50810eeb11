"""Fakes for unit-testing the poller's decisions without a server or a database.

- `FakeClock`: a settable `now`, called like `utcnow`.
- `FakeTransport`: an `httpx.MockTransport` serving canned responses by URL,
  with a log of the requests it saw (conditional headers included).
- `FakeFeedStore`: the feed side of `poller.PollStore` in memory: due
  feeds, failures, 304s, moves, queued notices. It stores no entries: a
  test that needs articles stored uses the real store (tests/integration).

These stand in for the edges only; the poller and `core.polling` under test
are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from monitor.core.polling import Decision
from monitor.models import FeedRequest, Notice


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FakeTransport(httpx.MockTransport):
    """Canned responses by URL; an unknown URL is a connection refused."""

    def __init__(self) -> None:
        self.responses: dict[str, Canned | Exception] = {}
        self.requests: list[httpx.Request] = []
        super().__init__(self._answer)

    def set(self, url: str, status: int = 200, body: bytes = b"", **headers: str) -> None:
        self.responses[url] = Canned(status, body, {k.replace("_", "-"): v for k, v in headers.items()})

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        canned = self.responses.get(str(request.url))
        if canned is None:
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(canned, Exception):
            raise canned
        etag = canned.headers.get("etag")
        if etag and request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers=canned.headers)
        return httpx.Response(canned.status, content=canned.body, headers=canned.headers)


@dataclass
class FeedRecord:
    request: FeedRequest
    next_poll_at: datetime | None = None
    last_error: str | None = None
    disabled: str | None = None


class FakeFeedStore:
    """Feeds in memory, recording what the poller decided for each."""

    def __init__(self, feeds: dict[str, str], etags: dict[str, str] | None = None) -> None:
        etags = etags or {}
        self.feeds = {
            i: FeedRecord(FeedRequest(i, name, url, etag=etags.get(name)))
            for i, (name, url) in enumerate(feeds.items(), start=1)
        }
        self.notices: list[Notice] = []
        self.claims: list[tuple[str, float]] = []
        self.moves: list[tuple[int, str]] = []

    def by_name(self, name: str) -> FeedRecord:
        return next(f for f in self.feeds.values() if f.request.name == name)

    def claim_due(
        self,
        node: str,
        now: datetime,
        lease: float,
        *,
        limit: int | None = None,
        every: bool = False,
        after: int = 0,
        skip: Sequence[int] = (),
    ) -> tuple[list[FeedRequest], int]:
        self.claims.append((node, lease))
        ready = [
            f
            for i, f in self.feeds.items()
            if not f.disabled and i not in skip and (i > after if every else f.next_poll_at is None or f.next_poll_at <= now)
        ]
        return [f.request for f in ready][:limit], 0

    def release_leases(self, node: str, feed_ids: Sequence[int] | None = None) -> int:
        return 0

    def active_feeds(self) -> list[FeedRequest]:
        return [f.request for f in self.feeds.values() if not f.disabled]

    def move_feed(self, feed_id: int, url: str) -> None:
        self.moves.append((feed_id, url))
        record = self.feeds[feed_id]
        record.request = replace(record.request, url=url)

    def _apply(self, feed_id: int, now: datetime, decision: Decision, error: str | None) -> FeedRecord:
        record = self.feeds[feed_id]
        record.next_poll_at, record.last_error = decision.next_poll_at, error
        record.request = replace(
            record.request,
            failures=decision.failures,
            unchanged_polls=decision.unchanged_polls,
            failing_since=decision.failing_since,
            polled=True,
            etag=record.request.etag,
        )
        return record

    def record_failure(
        self, feed_id: int, reason: str, now: datetime, decision: Decision, notice: Notice | None = None
    ) -> None:
        record = self._apply(feed_id, now, decision, reason)
        record.disabled = decision.disable_reason
        if notice is not None:
            self.notices.append(notice)
            record.request = replace(record.request, admin_alerted=True)

    def record_not_modified(self, feed_id: int, now: datetime, decision: Decision) -> None:
        self._apply(feed_id, now, decision, None)

    def record_not_modified_many(self, updates: Sequence[tuple[int, Decision]], now: datetime) -> None:
        for feed_id, decision in updates:
            self._apply(feed_id, now, decision, None)

    def record_recovery(self, feed_id: int, notice: Notice | None, now: datetime) -> None:
        if notice is not None:
            self.notices.append(notice)
        record = self.feeds[feed_id]
        record.request = replace(record.request, admin_alerted=False)

    @contextmanager
    def feed_transaction(self, feed_id: int, *, stories: bool) -> Iterator[object]:
        raise AssertionError("FakeFeedStore stores no entries; use the real store for this test")
        yield  # pragma: no cover
