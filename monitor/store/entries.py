"""A feed's entries into the store, one transaction per feed.

Owns `save_entries`: each entry is new (stored, put in a story, matched),
a copy of a stored article (same canonical URL: its source recorded), an
update (known guid, changed text: re-matched, alerted only for newly
matched watchlists) or already known; the hits and their outbox rows go in
the same transaction (a story alerts once per watchlist and channel). Also
the poll cycle's story keys (written together at its end) and their repair
at start. `Repository` mixes this in.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.identity import canonical_url, content_fingerprint
from monitor.core.matcher import MatchResult
from monitor.core.polling import Decision
from monitor.core.stories import StoryPolicy, story_keys
from monitor.models import ArticleData, HitRecord, NewHit, body_text
from monitor.store.feeds import mark_success
from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    DeliveryRow,
    FeedRow,
    HitRow,
    StoryKeyRow,
)
from monitor.store.stories import (
    add_keys,
    alerted_channels,
    assign_stories,
    chunks,
    create_stories,
    escalate,
    lock_stories,
    mark_alerted,
    merge_stories,
    touch_stories,
)

MAX_GUID = 512


class Router(Protocol):
    """Which outbox rows a new hit gets: (channel, initial status) pairs.

    `stories` says how copies are told apart (None: no de-duplication);
    `instant` names the channels that alert at once (the rest are digests).
    """

    @property
    def stories(self) -> StoryPolicy | None: ...

    @property
    def instant(self) -> frozenset[str]: ...

    def __call__(self, result: MatchResult) -> Sequence[tuple[str, str]]: ...


@dataclass(frozen=True)
class SaveResult:
    """What one feed's update stored."""

    new_articles: int
    hits: tuple[NewHit, ...]
    copies: int = 0  # entries of articles already stored (another feed, a URL variant)
    updates: int = 0  # known entries whose text changed


@dataclass(frozen=True)
class _Entry:
    """A feed entry with what identifies it."""

    article: ArticleData
    guid: str  # the guid key (long guids hashed)
    canonical: str | None
    fingerprint: str


@dataclass(frozen=True)
class _Plan:
    new: list[_Entry]
    copies: list[tuple[int, _Entry]]  # (article id, entry)
    updates: list[tuple[int, _Entry]]


def guid_key(guid: str) -> str:
    """A guid short enough for the unique index (long ones are hashed)."""
    if len(guid) <= MAX_GUID:
        return guid
    return "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()


