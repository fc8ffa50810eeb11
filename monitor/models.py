"""Plain frozen values shared by every layer.

Data is named by where it is going: `FeedRequest` is a feed to fetch,
`FetchResult` is what the fetcher returns, `ArticleData` was parsed from a
feed. What the store knows of a feed before a poll is `core.polling.FeedState`;
a feed as `monitor feeds` shows it is `records.FeedState`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.core.matcher import MatchResult


@dataclass(frozen=True)
class FeedRequest:
    """One feed to fetch, with the validators of the previous fetch."""

    feed_id: int
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    unchanged_polls: int = 0
    failing_since: datetime | None = None
    admin_alerted: bool = False
    polled: bool = False


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one HTTP fetch: a body, a 304, or an error reason."""

    request: FeedRequest
    status: int | None
    final_url: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    elapsed: float = 0.0
    # Where a 301/308 chain says the feed now lives (None: it has not moved).
    permanent_url: str | None = None
    # Seconds a 429/503 asked us to wait.
    retry_after: float | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304 and self.error is None

    @property
    def ok(self) -> bool:
        return self.error is None


def body_text(summary: str, content: str) -> str:
    """An article's body as matched and compared: summary plus content, the
    summary once when the content starts with it."""
    if content and summary and content.startswith(summary):
        return content
    return "\n\n".join(part for part in (summary, content) if part)


@dataclass(frozen=True)
class ArticleData:
    """One feed entry as plain text, ready to be stored and matched."""

    guid: str
    title: str
    link: str | None
    summary: str
    content: str
    published: datetime | None
    author: str | None = None
    # Story index keys, when the parser already computed them (core.signature).
    story_keys: tuple[int, ...] | None = None
    # Computed ahead by the parse worker (`core.feedplan.prepare`), else by
    # the store: the fingerprint of the feed's own text, and the canonical
    # URL of the link (a feed's first poll, where every entry is new).
    fingerprint: str | None = None
    canonical: str | None = None
    # The watchlists the title and the feed's text match (a first poll's
    # entries, matched in the parse worker); None: not matched yet.
    matches: tuple[MatchResult, ...] | None = None
    # The main text of the article's page, when it was fetched and adds to
    # the feed's text (`core.fulltext.page_adds`); '' otherwise.
    page_text: str = ""
    # Its fetch (`fulltext`): None (not wanted), done, pending (the wait ran
    # out: fetched later), retry (failed once), failed; and why it failed.
    page_state: str | None = None
    page_reason: str | None = None
    page_due: datetime | None = None  # pending or retry: when to fetch it

    @property
    def feed_text(self) -> str:
        """What the feed itself carries: summary plus content."""
        return body_text(self.summary, self.content)

    @property
    def text(self) -> str:
        """The body searched by unscoped terms: the page's text when there is one, else the feed's."""
        return self.page_text or self.feed_text


@dataclass(frozen=True)
class ParsedFeed:
    """What the parser read from one body: entries and a recoverable warning."""

    title: str
    articles: tuple[ArticleData, ...]
    warning: str | None = None
    # The publisher's own timing hints: RSS <ttl> (minutes), sy:updatePeriod/Frequency.
    ttl: str | None = None
    update_period: str | None = None
    update_frequency: str | None = None
    # What the body was: rss, atom, rdf, jsonfeed, sitemap or html (a listing page).
    kind: str = "rss"


@dataclass(frozen=True)
class FeedHealth:
    """A feed's health as stored: what `monitor feeds` shows."""

    name: str
    url: str
    active: bool
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    articles: int
    next_poll_at: datetime | None
    disabled_reason: str | None = None
    last_new_article_at: datetime | None = None
    first_seen: datetime | None = None
    interval: float | None = None
    kind: str | None = None  # rss, atom, rdf, jsonfeed, sitemap, html (its last parse)
    pages_ok: int = 0  # article pages read for its entries
    pages_failed: int = 0  # … and given up on after a retry

    @property
    def fulltext(self) -> str:
        """The full-text success rate as shown: '12/14' (pages read of pages settled), or '-'."""
        settled = self.pages_ok + self.pages_failed
        return f"{self.pages_ok}/{settled}" if settled else "-"


