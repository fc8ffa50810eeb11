"""What storing one feed's entries will do, decided in pure code.

Storing a feed is three steps (DESIGN "Storing a feed: plan, then apply"):
the store is read (which guids and URLs it knows, the story candidates,
which stories already alerted), the decisions are made here over those plain
values, and the store applies the resulting `FeedPlan` in the same
transaction. Nothing here touches the database, the network or the clock.

Owns: the identity of an entry (`Entry`: guid key, canonical URL, content
fingerprint), the classification of a feed's entries (new / copy / update /
known), and the alert routing of the hits found (once per story, watchlist
and channel; copies stored, never alerted again).

References before ids exist: a new article is `-1 - i` (its index in
`FeedPlan.new`, in `HitPlan.article`), a new story is `-1 - owner` where
`owner` is the index of the new article that opens it (as in
`core.stories.Assignment`). The store maps them to ids when it inserts.
"""

from __future__ import annotations

import hashlib
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from monitor.core.identity import canonical_url, content_fingerprint
from monitor.core.keybatch import story_keys_many
from monitor.core.matcher import ArticleText, Matcher, MatchResult, PackedSpec
from monitor.core.polling import Decision
from monitor.core.signature import story_keys
from monitor.core.stories import Assignment, StoryPolicy
from monitor.models import ArticleData

MAX_GUID = 512
MAX_URL = 2048

# (channel, initial delivery status) pairs for one match.
Routes = Sequence[tuple[str, str]]


class Router(Protocol):
    """Which outbox rows a new hit gets: (channel, initial status) pairs.

    `stories` says how copies are told apart (None: no de-duplication);
    `instant` names the channels that alert at once (the rest are digests).
    `monitor.wiring.Routing` is the implementation.
    """

    @property
    def stories(self) -> StoryPolicy | None: ...

    @property
    def instant(self) -> frozenset[str]: ...

    def __call__(self, result: MatchResult) -> Routes: ...


def guid_key(guid: str) -> str:
    """A guid short enough for the unique index (long ones are hashed)."""
    if len(guid) <= MAX_GUID:
        return guid
    return "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """A feed entry with what identifies it."""

    article: ArticleData
    guid: str  # the guid key (long guids hashed)
    canonical: str | None
    fingerprint: str


@dataclass(frozen=True)
class Known:
    """A guid this feed carried before: its article and that entry's fingerprint."""

    article_id: int
    fingerprint: str | None


@dataclass(frozen=True)
class Classified:
    """A feed's entries sorted against the store."""

    new: list[Entry] = field(default_factory=list)
    copies: list[tuple[int, Entry]] = field(default_factory=list)  # (stored article id, entry)
    updates: list[tuple[int, Entry]] = field(default_factory=list)  # (stored article id, changed entry)

    @property
    def changed(self) -> int:
        """Entries that changed the store (what polling's back-off counts as new)."""
        return len(self.new) + len(self.copies) + len(self.updates)


def first_entries(articles: Iterable[ArticleData]) -> dict[str, ArticleData]:
    """The first entry of each guid key (a feed repeating a guid means one entry)."""
    firsts: dict[str, ArticleData] = {}
    for article in articles:
        firsts.setdefault(guid_key(article.guid), article)
    return firsts


@dataclass(frozen=True)
class PreMatch:
    """Matching new entries ahead, in the parse worker: the watchlists, and
    the feed as the matcher sees it (`feed:` and `tag:` terms)."""

    matcher: PackedSpec
    feed: str
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Prepare:
    """What a parse worker computes ahead for a feed's entries (pure work
    taken off the storing thread).

    Fingerprints for every entry. Entries new to this process are prepared
    in full: canonical URL (with `strip_params` taken out), story index keys
    when `keys`, and their matches when `match` is given. `seen` says which
    are new: None, none; else those whose guid key is not among `seen`
    (`seen_digest`s packed by `pack_seen`: the guids the feed carried at its
    last poll; empty on a feed's first poll, where every entry is new).
    A digest collision only leaves an entry to the store, which computes
    what it lacks.
    """

    strip_params: tuple[str, ...] = ()
    keys: bool = False
    match: PreMatch | None = None
    seen: bytes | None = None


def seen_digest(guid: str) -> int:
    """A stable 32-bit digest of an entry's guid key (the same in every process)."""
    return zlib.crc32(guid_key(guid).encode("utf-8", "surrogatepass"))


def pack_seen(guids: Iterable[str]) -> bytes:
    """The digests of `guids`, packed for `Prepare.seen` (4 bytes each)."""
    return array("I", sorted({seen_digest(g) for g in guids})).tobytes()