class EntryStore:
    """Storing feed entries (mixed into `Repository`, which sets the attributes)."""

    _session: sessionmaker[Session]
    _pending_keys: dict[int, list[int]]
    _pending_rows: list[tuple[int, int]]

    def save_entries(
        self,
        feed_id: int,
        articles: Sequence[ArticleData],
        *,
        now: datetime,
        decide: Callable[[int], Decision],
        etag: str | None,
        last_modified: str | None,
        feed_title: str | None,
        match: Callable[[ArticleData], Sequence[MatchResult]],
        route: Router,
    ) -> SaveResult:
        """Store one feed's entries, their hits and outbox rows in one transaction.

        Each entry is new (stored, put in a story, matched), a copy of an
        article already stored under the same canonical URL (its source is
        recorded), an update (same guid, changed text: stored, re-matched,
        alerted only for watchlists it newly matches), or already known.
        `decide` turns the number of new entries into the feed's next state.
        """
        policy = route.stories or StoryPolicy(enabled=False)
        new_keys: list[tuple[int, tuple[int, ...]]] = []
        with self._session.begin() as session:
            if policy.enabled:
                lock_stories(session)
            feed = session.get_one(FeedRow, feed_id)
            plan = _classify(session, feed_id, articles, policy)
            found: list[_Found] = []
            story_of: dict[int, int | None] = {}
            if plan.new:
                found, story_of, new_keys = self._store_new(session, feed, plan.new, now, match, policy)
            touched = self._store_copies(session, feed_id, plan.copies, now)
            found.extend(self._store_updates(session, feed, plan.updates, now, match))
            new_hits = _insert_hits(session, found, route, now)
            if policy.enabled:
                joined = {sid for sid in story_of.values() if sid is not None} | touched
                escalate(session, joined, policy, now, route.instant)
            changed = len(plan.new) + len(plan.copies) + len(plan.updates)
            mark_success(feed, now, decide(changed))
            feed.etag, feed.last_modified = etag, last_modified
            if feed_title:
                feed.title = feed_title[:1024]
            if plan.new:
                feed.last_new_article_at = now
            result = SaveResult(len(plan.new), tuple(new_hits), len(plan.copies), len(plan.updates))
        # Committed: only now may later feeds of this cycle find them.
        for article_id, keys in new_keys:
            self._pending_rows.extend((key, article_id) for key in keys)
            for key in keys:
                self._pending_keys[key].append(article_id)
        return result

    def flush_story_keys(self) -> int:
        """Write this cycle's story keys to the index, sorted, in one transaction."""
        if not self._pending_rows:
            return 0
        rows, self._pending_rows = sorted(self._pending_rows), []
        self._pending_keys = defaultdict(list)
        with self._session.begin() as session:
            add_keys(session, rows)
        return len(rows)

    def index_missing_story_keys(self, since: datetime, batch: int = 500) -> int:
        """Index recent articles whose keys never reached the index (the
        process stopped before its cycle ended); run at start."""
        done = 0
        last_id = 0
        while True:
            with self._session.begin() as session:
                rows = session.execute(
                    select(ArticleRow.id, ArticleRow.title, ArticleRow.summary, ArticleRow.content)
                    .where(
                        ArticleRow.id > last_id,
                        ArticleRow.first_seen_at >= since,
                        ArticleRow.story_id.is_not(None),
                        ~select(StoryKeyRow.id).where(StoryKeyRow.article_id == ArticleRow.id).exists(),
                    )
                    .order_by(ArticleRow.id)
                    .limit(batch)
                ).all()
                if rows:
                    add_keys(
                        session,
                        sorted(
                            (key, article_id)
                            for article_id, title, summary, content in rows
                            for key in story_keys(title, body_text(summary, content))
                        ),
                    )
            if not rows:
                return done
            done += len(rows)
            last_id = rows[-1][0]

    def _store_new(
        self,
        session: Session,
        feed: FeedRow,
        fresh: Sequence[_Entry],
        now: datetime,
        match: Callable[[ArticleData], Sequence[MatchResult]],
        policy: StoryPolicy,
    ) -> tuple[list[_Found], dict[int, int | None], list[tuple[int, tuple[int, ...]]]]:
        """New articles: their stories, rows, sources and index keys; the hits to store."""
        story_ids: list[int | None] = [None] * len(fresh)
        keys: list[tuple[int, ...]] = []
        if policy.enabled:
            keys = [
                e.article.story_keys if e.article.story_keys is not None else story_keys(e.article.title, e.article.text)
                for e in fresh
            ]
            plan = assign_stories(session, [e.article for e in fresh], keys, policy, now, self._pending_keys)
            owners = [i for i, owner in enumerate(plan.new_of) if owner == i]
            created = dict(zip(owners, create_stories(session, [fresh[i].article.title for i in owners], now), strict=True))
            story_ids = [
                stored if stored is not None else created[plan.new_of[i]]
                for i, stored in enumerate(plan.stories)
            ]
            merge_stories(session, plan.merges)
            touch_stories(session, plan.joined, now)
        # One multi-row INSERT per feed (RETURNING the ids in order):
        # an ORM flush per row costs several times more.
        ids = session.scalars(
            insert(ArticleRow).returning(ArticleRow.id, sort_by_parameter_order=True),
            [
                {
                    "feed_id": feed.id,
                    "guid": e.guid,
                    "link": e.article.link,
                    "canonical_url": e.canonical,
                    "title": e.article.title,
                    "summary": e.article.summary,
                    "content": e.article.content,
                    "author": e.article.author,
                    "content_hash": e.fingerprint,
                    "story_id": story_id,
                    "published_at": e.article.published or now,
                    "first_seen_at": now,
                }
                for e, story_id in zip(fresh, story_ids, strict=True)
            ],
        ).all()
        _add_sources(session, feed.id, [(article_id, e) for article_id, e in zip(ids, fresh, strict=True)], now)
        found = [
            _Found(article_id, result, e.article.title, e.article.link, feed.name, e.article.published or now, story_id)
            for article_id, e, story_id in zip(ids, fresh, story_ids, strict=True)
            for result in match(e.article)
        ]
        return found, dict(zip(ids, story_ids, strict=True)), list(zip(ids, keys, strict=True))

    def _store_copies(
        self, session: Session, feed_id: int, copies: Sequence[tuple[int, _Entry]], now: datetime
    ) -> set[int]:
        """Entries of articles already stored (same canonical URL): recorded as sources.

        Returns the stories they add an outlet to.
        """
        if not copies:
            return set()
        _add_sources(session, feed_id, copies, now)
        stories = {
            story_id
            for story_id in session.scalars(
                select(ArticleRow.story_id).where(ArticleRow.id.in_(sorted({a for a, _ in copies})))
            )
            if story_id is not None
        }
        touch_stories(session, stories, now)
        return stories

    def _store_updates(
        self,
        session: Session,
        feed: FeedRow,
        updates: Sequence[tuple[int, _Entry]],
        now: datetime,
        match: Callable[[ArticleData], Sequence[MatchResult]],
    ) -> list[_Found]:
        """Changed entries under a known guid: new text stored and re-matched.

        Only watchlists the article did not match before give a hit.
        """
        if not updates:
            return []
        ids = sorted({article_id for article_id, _ in updates})
        had = {
            (article_id, watchlist)
            for article_id, watchlist in session.execute(
                select(HitRow.article_id, HitRow.watchlist).where(HitRow.article_id.in_(ids))
            )
        }
        rows = {row.id: row for row in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))}
        found = []
        for article_id, e in updates:
            row = rows[article_id]
            row.title, row.summary, row.content = e.article.title, e.article.summary, e.article.content
            row.content_hash, row.updated_at = e.fingerprint, now
            session.query(ArticleSourceRow).filter(
                ArticleSourceRow.feed_id == feed.id, ArticleSourceRow.guid == e.guid
            ).update({ArticleSourceRow.content_hash: e.fingerprint, ArticleSourceRow.title: e.article.title[:1024]})
            for result in match(e.article):
                if (article_id, result.watchlist) in had:
                    continue
                had.add((article_id, result.watchlist))
                found.append(
                    _Found(article_id, result, row.title, row.link, feed.name, row.published_at, row.story_id)
                )
        return found


