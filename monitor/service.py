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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.config import Settings
from monitor.core.feedplan import Router, plan_hits, story_pairs
from monitor.core.matcher import ArticleText, Matcher, MatchResult
from monitor.delivery import Dispatcher, DispatchSummary
from monitor.errors import ConfigError
from monitor.models import NewHit
from monitor.node import config_hash, make_node
from monitor.notify.sender import Notifier
from monitor.poller import Poller, PollSummary
from monitor.spikes import SpikeRun
from monitor.spikes import run as run_spikes
from monitor.store.engine import make_engine
from monitor.store.feeds import FeedSpec
from monitor.store.outbox import Outbox
from monitor.store.repository import Repository
from monitor.store.retention import Retention, RetentionResult, describe
from monitor.store.trends import TrendStore
from monitor.times import utcnow
from monitor.wiring import claim_batch, feed_tags, make_matcher, make_router

log = logging.getLogger(__name__)


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
        self.node = make_node(settings, clock())
        # Held for a whole poll cycle / dispatch run; `apply` swaps between them.
        # `_dispatching` is the one dispatch lock (the Dispatcher has none).
        self._polling = threading.Lock()
        self._dispatching = threading.Lock()
        self.matcher = make_matcher(settings)
        self._feed_tags = feed_tags(settings)
        self.route = make_router(settings)
        self.outbox = Outbox(self.repo.engine)
        self.dispatcher = self._make_dispatcher(settings)
        self.poller = self._make_poller(settings, self.matcher, self.route)
        self._sync_feeds(settings)
        if self.repo.engine.dialect.name == "sqlite":
            # One daemon per SQLite database: any lease left is a dead process's.
            self.repo.clear_leases()
        else:  # a node restarted under its configured name takes up its work at once
            self.repo.release_leases(self.node.name)
        if settings.dedup.enabled:
            # Keys of a cycle cut short (a kill) never reached the index.
            window = timedelta(seconds=settings.dedup.window)
            indexed = self.repo.index_missing_story_keys(self.clock() - window)
            if indexed:
                log.info("story index: indexed %d recent articles whose keys were missing", indexed)

    def _sync_feeds(self, settings: Settings, hash_: str | None = None) -> None:
        """Feed rows from `settings`. Feeds the config no longer names are
        switched off only when no other live node runs another config: during
        a rolling change a feed that only the newer config names stays on
        (each node polls only the feeds its own config names)."""
        now = self.clock()
        mine = hash_ or self.node.config_hash
        others = [
            n
            for n in self.repo.nodes(now, settings.cluster.heartbeat)
            if n.state == "alive" and n.name != self.node.name and n.config_hash != mine
        ]
        if others:
            log.info(
                "feeds: %d other node(s) run another config; feeds this config drops stay active until they match",
                len(others),
            )
        self.repo.sync_feeds([FeedSpec(f.name, f.url) for f in settings.feeds], now, deactivate=not others)

    def _make_poller(self, settings: Settings, matcher: Matcher, route: Router) -> Poller:
        return Poller(
            settings,
            self.repo,
            matcher,
            route,
            clock=self.clock,
            rng=self.rng,
            stop=self.stop,
            echo=self.echo,
            node=self.node.name,
            claim_batch=claim_batch(settings, self.repo.engine.dialect.name),
        )

    def _make_dispatcher(self, settings: Settings) -> Dispatcher:
        return Dispatcher(settings, self.outbox, self.notifier, self.clock, self.rng, self.stop)

    # --- reloading -----------------------------------------------------------

    def apply(self, settings: Settings) -> None:
        """Swap in new settings (a config reload) without losing work in flight.

        Everything is built first; the poll side (feed rows synced, matcher,
        router, poller) is swapped when no poll cycle is running, the
        dispatcher when no dispatch is running, so a cycle under way finishes
        with the old settings and the next one uses the new. The database
        cannot change: raises ConfigError, and nothing is swapped.
        """
        if settings.database != self.settings.database:
            raise ConfigError(["database: cannot change while the daemon runs; restart it to use another database"])
        matcher = make_matcher(settings)
        route = make_router(settings)
        poller = self._make_poller(settings, matcher, route)
        dispatcher = self._make_dispatcher(settings)
        try:
            with self._polling:
                self._sync_feeds(settings, config_hash(settings))
                old_poller = self.poller
                self.settings, self.matcher, self.route, self.poller = settings, matcher, route, poller
                self.node = replace(self.node, config_hash=config_hash(settings))
                self._feed_tags = feed_tags(settings)
        except BaseException:
            poller.close()
            raise
        old_poller.close()
        with self._dispatching:
            self.dispatcher = dispatcher

    # --- polling -------------------------------------------------------------

    def poll(self, *, all_feeds: bool = False) -> PollSummary:
        """Poll the due feeds (or every enabled feed) once; returns the counts."""
        with self._polling:
            return self.poller.poll(all_feeds=all_feeds)

    def close(self) -> None:
        """Release the HTTP client and its connections, and this node's feed leases."""
        self.poller.close()
        try:
            self.repo.release_leases(self.node.name)
        except Exception:  # the database may be gone; the leases then expire
            log.warning("could not hand back this node's feed leases; they expire by themselves", exc_info=True)

    # --- delivery ----------------------------------------------------------------

    def dispatch(self) -> DispatchSummary:
        """Send every due alert, digest and summary; failures are retried on later calls."""
        if not self._dispatching.acquire(blocking=False):
            return DispatchSummary()  # another thread is dispatching; it will see our rows
        try:
            return self.dispatcher.dispatch()
        finally:
            self._dispatching.release()

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
        route = self.route if notify else make_router(self.settings, notify=False)
        for batch in self.repo.iter_articles(since):
            if self.stop.is_set():
                break
            found: list[tuple[int, MatchResult]] = []
            for article in batch:
                tags = self._feed_tags.get(article.feed, frozenset())
                text = ArticleText(article.title, article.text, article.feed, tags)
                found.extend((article.id, result) for result in matcher.match(text))
            with self.repo.hit_transaction() as tx:
                planned = tx.found(found)
                added = tx.insert(plan_hits(planned, route, tx.alert_state(story_pairs(planned))), now)
            for new_hit in added:
                name = new_hit.hit.watchlist
                summary.new_hits[name] = summary.new_hits.get(name, 0) + 1
            summary.hits.extend(added)
            summary.articles += len(batch)
            if progress is not None:
                progress(summary.articles)
        return summary

    def spikes(self, every: float = 0.0) -> SpikeRun | None:
        """Count new hits per hour, judge every series and queue spike alerts
        (`monitor.spikes`); once per cluster, None when another daemon runs it."""
        return run_spikes(
            self.settings, self.repo, TrendStore(self.repo.engine), self.node.name, self.clock(), every=every
        )

    def housekeeping(self, every: float = 0.0) -> bool:
        """Prune by the retention settings and the story index past the
        de-duplication window, then tidy the database; safe to run any time.

        Once per cluster: skipped (False) while another daemon runs it, or
        when any daemon started it less than `every` seconds ago.
        """
        with self.repo.once("housekeeping", self.node.name, self.clock(), every) as due:
            if not due:
                log.debug("housekeeping: run by another node lately; skipped")
                return False
            self.prune()
            window = timedelta(seconds=self.settings.dedup.window)
            dropped = self.repo.prune_story_keys(self.clock() - window)
            if dropped:
                log.info("story index: pruned %d keys older than the de-duplication window", dropped)
            self.repo.vacuum()
            return True

    def prune(self) -> RetentionResult | None:
        """Delete articles and hits older than `retention` keeps (None: it keeps everything)."""
        retention = self.settings.retention
        if retention.articles is None and retention.hits is None:
            return None
        result = Retention(self.repo.engine).prune(
            now=self.clock(), articles_after=retention.articles, hits_after=retention.hits
        )
        log.info("retention: pruned %s", describe(result))
        return result