def prepare_all(
    articles: Iterable[ArticleData], how: Prepare, matcher: Matcher | None = None
) -> tuple[ArticleData, ...]:
    """`articles` with what `how` asks computed ahead (see `Prepare`)."""
    if how.seen is None:
        return tuple(prepare(a, how, None, full=False) for a in articles)
    seen = frozenset(array("I", how.seen))
    listed = list(articles)
    full = [seen_digest(a.guid) not in seen for a in listed]
    # The story keys of the feed's new entries, computed together (`story_keys_many`), in order.
    texts = [(a.title, a.text) for a, new in zip(listed, full, strict=True) if new]
    computed = iter(story_keys_many(texts) if how.keys else [])
    return tuple(
        prepare(a, how, matcher, full=new, keys=next(computed, None) if new else None)
        for a, new in zip(listed, full, strict=True)
    )


def prepare(
    article: ArticleData,
    how: Prepare,
    matcher: Matcher | None = None,
    *,
    full: bool = True,
    keys: tuple[int, ...] | None = None,
) -> ArticleData:
    """`article` with its fingerprint, and when `full` its canonical URL,
    story keys (`keys` when the caller has them) and matches (see `identify`).

    `matcher`: compiled from `how.match.matcher`. An article on which a
    regular expression ran out of time is left unmatched (None), so the
    store matches it again where the timeout is logged and counted.
    """
    fingerprint = content_fingerprint(article.title, article.feed_text)
    if not full:
        return replace(article, fingerprint=fingerprint)
    matches = None
    if how.match is not None and matcher is not None and not article.page_text:
        timeouts = sum(matcher.timeouts.values())
        found = tuple(matcher.match(ArticleText(article.title, article.feed_text, how.match.feed, how.match.tags)))
        matches = found if sum(matcher.timeouts.values()) == timeouts else None
    return replace(
        article,
        fingerprint=fingerprint,
        canonical=_canonical(article.link, how.strip_params),
        story_keys=(keys if keys is not None else story_keys(article.title, article.text))
        if how.keys
        else article.story_keys,
        matches=matches,
    )


def _canonical(link: str | None, strip_params: Sequence[str]) -> str | None:
    return canonical_url(link, strip_params)[:MAX_URL] if link else None


def identify(
    firsts: Mapping[str, ArticleData], known: Mapping[str, Known], strip_params: Sequence[str] = ()
) -> list[Entry]:
    """Each entry's identity. Canonical URLs only for guids the feed has not
    carried before: most entries of most polls are known, and the URL is
    only needed to find copies among new ones. What the parse worker
    computed ahead (`prepare`) is taken as is."""
    return [
        Entry(
            article,
            key,
            None
            if key in known
            else article.canonical
            if article.canonical is not None
            else _canonical(article.link, strip_params),
            # The feed's own text: a page fetched later must not make the entry look changed.
            article.fingerprint
            if article.fingerprint is not None
            else content_fingerprint(article.title, article.feed_text),
        )
        for key, article in firsts.items()
    ]


def new_urls(entries: Iterable[Entry], known: Mapping[str, Known]) -> list[str]:
    """Canonical URLs to look up in the store (entries not known by guid), sorted."""
    return sorted({e.canonical for e in entries if e.canonical and e.guid not in known})


def classify(entries: Iterable[Entry], known: Mapping[str, Known], by_url: Mapping[str, int]) -> Classified:
    """Sort entries into new articles, copies of stored ones, and updates.

    Known by this feed's guid: an update if its text changed, else nothing.
    Known by canonical URL (another feed, a tracking or AMP variant): a copy;
    the same URL twice in one batch is stored once. Otherwise new.
    """
    plan = Classified()
    seen_urls: set[str] = set()
    for e in entries:
        if e.guid in known:
            stored = known[e.guid]
            if stored.fingerprint is not None and stored.fingerprint != e.fingerprint:
                plan.updates.append((stored.article_id, e))
        elif e.canonical and e.canonical in by_url:
            plan.copies.append((by_url[e.canonical], e))
        elif e.canonical and e.canonical in seen_urls:
            continue
        else:
            if e.canonical:
                seen_urls.add(e.canonical)
            plan.new.append(e)
    return plan


@dataclass(frozen=True)
class Found:
    """A match about to be stored, with what its alert shows of the article.

    `article`: a stored id, or `-1 - i` for `FeedPlan.new[i]`; `story`: a
    story reference (see the module docstring) or None without stories.
    """

    article: int
    result: MatchResult
    title: str
    link: str | None
    feed: str
    published: datetime
    story: int | None = None