@dataclass(frozen=True)
class _Found:
    """A match about to be stored, with what its HitRecord shows of the article."""

    article_id: int
    result: MatchResult
    title: str
    link: str | None
    feed: str
    published: datetime
    story_id: int | None = None


def _insert_hits(session: Session, found: Sequence[_Found], route: Router, now: datetime) -> list[NewHit]:
    """Hit rows and their outbox rows, in the caller's transaction.

    One outbox row per routed channel, except where the hit's story already
    alerted that watchlist on that channel (a copy from another outlet): the
    copy is stored and listed with its story, never sent again.
    """
    if not found:
        return []
    pairs = {(f.story_id, f.result.watchlist) for f in found if f.story_id is not None}
    already = alerted_channels(session, pairs)
    had = _story_hits(session, pairs)
    hit_ids = session.scalars(
        insert(HitRow).returning(HitRow.id, sort_by_parameter_order=True),
        [
            {
                "article_id": f.article_id,
                "story_id": f.story_id,
                "watchlist": f.result.watchlist,
                "terms": list(f.result.terms),
                "snippet": f.result.snippet,
                "score": f.result.score,
                "spans": [[span.field, span.start, span.end] for span in f.result.spans],
                "snippets": list(f.result.snippets),
                "found_at": now,
            }
            for f in found
        ],
    ).all()
    deliveries: list[dict[str, object]] = []
    new_hits = []
    alerted: set[int] = set()
    for hit_id, f in zip(hit_ids, found, strict=True):
        routes = tuple(route(f.result))
        if f.story_id is not None:
            routes = tuple(r for r in routes if (f.story_id, f.result.watchlist, r[0]) not in already)
            already.update((f.story_id, f.result.watchlist, channel) for channel, _ in routes)
            if routes:
                alerted.add(f.story_id)
        deliveries.extend(
            {"hit_id": hit_id, "channel": channel, "status": status, "next_attempt_at": now, "created_at": now, "attempts": 0, "done_targets": []}
            for channel, status in routes
        )
        record = HitRecord(
            id=hit_id,
            watchlist=f.result.watchlist,
            title=f.title,
            link=f.link,
            feed=f.feed,
            terms=tuple(f.result.terms),
            snippet=f.result.snippet,
            score=f.result.score,
            published=f.published,
            found_at=now,
            spans=tuple((span.field, span.start, span.end) for span in f.result.spans),
            snippets=tuple(f.result.snippets),
            story_id=f.story_id,
        )
        copy = f.story_id is not None and (f.story_id, f.result.watchlist) in had
        if f.story_id is not None:
            had.add((f.story_id, f.result.watchlist))
        new_hits.append(NewHit(record, tuple(channel for channel, _ in routes), copy))
    if deliveries:
        session.execute(insert(DeliveryRow), deliveries)
    mark_alerted(session, alerted, now)
    return new_hits


