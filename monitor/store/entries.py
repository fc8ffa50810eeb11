"""A feed's entries into the store: the reads a plan needs, and applying it.

Owns `FeedTransaction`: one transaction per feed (under the story lock when
stories are on), whose read methods answer what `core.feedplan` asks —
which guids and URLs the store knows, the story candidates, what stories
already alerted — and whose `apply` writes a `FeedPlan` (articles, sources,
stories and merges, updates, hits and their outbox rows, escalations, the
feed's next poll) before the transaction commits. The decisions are made
between the reads and `apply`, by the caller, in pure code; the store never
calls back into the matcher or the router. Also a feed's new story keys:
on SQLite stored with each article and added to the in-memory index
(`store.memkeys`) once the feed commits; on PostgreSQL `story_keys` rows
written in the feed's transaction. Filling the index at start and pruning
it are `store.storyindex`'s. `Repository` mixes `EntryStore` in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.feedplan import (
    AlertState,
    Entry,
    FeedPlan,
    Found,
    HitPlan,
    Known,
    Update,
    alerted_stories,
    guid_key,
)
from monitor.core.matcher import MatchResult
from monitor.core.stories import StoryLookup, StoryPolicy
from monitor.models import ArticleData, HitRecord, NewHit
from monitor.store.analyze import FirstAnalyze
from monitor.store.bulk import insert_rows
from monitor.store.cursor import fetch_rows
from monitor.store.feeds import mark_success
from monitor.store.memkeys import MemoryKeys, keys_blob
from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    DeliveryRow,
    FeedRow,
    HitRow,
)
from monitor.store.stories import (
    add_keys,
    alerted_channels,
    allocate_ids,
    chunks,
    create_stories,
    escalate,
    lock_stories,
    mark_alerted,
    merge_stories,
    story_hits,
    story_lookup,
    touch_stories,
)

__all__ = ["EntryStore", "FeedTransaction", "HitTransaction", "SaveResult", "guid_key"]


@dataclass(frozen=True)
class SaveResult:
    """What one feed's update stored."""

    new_articles: int
    hits: tuple[NewHit, ...]
    copies: int = 0  # entries of articles already stored (another feed, a URL variant)
    updates: int = 0  # known entries whose text changed


