"""Records as the CLI prints them and the API returns them: hits, feeds' states, deliveries.

One function builds each (`hit_dict`, `feed_states`, `delivery_dict`), so
`monitor hits|feeds|deliveries --format json`, the API and the dashboard
give the same records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from monitor.config import Settings
from monitor.core.polling import feed_health
from monitor.models import DeliveryRecord, FeedHealth, HitRecord, Snippet
from monitor.times import iso

HIT_FIELDS = [
    "id",
    "watchlist",
    "title",
    "link",
    "feed",
    "terms",
    "snippet",
    "score",
    "published",
    "found_at",
    "story_id",
    "outlets",
    "also_reported_by",
]


def highlight_fields(snippets: tuple[Snippet, ...]) -> dict[str, Any]:
    """Snippets as JSON: `highlights`, each snippet's plain text (feed text
    as it is, no markers), and `highlight_parts`, each snippet as its
    [{"text", "match"}] runs (joined, the runs give the snippet's text)."""
    return {
        "highlights": [s.text for s in snippets],
        "highlight_parts": [[{"text": text, "match": match} for text, match in s.parts()] for s in snippets],
    }


def hit_dict(hit: HitRecord) -> dict[str, Any]:
    """One hit as JSON: the CSV fields plus why it matched (highlighted
    snippets, offsets) and its story's sources. The API gives the same."""
    out: dict[str, Any] = {
        "id": hit.id,
        "watchlist": hit.watchlist,
        "title": hit.title,
        "link": hit.link,
        "feed": hit.feed,
        "terms": list(hit.terms),
        "snippet": hit.snippet,
        "score": hit.score,
        "published": iso(hit.published),
        "found_at": iso(hit.found_at),
        "story_id": hit.story_id,
        "outlets": hit.outlets,
        "also_reported_by": [source.feed for source in hit.also_reported_by],
        "matched_in": hit.matched_in,
    }
    out.update(highlight_fields(hit.snippets))
    out["spans"] = [{"field": f, "start": a, "end": b} for f, a, b in hit.spans]
    out["sources"] = [
        {"feed": src.feed, "title": src.title, "link": src.link, "outlet": src.outlet, "seen_at": iso(src.seen_at)}
        for src in hit.sources
    ]
    return out


@dataclass(frozen=True)
class FeedState:
    """A feed as `monitor feeds` and the dashboard show it: what is stored, its state and why."""

    health: FeedHealth
    state: str  # ok, failing, quiet, disabled, new, removed
    reason: str
    tags: tuple[str, ...]  # from the config (none for a feed no longer in it)


def feed_states(stored: Iterable[FeedHealth], settings: Settings, now: datetime) -> list[FeedState]:
    """The feeds of the config, and those gone from it that still have articles, each with its state.

    A configured feed the daemon has not stored yet is listed as new.
    """
    configured = {f.name: f for f in settings.feeds}
    health = [h for h in stored if h.name in configured or h.articles]
    known = {h.name for h in health}
    health += [
        FeedHealth(f.name, f.url, True, None, None, None, None, 0, 0, None)
        for f in settings.feeds
        if f.name not in known
    ]
    states = []
    for h in health:
        feed = configured.get(h.name)
        if not h.active:
            state, reason = "removed", "no longer in the config"
        else:
            state, reason = feed_health(
                disabled_reason=h.disabled_reason,
                polled=h.last_polled_at is not None,
                failures=h.consecutive_failures,
                last_error=h.last_error,
                last_new_article_at=h.last_new_article_at,
                first_seen=h.first_seen or now,
                now=now,
                quiet_after=settings.quiet_after(feed) if feed else settings.poll.quiet_after,
            )
        states.append(FeedState(h, state, reason, tuple(feed.tags) if feed else ()))
    return states


def delivery_dict(record: DeliveryRecord) -> dict[str, Any]:
    """One outbox row as JSON: `monitor deliveries --format json` and /api/deliveries."""
    data = asdict(record)
    for key in ("created_at", "next_attempt_at", "sent_at"):
        data[key] = iso(data[key])
    return data