def _story_hits(session: Session, pairs: set[tuple[int, str]]) -> set[tuple[int | None, str]]:
    """Which (story, watchlist) pairs already have a hit."""
    story_ids = sorted({story for story, _ in pairs})
    found: set[tuple[int | None, str]] = set()
    for start in range(0, len(story_ids), 500):
        found.update(
            (story, watchlist)
            for story, watchlist in session.execute(
                select(HitRow.story_id, HitRow.watchlist).where(HitRow.story_id.in_(story_ids[start : start + 500]))
            )
            if (story, watchlist) in pairs
        )
    return found


def _classify(session: Session, feed_id: int, articles: Sequence[ArticleData], policy: StoryPolicy) -> _Plan:
    """Sort a feed's entries into new articles, copies of stored ones, and updates.

    Known by this feed's guid: an update if its text changed, else nothing.
    Known by canonical URL (another feed, a tracking or AMP variant, or an
    earlier entry of this batch): a copy. Otherwise new.
    """
    firsts: dict[str, ArticleData] = {}
    for article in articles:
        firsts.setdefault(guid_key(article.guid), article)
    if not firsts:
        return _Plan([], [], [])
    known: dict[str, tuple[int, str | None]] = {}
    for chunk in chunks(list(firsts), 500):
        for guid, article_id, fingerprint in session.execute(
            select(ArticleSourceRow.guid, ArticleSourceRow.article_id, ArticleSourceRow.content_hash).where(
                ArticleSourceRow.feed_id == feed_id, ArticleSourceRow.guid.in_(chunk)
            )
        ):
            known[guid] = (article_id, fingerprint)
    # Canonical URLs only for entries this feed has not carried before: most
    # entries of most polls are known.
    entries = [
        _Entry(
            article,
            key,
            None if key in known or not article.link else canonical_url(article.link, policy.strip_params)[:2048],
            content_fingerprint(article.title, article.text),
        )
        for key, article in firsts.items()
    ]
    by_url: dict[str, int] = {}
    urls = sorted({e.canonical for e in entries if e.canonical and e.guid not in known})
    for chunk in chunks(urls, 500):
        for url, article_id in session.execute(
            select(ArticleRow.canonical_url, ArticleRow.id)
            .where(ArticleRow.canonical_url.in_(chunk))
            .order_by(ArticleRow.id.desc())
        ):
            if url is not None:
                by_url[url] = article_id
    plan = _Plan([], [], [])
    new_urls: dict[str, int] = {}  # canonical URL → index in plan.new
    for e in entries:
        if e.guid in known:
            article_id, fingerprint = known[e.guid]
            if fingerprint is not None and fingerprint != e.fingerprint:
                plan.updates.append((article_id, e))
        elif e.canonical and e.canonical in by_url:
            plan.copies.append((by_url[e.canonical], e))
        elif e.canonical and e.canonical in new_urls:
            continue  # the same article twice in one feed: stored once
        else:
            if e.canonical:
                new_urls[e.canonical] = len(plan.new)
            plan.new.append(e)
    return plan


def _add_sources(session: Session, feed_id: int, rows: Sequence[tuple[int, _Entry]], now: datetime) -> None:
    if rows:
        session.execute(
            insert(cast(Table, ArticleSourceRow.__table__)),
            [
                {
                    "article_id": article_id,
                    "feed_id": feed_id,
                    "guid": e.guid,
                    "link": e.article.link,
                    "title": e.article.title,
                    "content_hash": e.fingerprint,
                    "first_seen_at": now,
                }
                for article_id, e in rows
            ],
        )
