"""Settings turned into the plain values and objects the layers take.

Owns every translation from the validated config (`monitor.config`) to
what `core`, `fetch` and the router need — watchlist and entity specs, the
compiled matcher, feed tags, the story policy, the alert routing, the fetch
settings — so the service, the CLI and the web app build them one way and
never import each other for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config import ChannelConfig, Settings
from monitor.core.matcher import EntitySpec, Matcher, MatchResult, WatchlistSpec
from monitor.core.stories import StoryPolicy
from monitor.fetch.http import USER_AGENT, FetchSettings
from monitor.fetch.pages import PageSettings
from monitor.store.schema import DeliveryStatus

__all__ = [
    "Routing",
    "claim_batch",
    "entity_specs",
    "feed_tags",
    "fetch_settings",
    "make_matcher",
    "make_router",
    "story_policy",
    "watchlist_specs",
]


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


def story_policy(settings: Settings) -> StoryPolicy:
    d = settings.dedup
    return StoryPolicy(d.enabled, d.similarity, d.window, d.escalate_after, d.escalate_window, tuple(d.strip_params))


@dataclass(frozen=True)
class Routing:
    """Which outbox rows a new hit gets (the `core.feedplan.Router` of a config).

    Per channel of its watchlist, unless its score is under the channel's
    min_score; queued for digest channels. `stories` carries the
    de-duplication policy (a story alerts once per watchlist and channel).
    """

    channels: Mapping[str, ChannelConfig]
    channels_of: Mapping[str, tuple[str, ...]]
    stories: StoryPolicy | None = None

    @property
    def instant(self) -> frozenset[str]:
        return frozenset(name for name, ch in self.channels.items() if ch.mode != "digest")

    def __call__(self, result: MatchResult) -> list[tuple[str, str]]:
        routes = []
        for name in self.channels_of.get(result.watchlist, ()):
            channel = self.channels[name]
            if channel.min_score is not None and result.score < channel.min_score:
                continue
            status = DeliveryStatus.QUEUED if channel.mode == "digest" else DeliveryStatus.PENDING
            routes.append((name, status))
        return routes


def make_router(settings: Settings, *, notify: bool = True) -> Routing:
    """The routing of `settings`; with `notify` False, hits are stored and nothing is queued."""
    channels_of = {w.name: tuple(w.channels) for w in settings.watchlists} if notify else {}
    return Routing(dict(settings.channels), channels_of, story_policy(settings))


def claim_batch(settings: Settings, dialect: str) -> int | None:
    """Feeds a daemon leases at a time: `cluster.claim_batch`, else on
    PostgreSQL four rounds of `poll.concurrency` (so several daemons share a
    large due batch), on SQLite every due feed at once (one daemon)."""
    if settings.cluster.claim_batch:
        return settings.cluster.claim_batch
    return 4 * max(settings.poll.concurrency, 1) if dialect == "postgresql" else None


def fetch_settings(settings: Settings) -> FetchSettings:
    """How feeds (and article pages) are fetched: `poll:`'s limits."""
    poll = settings.poll
    return FetchSettings(
        timeout=poll.timeout,
        connect_timeout=poll.connect_timeout,
        total_timeout=poll.deadline,
        max_bytes=poll.max_bytes,
        concurrency=poll.concurrency,
        per_host=poll.per_host,
        host_delay=float(poll.host_delay),
        user_agent=poll.user_agent or USER_AGENT,
        allow_private_redirects=poll.allow_private_redirects,
    )


def page_settings(settings: Settings) -> PageSettings:
    """How article pages are fetched: `fulltext:`'s limits (the rest are `poll:`'s)."""
    full = settings.fulltext
    return PageSettings(max_bytes=full.max_bytes, respect_robots=full.respect_robots, concurrency=full.concurrency)