@dataclass(frozen=True)
class HitPlan:
    """A hit to store, the outbox rows it gets, and whether it is a copy.

    `copy`: its story already had a hit for this watchlist (another
    outlet's copy): listed with the story, never alerted or printed again.
    """

    found: Found
    routes: tuple[tuple[str, str], ...]
    copy: bool


@dataclass(frozen=True)
class AlertState:
    """What the store says the hits' stories already have.

    `alerted`: (story, watchlist, channel) with an alert queued or sent;
    `hit`: (story, watchlist) pairs with a hit.
    """

    alerted: frozenset[tuple[int, str, str]] = frozenset()
    hit: frozenset[tuple[int, str]] = frozenset()


def story_pairs(found: Iterable[Found]) -> set[tuple[int, str]]:
    """(stored story, watchlist) pairs whose alert state the store must tell."""
    return {(f.story, f.result.watchlist) for f in found if f.story is not None and f.story >= 0}


def plan_hits(found: Sequence[Found], route: Callable[[MatchResult], Routes], state: AlertState) -> list[HitPlan]:
    """Each hit's outbox rows: one per routed channel, except where its story
    already alerted that watchlist on that channel (a copy from another
    outlet, stored and listed with its story, never sent again)."""
    alerted = set(state.alerted)
    had = set(state.hit)
    plans = []
    for f in found:
        routes = tuple(route(f.result))
        if f.story is not None:
            routes = tuple(r for r in routes if (f.story, f.result.watchlist, r[0]) not in alerted)
            alerted.update((f.story, f.result.watchlist, channel) for channel, _ in routes)
        copy = f.story is not None and (f.story, f.result.watchlist) in had
        if f.story is not None:
            had.add((f.story, f.result.watchlist))
        plans.append(HitPlan(f, routes, copy))
    return plans


def alerted_stories(hits: Iterable[HitPlan]) -> set[int]:
    """Story references that this plan alerts (their `alerted_at` is set)."""
    return {h.found.story for h in hits if h.found.story is not None and h.routes}


@dataclass(frozen=True)
class Update:
    """A stored article whose entry changed: its new text, and the watchlists it matched before."""

    article_id: int
    entry: Entry
    story: int | None
    link: str | None
    published: datetime
    had: frozenset[str]


def update_hits(
    updates: Sequence[Update], feed: str, match: Callable[[ArticleData], Sequence[MatchResult]]
) -> list[Found]:
    """Re-match changed entries: only watchlists an article did not match before give a hit."""
    found = []
    seen: set[tuple[int, str]] = set()
    for update in updates:
        for result in match(update.entry.article):
            key = (update.article_id, result.watchlist)
            if result.watchlist in update.had or key in seen:
                continue
            seen.add(key)
            found.append(
                Found(
                    update.article_id,
                    result,
                    update.entry.article.title,
                    update.link,
                    feed,
                    update.published,
                    update.story,
                )
            )
    return found


def new_hits(
    new: Sequence[Entry],
    stories: Sequence[int | None],
    feed: str,
    now: datetime,
    match: Callable[[ArticleData], Sequence[MatchResult]],
) -> list[Found]:
    """Match new articles; `stories[i]` is new article i's story reference."""
    return [
        Found(-1 - i, result, e.article.title, e.article.link, feed, e.article.published or now, story)
        for i, (e, story) in enumerate(zip(new, stories, strict=True))
        for result in match(e.article)
    ]


@dataclass(frozen=True)
class FeedPlan:
    """Everything one feed's poll writes, applied in one transaction.

    `story_titles`: a title per new story, in `assignment.owners` order.
    `keys`: each new article's story index keys (empty without stories).
    `copy_stories`: stored stories that copies add an outlet to.
    """

    feed_id: int
    now: datetime
    decision: Decision
    etag: str | None
    last_modified: str | None
    feed_title: str | None
    new: Sequence[Entry] = ()
    assignment: Assignment | None = None
    keys: Sequence[tuple[int, ...]] = ()
    copies: Sequence[tuple[int, Entry]] = ()
    copy_stories: frozenset[int] = frozenset()
    updates: Sequence[Update] = ()
    hits: Sequence[HitPlan] = ()
    feed_kind: str | None = None  # what the source is (rss, jsonfeed, sitemap, html, ...)

    @property
    def story_titles(self) -> list[str]:
        if self.assignment is None:
            return []
        return [self.new[i].article.title for i in self.assignment.owners]

    def article_stories(self) -> list[int | None]:
        """Each new article's story reference (None without stories)."""
        if self.assignment is None:
            return [None] * len(self.new)
        return list(self.assignment.stories)
