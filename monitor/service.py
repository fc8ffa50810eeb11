"""One poll cycle and one dispatch cycle: the pipeline wired to its edges.

poll:     due feeds (store) → fetch (http) → parse → save new articles, hits and
          outbox rows in one transaction per feed (store, with the pure matcher)
dispatch: claim due outbox rows → render → send (apprise) → record the outcome

A feed's failure is recorded on that feed and never stops the others.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.config import Settings
from monitor.core.matcher import ArticleText, EntitySpec, Matcher, MatchResult, WatchlistSpec
from monitor.core.schedule import next_poll
from monitor.errors import FetchError
from monitor.fetch.http import Fetcher, FetchSettings, USER_AGENT, run_fetches
from monitor.fetch.parse import parse_feed
from monitor.delivery import Dispatcher, DispatchSummary, make_router
from monitor.models import ArticleData, FeedRequest, FetchResult, NewHit
from monitor.notify.render import render_console
from monitor.notify.sender import Notifier
from monitor.store.engine import make_engine
from monitor.store.outbox import Outbox
from monitor.store.repository import FeedSpec, Repository

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PollSummary:
    """Counts for one poll cycle; its `line()` is the cycle's log line."""

    feeds_ok: int = 0
    not_modified: int = 0
    feeds_failed: int = 0
    new_articles: int = 0
    hits: int = 0
    seconds: float = 0.0
    new_hits: list[NewHit] = field(default_factory=list)

    @property
    def feeds(self) -> int:
        return self.feeds_ok + self.not_modified + self.feeds_failed


def watchlist_specs(settings: Settings) -> list[WatchlistSpec]:
    return [
        WatchlistSpec(
            name=w.name,
            keywords=tuple(w.keywords),
            tags=frozenset(w.tags),
            query=w.query,
            entities=tuple(w.entities),
        )
        for w in settings.watchlists
    ]


def entity_specs(settings: Settings) -> dict[str, EntitySpec]:
    return {
        name: EntitySpec(name, tuple(e.names), tuple(e.aliases), tuple(e.context))
        for name, e in settings.entities.items()
    }


def make_matcher(settings: Settings, only: str | None = None) -> Matcher:
    """The compiled watchlists of `settings` (or just the one named `only`)."""
    specs = [spec for spec in watchlist_specs(settings) if only is None or spec.name == only]
    return Matcher(specs, entity_specs(settings))


def feed_tags(settings: Settings) -> dict[str, frozenset[str]]:
    return {feed.name: frozenset(feed.tags) for feed in settings.feeds}


@dataclass
class ReplaySummary:
    articles: int = 0
    new_hits: dict[str, int] = field(default_factory=dict)
    hits: list[NewHit] = field(default_factory=list)