class HitTransaction:
    """Hits for stored articles (a replay), inside one open transaction:
    read what the articles and their stories have, then `insert` the
    planned hits. Made by `EntryStore.hit_transaction`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def found(self, matches: Sequence[tuple[int, MatchResult]]) -> list[Found]:
        """The matches of stored articles that are not hits yet (first per article and watchlist)."""
        if not matches:
            return []
        ids = sorted({article_id for article_id, _ in matches})
        existing: set[tuple[int, str]] = set()
        articles: dict[int, tuple[ArticleRow, str]] = {}
        for chunk in chunks(ids, 500):
            existing.update(
                (article_id, watchlist)
                for article_id, watchlist in self.session.execute(
                    select(HitRow.article_id, HitRow.watchlist).where(HitRow.article_id.in_(chunk))
                )
            )
            articles.update(
                (article.id, (article, feed))
                for article, feed in self.session.execute(
                    select(ArticleRow, FeedRow.name)
                    .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                    .where(ArticleRow.id.in_(chunk))
                )
            )
        found = []
        for article_id, result in matches:
            if (article_id, result.watchlist) in existing or article_id not in articles:
                continue
            existing.add((article_id, result.watchlist))
            article, feed = articles[article_id]
            found.append(
                Found(article_id, result, article.title, article.link, feed, article.published_at, article.story_id)
            )
        return found

    def alert_state(self, pairs: set[tuple[int, str]], merges: Mapping[int, int] | None = None) -> AlertState:
        """Which (story, watchlist) pairs already have a hit, and on which channels they alerted.

        `merges` (loser → winner): stories a feed plan folds into others;
        what a loser alerted counts for its winner.
        """
        merges = merges or {}
        losers: dict[int, set[int]] = defaultdict(set)
        for loser, winner in merges.items():
            losers[winner].add(loser)
        wanted = set(pairs) | {(loser, w) for story, w in pairs for loser in losers.get(story, ())}

        def final(story: int) -> int:
            while story in merges:
                story = merges[story]
            return story

        return AlertState(
            frozenset((final(s), w, c) for s, w, c in alerted_channels(self.session, wanted)),
            frozenset((final(s), w) for s, w in story_hits(self.session, wanted)),
        )

    def insert(self, hits: Sequence[HitPlan], now: datetime) -> list[NewHit]:
        """Planned hits of stored articles, their outbox rows, their stories marked alerted."""
        new = _insert_hits(self.session, hits, now, _stored_article, _stored_story)
        mark_alerted(self.session, {s for s in alerted_stories(hits) if s >= 0}, now)
        return new


def _stored_article(ref: int) -> int:
    return ref


def _stored_story(ref: int | None) -> int | None:
    return ref


class FeedTransaction(HitTransaction):
    """One feed's reads and writes, inside one open transaction.

    Made by `EntryStore.feed_transaction`; `apply` may be called once.
    `memory`: SQLite's story index (`MemoryKeys`), looked up instead of a
    table and handed the new articles' keys once the feed commits; None on
    PostgreSQL, whose keys are rows written in this transaction.
    """

    def __init__(self, session: Session, feed: FeedRow, memory: MemoryKeys | None) -> None:
        super().__init__(session)
        self.feed = feed
        self._memory = memory
        self.new_keys: list[tuple[int, tuple[int, ...]]] = []  # (article id, keys), once applied
        self.inserted = 0  # new articles, once applied

    @property
    def feed_name(self) -> str:
        return self.feed.name

    # --- reads ---------------------------------------------------------------

    def known(self, guids: Sequence[str]) -> dict[str, Known]:
        """The guids this feed carried before, with their article and fingerprint."""
        known: dict[str, Known] = {}
        for chunk in chunks(list(guids), 500):
            for guid, article_id, fingerprint in self.session.execute(
                select(ArticleSourceRow.guid, ArticleSourceRow.article_id, ArticleSourceRow.content_hash).where(
                    ArticleSourceRow.feed_id == self.feed.id, ArticleSourceRow.guid.in_(chunk)
                )
            ):
                known[guid] = Known(article_id, fingerprint)
        return known

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, int]:
        """Stored articles by canonical URL (the newest, if several)."""
        by_url: dict[str, int] = {}
        for url, article_id in _by_canonical_url(self.session, list(urls)):
            if url is not None and article_id > by_url.get(url, -1):
                by_url[url] = article_id
        return by_url

    def story_lookup(self, keys: Sequence[tuple[int, ...]], policy: StoryPolicy, now: datetime) -> StoryLookup:
        """Recent stored articles sharing index keys with the new ones."""
        since = now - timedelta(seconds=policy.window)
        return story_lookup(self.session, {key for ks in keys for key in ks}, since, self._memory)

    def stories_of(self, article_ids: Sequence[int]) -> frozenset[int]:
        """The stories of stored articles (those copies add an outlet to)."""
        if not article_ids:
            return frozenset()
        return frozenset(
            story_id
            for story_id in self.session.scalars(
                select(ArticleRow.story_id).where(ArticleRow.id.in_(sorted(set(article_ids))))
            )
            if story_id is not None
        )

    def updates(self, changed: Sequence[tuple[int, Entry]]) -> list[Update]:
        """Changed entries with their stored article and the watchlists it matched."""
        if not changed:
            return []
        ids = sorted({article_id for article_id, _ in changed})
        had: dict[int, set[str]] = defaultdict(set)
        for article_id, watchlist in self.session.execute(
            select(HitRow.article_id, HitRow.watchlist).where(HitRow.article_id.in_(ids))
        ):
            had[article_id].add(watchlist)
        rows = {
            article_id: (story_id, link, published)
            for article_id, story_id, link, published in self.session.execute(
                select(ArticleRow.id, ArticleRow.story_id, ArticleRow.link, ArticleRow.published_at).where(
                    ArticleRow.id.in_(ids)
                )
            )
        }
        return [Update(article_id, e, *rows[article_id], frozenset(had[article_id])) for article_id, e in changed]

    # --- the write -----------------------------------------------------------

    def apply(self, plan: FeedPlan, instant: frozenset[str], policy: StoryPolicy | None) -> SaveResult:
        """Write the plan; returns what was stored (hit ids, channels queued)."""
        session, now = self.session, plan.now
        stories = self._apply_stories(plan)

        def story_id(ref: int | None) -> int | None:
            return stories[-1 - ref] if ref is not None and ref < 0 else ref

        article_stories = [story_id(ref) for ref in plan.article_stories()]
        ids = self._insert_articles(plan.new, article_stories, plan.keys, now)
        self.inserted = len(ids)
        _add_sources(session, self.feed.id, list(zip(ids, plan.new, strict=True)), now)
        self.new_keys = list(zip(ids, plan.keys, strict=True)) if plan.keys else []
        if plan.copies:
            _add_sources(session, self.feed.id, plan.copies, now)
            touch_stories(session, plan.copy_stories, now)
        self._apply_updates(plan.updates, now)

        def article_id(ref: int) -> int:
            return ids[-1 - ref] if ref < 0 else ref

        new_hits = _insert_hits(session, plan.hits, now, article_id, story_id)
        mark_alerted(session, {cast(int, story_id(ref)) for ref in alerted_stories(plan.hits)}, now)
        if policy is not None and policy.enabled:
            # A story opened by this plan has no outlet from before its alert:
            # only stored stories the plan adds to can spread.
            joined = {s for s in article_stories if s is not None} - set(stories.values())
            escalate(session, joined | plan.copy_stories, policy, now, instant)
        feed = self.feed
        mark_success(feed, now, plan.decision)
        feed.etag, feed.last_modified = plan.etag, plan.last_modified
        if plan.feed_title:
            feed.title = plan.feed_title[:1024]
        if plan.feed_kind:
            feed.kind = plan.feed_kind[:16]
        if plan.new:
            feed.last_new_article_at = now
            feed.pages_ok += sum(1 for e in plan.new if e.article.page_state == DONE)
        return SaveResult(len(plan.new), tuple(new_hits), len(plan.copies), len(plan.updates))

    def _apply_stories(self, plan: FeedPlan) -> dict[int, int]:
        """New stories created, merges and touches done; returns owner index → new story id."""
        assignment = plan.assignment
        if assignment is None:
            return {}
        owners = assignment.owners
        created = dict(zip(owners, create_stories(self.session, plan.story_titles, plan.now), strict=True))
        merge_stories(self.session, assignment.merges)
        touch_stories(self.session, assignment.joined, plan.now)
        return created

    def _insert_articles(
        self, new: Sequence[Entry], stories: Sequence[int | None], keys: Sequence[tuple[int, ...]], now: datetime
    ) -> list[int]:
        if not new:
            return []
        # SQLite: each article's story keys stored with it, what its in-memory
        # index is rebuilt from at start. PostgreSQL: rows of `story_keys`.
        blobs = [keys_blob(k) for k in keys] if keys and self._memory is not None else [None] * len(new)
        # Ids first, then one executemany: INSERT … RETURNING in parameter
        # order is one statement per row on SQLite.
        table = cast(Table, ArticleRow.__table__)
        ids = allocate_ids(self.session, table, len(new))
        insert_rows(
            self.session,
            table,
            [
                {
                    "id": article_id,
                    "feed_id": self.feed.id,
                    "guid": e.guid,
                    "link": e.article.link,
                    "canonical_url": e.canonical,
                    "title": e.article.title,
                    "summary": e.article.summary,
                    "content": e.article.content,
                    "author": e.article.author,
                    "content_hash": e.fingerprint,
                    "story_id": story,
                    "published_at": e.article.published or now,
                    "first_seen_at": now,
                    "updated_at": None,
                    "story_keys": blob,
                    **page_columns(e.article),
                }
                for article_id, e, story, blob in zip(ids, new, stories, blobs, strict=True)
            ],
        )
        return ids

    def _apply_updates(self, updates: Sequence[Update], now: datetime) -> None:
        if not updates:
            return
        rows = {
            row.id: row
            for row in self.session.scalars(
                select(ArticleRow).where(ArticleRow.id.in_(sorted({u.article_id for u in updates})))
            )
        }
        for u in updates:
            e = u.entry
            row = rows[u.article_id]
            row.title, row.summary, row.content = e.article.title, e.article.summary, e.article.content
            row.content_hash, row.updated_at = e.fingerprint, now
            if e.article.page_text:
                row.page_text = e.article.page_text
            self.session.query(ArticleSourceRow).filter(
                ArticleSourceRow.feed_id == self.feed.id, ArticleSourceRow.guid == e.guid
            ).update({ArticleSourceRow.content_hash: e.fingerprint, ArticleSourceRow.title: e.article.title[:1024]})


def _by_canonical_url(session: Session, urls: list[str]) -> list[tuple[str | None, int]]:
    """(canonical URL, article id) of stored articles with one of `urls`.

    On PostgreSQL one unprepared statement per call, planned for the table
    as it is: psycopg prepares a statement run five times, and the server
    may then keep a generic plan made while `articles` was empty — in a
    fresh database's cold start that stayed a sequential scan as the table
    grew to fifty thousand rows (50 ms a feed, half of the cycle).
    """
    if not urls:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement = f"SELECT canonical_url, id FROM {ArticleRow.__tablename__} WHERE canonical_url = ANY(%s)"
        return [(url, int(article_id)) for url, article_id in fetch_rows(session, statement, (urls,), prepare=False)]
    return [
        (url, article_id)
        for chunk in chunks(urls, 500)
        for url, article_id in session.execute(
            select(ArticleRow.canonical_url, ArticleRow.id).where(ArticleRow.canonical_url.in_(chunk))
        )
    ]


class EntryStore:
    """Storing feed entries (mixed into `Repository`, which sets the attributes)."""

    _session: sessionmaker[Session]
    # SQLite's story index (None on PostgreSQL: the `story_keys` table).
    _memory: MemoryKeys | None
    _first_analyze: FirstAnalyze

    @contextmanager
    def feed_transaction(self, feed_id: int, *, stories: bool) -> Iterator[FeedTransaction]:
        """One feed's transaction: read, decide (the caller), apply; committed on exit.

        `stories`: take the story lock first (PostgreSQL's advisory lock;
        SQLite's writers are serial), so two processes storing copies of one
        story at once cannot both open it or both alert it. On PostgreSQL the
        new articles' index keys are written in this transaction, so another
        daemon sees them the moment it commits; on SQLite they are stored
        with the articles and enter the in-memory index once committed.
        """
        with self._session.begin() as session:
            if stories:
                lock_stories(session)
            tx = FeedTransaction(session, session.get_one(FeedRow, feed_id), self._memory)
            yield tx
            if tx.new_keys and self._memory is None:
                add_keys(session, sorted((key, article_id) for article_id, keys in tx.new_keys for key in keys))
                tx.new_keys = []
        # Committed: only now may later feeds find the new keys.
        if self._memory is not None:
            for article_id, keys in tx.new_keys:
                self._memory.add(article_id, keys)
        if tx.inserted:
            self._first_analyze.stored(self._session, tx.inserted)

    @contextmanager
    def hit_transaction(self) -> Iterator[HitTransaction]:
        """A transaction for hits of stored articles (replays); committed on exit."""
        with self._session.begin() as session:
            yield HitTransaction(session)


# An article's page states (`store.pages`): pending, retry, done, failed.
PENDING, RETRY, DONE, FAILED = "pending", "retry", "done", "failed"


def page_columns(article: ArticleData) -> dict[str, Any]:
    """The page columns of a newly stored article, as its poll's page stage left them."""
    return {
        "page_text": article.page_text,
        "page_state": article.page_state,
        "page_reason": article.page_reason,
        "page_due_at": article.page_due,
        "page_attempts": 1 if article.page_state in (RETRY, FAILED) else 0,
    }


def _insert_hits(
    session: Session,
    hits: Sequence[HitPlan],
    now: datetime,
    article_id: Callable[[int], int],
    story_id: Callable[[int | None], int | None],
) -> list[NewHit]:
    """Hit rows and their outbox rows, in the caller's transaction."""
    if not hits:
        return []
    hit_table = cast(Table, HitRow.__table__)
    hit_ids = allocate_ids(session, hit_table, len(hits))
    insert_rows(
        session,
        hit_table,
        [
            {
                "id": hit_id,
                "article_id": article_id(h.found.article),
                "story_id": story_id(h.found.story),
                "watchlist": h.found.result.watchlist,
                "terms": list(h.found.result.terms),
                "snippet": h.found.result.snippet,
                "score": h.found.result.score,
                "spans": [[span.field, span.start, span.end] for span in h.found.result.spans],
                "snippets": list(h.found.result.snippets),
                "found_at": now,
                "matched_in": h.found.result.matched_in,
            }
            for hit_id, h in zip(hit_ids, hits, strict=True)
        ],
    )
    deliveries: list[dict[str, object]] = []
    out = []
    for hit_id, h in zip(hit_ids, hits, strict=True):
        f = h.found
        deliveries.extend(
            {
                "hit_id": hit_id,
                "channel": channel,
                "status": status,
                "next_attempt_at": now,
                "created_at": now,
                "attempts": 0,
                "done_targets": [],
            }
            for channel, status in h.routes
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
            story_id=story_id(f.story),
        )
        out.append(NewHit(record, tuple(channel for channel, _ in h.routes), h.copy))
    if deliveries:
        insert_rows(session, cast(Table, DeliveryRow.__table__), deliveries)
    return out


def _add_sources(session: Session, feed_id: int, rows: Sequence[tuple[int, Entry]], now: datetime) -> None:
    if rows:
        insert_rows(
            session,
            cast(Table, ArticleSourceRow.__table__),
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
