"""The service: settings wired to the poller, the dispatcher and replays.

poll:     due feeds → fetch → parse → one transaction per feed with its new
          articles, hits and outbox rows (`poller`)
dispatch: due outbox rows, digests and summaries → render → send (`delivery`)
replay:   today's watchlists over stored articles (here)
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.config import Settings
from monitor.core.matcher import ArticleText, EntitySpec, Matcher, MatchResult, WatchlistSpec
from monitor.delivery import Dispatcher, DispatchSummary, make_router
from monitor.models import NewHit
from monitor.notify.sender import Notifier
from monitor.poller import Poller, PollSummary
from monitor.store.engine import make_engine
from monitor.store.outbox import Outbox
from monitor.store.feeds import FeedSpec
from monitor.store.repository import Repository

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        self.route = make_router(settings)
        self.outbox = Outbox(self.repo.engine)
        self.dispatcher = Dispatcher(settings, self.outbox, self.notifier, self.clock, self.rng, self.stop)
        self.poller = Poller(
            settings,
            self.repo,
            self.matcher,
            self.route,
            self.notifier,
            clock=self.clock,
            rng=self.rng,
            stop=self.stop,
            echo=echo,
        )
        self.repo.sync_feeds(
            [FeedSpec(f.name, f.url) for f in settings.feeds], self.clock()
        )

    # --- polling -------------------------------------------------------------

    def poll(self, *, all_feeds: bool = False) -> PollSummary:
        """Poll the due feeds (or every enabled feed) once; returns the counts."""
        return self.poller.poll(all_feeds=all_feeds)

    def close(self) -> None:
        """Release the HTTP client and its connections."""
        self.poller.close()

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