@dataclass(frozen=True)
class Snippet:
    """A window of an article's title or text, with where the matches are.

    `text` is feed text as shown (whitespace collapsed, "…" where cut), never
    marked up: a `**` or `<mark>` in it is the publisher's, shown literally.
    `marks` are the highlighted stretches, sorted, disjoint, non-empty
    [start, end) offsets into `text` (code points).
    """

    text: str
    marks: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        at = 0
        for start, end in self.marks:
            if not at <= start < end <= len(self.text):
                raise ValueError(f"snippet marks {self.marks!r} do not fit a text of {len(self.text)} characters")
            at = end

    def parts(self) -> tuple[tuple[str, bool], ...]:
        """The text as (piece, is_match) runs, in order; no empty pieces."""
        out: list[tuple[str, bool]] = []
        at = 0
        for start, end in self.marks:
            if start > at:
                out.append((self.text[at:start], False))
            out.append((self.text[start:end], True))
            at = end
        if at < len(self.text):
            out.append((self.text[at:], False))
        return tuple(out)

    @classmethod
    def from_parts(cls, parts: Iterable[tuple[str, bool]]) -> Snippet:
        """The snippet whose `parts()` are `parts` (adjacent matches merge)."""
        text: list[str] = []
        marks: list[tuple[int, int]] = []
        at = 0
        for piece, is_match in parts:
            if not piece:
                continue
            if is_match:
                if marks and marks[-1][1] == at:
                    marks[-1] = (marks[-1][0], at + len(piece))
                else:
                    marks.append((at, at + len(piece)))
            text.append(piece)
            at += len(piece)
        return cls("".join(text), tuple(marks))


@dataclass(frozen=True)
class Source:
    """One outlet's copy of a story: the feed entry that carried it."""

    feed: str
    title: str
    link: str | None
    outlet: str  # the link's host (www./amp. dropped), else "feed:<name>"
    seen_at: datetime


@dataclass(frozen=True)
class HitRecord:
    """A stored hit with its article, as listed by `monitor hits`.

    `sources` are every copy of the hit's story (its own first), one per
    outlet; `copies` counts all the story's entries, whatever the outlet.
    """

    id: int
    watchlist: str
    title: str
    link: str | None
    feed: str
    terms: tuple[str, ...]
    snippet: str
    score: float
    published: datetime
    found_at: datetime
    spans: tuple[tuple[str, int, int], ...] = ()
    snippets: tuple[Snippet, ...] = ()
    story_id: int | None = None
    sources: tuple[Source, ...] = ()
    # "feed", or "page": only the article page's full text has what matched.
    matched_in: str = "feed"

    @property
    def outlets(self) -> int:
        """How many outlets reported the story (1 when it has no copies)."""
        return max(1, len(self.sources))

    @property
    def also_reported_by(self) -> tuple[Source, ...]:
        """The story's other outlets, first seen first."""
        return self.sources[1:]


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed outbox row: everything needed to render and send one alert."""

    id: int
    channel: str
    attempts: int
    hit: HitRecord
    done_targets: frozenset[str] = frozenset()
    # "alert", or "escalation": the story's follow-up ("now reported by N outlets").
    kind: str = "alert"


@dataclass(frozen=True)
class NewHit:
    """A hit stored by this cycle, with the channels it was queued for.

    `copy`: its story already had a hit for this watchlist (another outlet's
    copy): listed with the story, never alerted or printed again.
    """

    hit: HitRecord
    channels: tuple[str, ...]
    copy: bool = False


@dataclass(frozen=True)
class StoredArticle:
    """An article read back from the store, for replays and `monitor test --recent`."""

    id: int
    feed: str
    title: str
    summary: str
    content: str
    link: str | None
    published: datetime
    page_text: str = ""

    @property
    def text(self) -> str:
        """What matching sees: the article page's text when it was read, else the feed's."""
        return self.page_text or body_text(self.summary, self.content)


@dataclass(frozen=True)
class MessageJob:
    """A claimed digest or summary: its window and the hits it carries."""

    id: int
    channel: str
    kind: str
    window_start: datetime
    window_end: datetime
    attempts: int
    hits: tuple[HitRecord, ...]
    done_targets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Notice:
    """An operational message for one channel; `key` names the event it
    tells of, so the same event is queued once."""

    channel: str
    key: str
    subject: str
    body: str


@dataclass(frozen=True)
class NoticeJob:
    """A claimed notice, ready to render and send."""

    id: int
    channel: str
    subject: str
    body: str
    attempts: int
    done_targets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DeliveryRecord:
    """One outbox row as `monitor deliveries` lists it."""

    id: int
    channel: str
    status: str
    attempts: int
    last_error: str | None
    watchlist: str
    title: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    message: str | None  # "digest #12" / "summary #3" when carried by one