class Service:
    """The monitor's work, one cycle at a time; the scheduler and CLI drive it."""

    def __init__(
        self,
        settings: Settings,
        *,
        repository: Repository | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.repo = repository or Repository(make_engine(settings.database))
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.rng = rng or random.Random()
        self.echo = echo
        self.stop = threading.Event()
        self.matcher = make_matcher(settings)
        self._feed_tags = feed_tags(settings)
        self.fetcher = Fetcher(
            FetchSettings(
                timeout=settings.poll.timeout,
                connect_timeout=settings.poll.connect_timeout,
                max_bytes=settings.poll.max_bytes,
                concurrency=settings.poll.concurrency,
                user_agent=settings.poll.user_agent or USER_AGENT,
            )
        )
        self._feeds = {feed.name: feed for feed in settings.feeds}
        self.route = make_router(settings)
        self.outbox = Outbox(self.repo.engine)
        self.dispatcher = Dispatcher(settings, self.outbox, self.notifier, self.clock, self.rng, self.stop)
        self.feed_ids = self.repo.sync_feeds(
            [FeedSpec(f.name, f.url) for f in settings.feeds], self.clock()
        )

    # --- polling -------------------------------------------------------------

    def poll(self, *, all_feeds: bool = False) -> PollSummary:
        """Poll the due feeds (or every active feed) once; returns the counts."""
        started = time.monotonic()
        now = self.clock()
        requests = self.repo.active_feeds() if all_feeds else self.repo.due_feeds(now)
        requests = [r for r in requests if r.name in self._feeds]
        summary = PollSummary()
        if not requests:
            return summary
        run_fetches(self.fetcher, requests, lambda result: self._handle(result, summary), self.stop)
        summary.seconds = time.monotonic() - started
        log.info(
            "poll cycle: feeds=%d ok=%d not_modified=%d failed=%d new_articles=%d hits=%d (%.1fs)",
            summary.feeds,
            summary.feeds_ok,
            summary.not_modified,
            summary.feeds_failed,
            summary.new_articles,
            summary.hits,
            summary.seconds,
        )
        return summary

    def _handle(self, result: FetchResult, summary: PollSummary) -> None:
        """Parse and store one fetched feed; record any failure on the feed."""
        request = result.request
        now = self.clock()
        feed = self._feeds[request.name]
        upcoming = next_poll(
            now, self.settings.feed_interval(feed), self.settings.poll.jitter, self.rng
        )
        try:
            if not result.ok:
                raise FetchError(result.final_url, result.error or "unknown error")
            if result.not_modified:
                cleared = self.repo.record_not_modified(request.feed_id, now, upcoming)
                summary.not_modified += 1
                self._log_recovery(request, cleared)
                log.info("feed=%r status=not_modified", request.name)
                return
            parsed = parse_feed(result.body, result.headers, result.final_url)
            if parsed.warning:
                log.debug("feed=%r parsed with a warning: %s", request.name, parsed.warning)
            tags = frozenset(feed.tags)
            saved, cleared = self.repo.save_entries(
                request.feed_id,
                parsed.articles,
                now=now,
                next_poll_at=upcoming,
                etag=result.headers.get("etag"),
                last_modified=result.headers.get("last-modified"),
                feed_title=parsed.title,
                match=lambda article: self._match(article, request.name, tags),
                route=self.route,
            )
        except FetchError as exc:
            self._record_failure(request, exc.reason, now, upcoming)
            summary.feeds_failed += 1
            return
        except Exception as exc:  # noqa: BLE001 - one feed must never stop the batch
            log.exception("feed=%r unexpected error while storing", request.name)
            self._record_failure(request, f"internal error: {type(exc).__name__}: {exc}", now, upcoming)
            summary.feeds_failed += 1
            return
        summary.feeds_ok += 1
        summary.new_articles += saved.new_articles
        summary.hits += len(saved.hits)
        summary.new_hits.extend(saved.hits)
        self._log_recovery(request, cleared)
        log.info(
            "feed=%r status=ok entries=%d new=%d hits=%d",
            request.name,
            len(parsed.articles),
            saved.new_articles,
            len(saved.hits),
        )
        for new_hit in saved.hits:
            if not new_hit.channels:
                self.echo(render_console(new_hit.hit))

    def _match(self, article: ArticleData, feed: str, tags: frozenset[str]) -> Sequence[MatchResult]:
        return self.matcher.match(ArticleText(article.title, article.text, feed, tags))

    def _record_failure(
        self, request: FeedRequest, reason: str, now: datetime, upcoming: datetime
    ) -> None:
        try:
            failures, previous = self.repo.record_failure(request.feed_id, reason, now, upcoming)
        except Exception:  # noqa: BLE001 - the database itself is in trouble
            log.exception("feed=%r could not record its failure", request.name)
            return
        if failures == 1 or previous != reason:
            log.warning("feed=%r url=%s failed: %s", request.name, request.url, reason)
        else:
            log.info("feed=%r still failing (%d in a row): %s", request.name, failures, reason)

    @staticmethod
    def _log_recovery(request: FeedRequest, cleared: int) -> None:
        if cleared:
            log.warning("feed=%r recovered after %d failed polls", request.name, cleared)

    # --- delivery ----------------------------------------------------------------

    def dispatch(self) -> DispatchSummary:
        """Send every due alert, digest and summary; failures are retried on later calls."""
        return self.dispatcher.dispatch()

    # --- replays -----------------------------------------------------------------

    def replay(
        self,
        since: datetime | None,
        *,
        watchlist: str | None = None,
        notify: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ReplaySummary:
        """Run today's watchlists over stored articles and store the new hits.

        Alerts are queued only with `notify`; hits already stored are kept as
        they are. `progress` is called with the number of articles done.
        """
        matcher = make_matcher(self.settings, watchlist) if watchlist else self.matcher
        summary = ReplaySummary()
        now = self.clock()
        def no_alerts(_result: MatchResult) -> list[tuple[str, str]]:
            return []

        route = self.route if notify else no_alerts
        for batch in self.repo.iter_articles(since):
            if self.stop.is_set():
                break
            found: list[tuple[int, MatchResult]] = []
            for article in batch:
                tags = self._feed_tags.get(article.feed, frozenset())
                text = ArticleText(article.title, article.text, article.feed, tags)
                found.extend((article.id, result) for result in matcher.match(text))
            added = self.repo.add_hits(found, now=now, route=route)
            for new_hit in added:
                name = new_hit.hit.watchlist
                summary.new_hits[name] = summary.new_hits.get(name, 0) + 1
            summary.hits.extend(added)
            summary.articles += len(batch)
            if progress is not None:
                progress(summary.articles)
        return summary

    def housekeeping(self) -> None:
        self.repo.vacuum()
