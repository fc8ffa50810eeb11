"""The story index in the database: candidates, assignment, sources, escalation.

Every function here runs inside the caller's transaction (one per feed, see
`store.entries.FeedTransaction`). The decisions are `monitor.core.stories`'s
and `monitor.core.feedplan`'s; this module only reads and writes their rows. On PostgreSQL the assignment takes a
transaction-level advisory lock, so two feeds stored at once cannot both open
a story for the same wire copy or both alert it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from monitor.core.identity import outlet_key
from monitor.core.signature import shingles
from monitor.core.stories import (
    Candidate,
    StoryLookup,
    StoryPolicy,
    should_escalate,
)
from monitor.models import HitRecord, Source, body_text
from monitor.store.bulk import copy_rows, insert_rows, uses_copy
from monitor.store.cursor import fetch_rows
from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    DeliveryRow,
    DeliveryStatus,
    FeedRow,
    HitRow,
    StoryKeyRow,
    StoryRow,
)

T = TypeVar("T")

# A key shared by more recent stories than this is boilerplate (an outlet's
# newsletter line), not evidence: it is not followed.
HOT_KEY = 40
# Articles of one story followed per key: its first few copies represent it.
PER_STORY = 3
_ADVISORY_LOCK = 0x6D6F6E69  # "moni"


def lock_stories(session: Session) -> None:
    """Serialise story assignment across processes (PostgreSQL; SQLite writers are serial)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})


class KeysInMemory(Protocol):
    """A story index held in memory (SQLite's `store.memkeys.MemoryKeys`)."""

    def pairs(self, keys: Iterable[int], /) -> list[tuple[int, int]]:
        """(key, article id) for each article under any of `keys`."""
        ...


def story_lookup(session: Session, keys: set[int], since: datetime, memory: KeysInMemory | None = None) -> StoryLookup:
    """Recent stored articles sharing `keys`, and those of them that are candidates.

    `memory`: the index in memory (SQLite); None: the `story_keys` table
    (PostgreSQL).
    """
    buckets = _buckets(session, keys, since, memory)
    wanted = {article_id for members in buckets.values() for article_id in members}
    return StoryLookup(buckets, _stored_candidates(session, wanted))


def _buckets(session: Session, keys: set[int], since: datetime, memory: KeysInMemory | None) -> dict[int, list[int]]:
    """Recent articles per index key, a few per story, hot (boilerplate) keys left out.

    A key is boilerplate when many *different stories* share it (an outlet's
    newsletter line); a story copied by a hundred outlets shares its keys
    among one story's articles, and stays findable.
    """
    if not keys:
        return {}
    # Two steps, so the lookup is index probes on the key alone: joined in
    # one query with a time range, the planner may walk recent articles.
    found = memory.pairs(keys) if memory is not None else _probe(session, sorted(keys))
    recent: dict[int, int | None] = {}
    for chunk in chunks(sorted({article_id for _, article_id in found}), 500):
        recent.update(
            (article_id, story_id)
            for article_id, story_id in session.execute(
                select(ArticleRow.id, ArticleRow.story_id).where(
                    ArticleRow.id.in_(chunk), ArticleRow.first_seen_at >= since
                )
            )
        )
    rows: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for key, article_id in found:
        if article_id in recent:
            rows[key].append((article_id, recent[article_id]))
    buckets: dict[int, list[int]] = {}
    for key, members in rows.items():
        if len({story for _, story in members}) > HOT_KEY:
            continue
        per_story: dict[int | None, int] = defaultdict(int)
        kept = []
        for article_id, story_id in sorted(members):
            if per_story[story_id] < PER_STORY:
                per_story[story_id] += 1
                kept.append(article_id)
        buckets[key] = kept
    return buckets


def _probe(session: Session, keys: list[int]) -> list[tuple[int, int]]:
    """(key, article id) rows of the `story_keys` table for `keys`: on
    PostgreSQL one statement with the keys as one parameter, since a new feed
    brings ~20 keys per entry and an IN list of that many bound parameters
    costs more to build than to run. (SQLite's index is in memory.)"""
    connection = session.connection()
    table = StoryKeyRow.__tablename__
    if connection.dialect.name == "postgresql":
        # The array as its text, which the server parses: psycopg's array
        # dumper walks the list in Python, 1.5 ms a feed on the storing thread.
        statement = f"SELECT key, article_id FROM {table} WHERE key = ANY(%s::bigint[])"
        parameter = "{" + ",".join(map(str, keys)) + "}"
    else:  # any other backend: portable, slower
        return [
            (key, article_id)
            for chunk in chunks(keys, 500)
            for key, article_id in session.execute(
                select(StoryKeyRow.key, StoryKeyRow.article_id).where(StoryKeyRow.key.in_(chunk))
            )
        ]
    # On the driver's own cursor: the statement runs for every new feed.
    return [(int(key), int(article_id)) for key, article_id in fetch_rows(session, statement, (parameter,))]


def _stored_candidates(session: Session, article_ids: set[int]) -> dict[int, Candidate]:
    if not article_ids:
        return {}
    rows = session.execute(
        select(
            ArticleRow.id,
            ArticleRow.story_id,
            ArticleRow.title,
            ArticleRow.summary,
            ArticleRow.content,
            ArticleRow.page_text,
        ).where(ArticleRow.id.in_(sorted(article_ids)), ArticleRow.story_id.is_not(None))
    )
    # Compared on what the article was grouped by: its page's text when it has one.
    return {
        article_id: Candidate(article_id, story_id, shingles(title, page_text or body_text(summary, content)))
        for article_id, story_id, title, summary, content, page_text in rows
        if story_id is not None
    }


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new primary keys for `table`, allocated in the caller's transaction.

    So rows can go in by a plain executemany instead of INSERT … RETURNING
    in parameter order, which SQLite runs as one statement per row.
    PostgreSQL: from the table's sequence (`nextval` over a series; safe
    with any number of writers). SQLite: max(id) + 1 onwards, safe because
    every transaction holds the database's write lock (BEGIN IMMEDIATE).
    """
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": count},
            )
        )
    # A bare max() over the primary key: SQLite answers it from the B-tree's
    # last entry (wrapped in coalesce() it scans the table). On the driver's
    # cursor: three of these per stored feed, and SQLAlchemy's statement
    # layers cost ten times SQLite's answer.
    ((last,),) = fetch_rows(session, f"SELECT max(id) FROM {table.name}")
    first = int(last or 0) + 1
    return list(range(first, first + count))


def create_stories(session: Session, titles: Sequence[str], now: datetime) -> list[int]:
    """New story rows; their ids allocated up front (see `allocate_ids`)."""
    if not titles:
        return []
    table = cast(Table, StoryRow.__table__)
    ids = allocate_ids(session, table, len(titles))
    insert_rows(
        session,
        table,
        [
            {"id": story_id, "title": title[:1024], "first_seen_at": now, "last_seen_at": now}
            for story_id, title in zip(ids, titles, strict=True)
        ],
    )
    return ids


def add_keys(session: Session, values: Sequence[tuple[int, int]]) -> None:
    """(key, article id) rows into the `story_keys` table, every new article
    bringing a score of them (sorted by the caller, the B-tree fills page by
    page): PostgreSQL a COPY (an executemany is one INSERT per row, and two
    arrays of a feed's 900 keys cost psycopg more to dump than the server to
    store), any other backend a DBAPI executemany. SQLite's index is in
    memory (`store.memkeys`)."""
    if not values:
        return
    connection = session.connection()
    if uses_copy(connection.dialect):
        copy_rows(session, StoryKeyRow.__tablename__, ("key", "article_id"), values)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = f"INSERT INTO {StoryKeyRow.__tablename__} (key, article_id) VALUES ({mark}, {mark})"
    for batch in chunks(values, 5000):
        connection.exec_driver_sql(statement, batch)


def merge_stories(session: Session, merges: dict[int, int]) -> None:
    """Fold each loser story into its winner: articles and hits move, the
    winner keeps the earliest first-seen and alert times, the loser goes."""
    for loser, winner in merges.items():
        session.query(ArticleRow).filter(ArticleRow.story_id == loser).update(
            {ArticleRow.story_id: winner}, synchronize_session=False
        )
        session.query(HitRow).filter(HitRow.story_id == loser).update(
            {HitRow.story_id: winner}, synchronize_session=False
        )
        old, new = session.get(StoryRow, loser), session.get(StoryRow, winner)
        if old is not None and new is not None:
            new.first_seen_at = min(new.first_seen_at, old.first_seen_at)
            new.last_seen_at = max(new.last_seen_at, old.last_seen_at)
            if old.alerted_at is not None:
                new.alerted_at = min(filter(None, (new.alerted_at, old.alerted_at)))
            session.delete(old)
        session.flush()


def touch_stories(session: Session, story_ids: Iterable[int], now: datetime) -> None:
    ids = sorted(set(story_ids))
    if ids:
        session.query(StoryRow).filter(StoryRow.id.in_(ids)).update(
            {StoryRow.last_seen_at: now}, synchronize_session=False
        )


# --- reading sources ---------------------------------------------------------


def story_sources(session: Session, story_ids: Iterable[int]) -> dict[int, tuple[Source, ...]]:
    """Every outlet's first copy of each story, first seen first."""
    ids = sorted(set(story_ids))
    out: dict[int, list[Source]] = defaultdict(list)
    seen: dict[int, set[str]] = defaultdict(set)
    for chunk in chunks(ids, 500):
        query = (
            select(
                ArticleRow.story_id,
                FeedRow.name,
                ArticleSourceRow.title,
                ArticleSourceRow.link,
                ArticleSourceRow.first_seen_at,
            )
            .join(ArticleRow, ArticleSourceRow.article_id == ArticleRow.id)
            .join(FeedRow, ArticleSourceRow.feed_id == FeedRow.id)
            .where(ArticleRow.story_id.in_(chunk))
            .order_by(ArticleSourceRow.first_seen_at, ArticleSourceRow.id)
        )
        for story_id, feed, title, link, seen_at in session.execute(query):
            if story_id is None:
                continue
            outlet = outlet_key(link, feed)
            if outlet in seen[story_id]:
                continue
            seen[story_id].add(outlet)
            out[story_id].append(Source(feed, title, link, outlet, seen_at))
    return {story_id: tuple(sources) for story_id, sources in out.items()}


def with_sources(session: Session, records: Sequence[HitRecord]) -> list[HitRecord]:
    """The records with their story's sources, each record's own outlet first."""
    by_story = story_sources(session, [r.story_id for r in records if r.story_id is not None])
    out = []
    for record in records:
        sources = by_story.get(record.story_id, ()) if record.story_id is not None else ()
        if sources:
            own = outlet_key(record.link, record.feed)
            sources = tuple(sorted(sources, key=lambda s: s.outlet != own))
        out.append(replace(record, sources=sources))
    return out


# --- alert once per story, and escalate once ---------------------------------------


def alerted_channels(session: Session, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str, str]]:
    """(story, watchlist, channel) triples that already have an alert queued or sent."""
    wanted = set(pairs)
    if not wanted:
        return set()
    story_ids = sorted({story for story, _ in wanted})
    found: set[tuple[int, str, str]] = set()
    for chunk in chunks(story_ids, 500):
        rows = session.execute(
            select(HitRow.story_id, HitRow.watchlist, DeliveryRow.channel)
            .join(DeliveryRow, DeliveryRow.hit_id == HitRow.id)
            .where(HitRow.story_id.in_(chunk), DeliveryRow.kind == "alert")
        )
        found.update((s, w, c) for s, w, c in rows if s is not None and (s, w) in wanted)
    return found


def story_hits(session: Session, pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (story, watchlist) pairs already have a hit."""
    story_ids = sorted({story for story, _ in pairs})
    found: set[tuple[int, str]] = set()
    for chunk in chunks(story_ids, 500):
        found.update(
            (story, watchlist)
            for story, watchlist in session.execute(
                select(HitRow.story_id, HitRow.watchlist).where(HitRow.story_id.in_(chunk))
            )
            if story is not None and (story, watchlist) in pairs
        )
    return found


def mark_alerted(session: Session, story_ids: Iterable[int], now: datetime) -> None:
    ids = sorted(set(story_ids))
    if ids:
        session.query(StoryRow).filter(StoryRow.id.in_(ids), StoryRow.alerted_at.is_(None)).update(
            {StoryRow.alerted_at: now}, synchronize_session=False
        )


def escalate(
    session: Session, story_ids: Iterable[int], policy: StoryPolicy, now: datetime, instant: frozenset[str]
) -> list[tuple[int, int, str]]:
    """Queue each spreading story's one follow-up; returns (story, hit, channel) rows queued.

    A story qualifies once alerted, not yet escalated, with `escalate_after`
    outlets new to it since the alert within `escalate_window`. The follow-up
    goes to every channel its alerts went to, carried by the first hit that
    alerted there: instant channels at once; a digest channel in its next
    digest, unless the first alert is still waiting for one (that digest will
    show the story with its sources anyway).
    """
    queued: list[tuple[int, int, str]] = []
    story_ids = set(story_ids)
    if not story_ids:
        return queued
    for story in session.scalars(
        select(StoryRow).where(
            StoryRow.id.in_(sorted(story_ids)),
            StoryRow.alerted_at.is_not(None),
            StoryRow.escalated_at.is_(None),
        )
    ):
        assert story.alerted_at is not None
        sources = story_sources(session, [story.id]).get(story.id, ())
        before = {s.outlet for s in sources if s.seen_at <= story.alerted_at}
        since = max(story.alerted_at, now - timedelta(seconds=policy.escalate_window))
        recent = {s.outlet for s in sources if s.seen_at > since}
        if not should_escalate(before, recent, policy):
            continue
        firsts: dict[str, tuple[int, str]] = {}
        for hit_id, channel, status in session.execute(
            select(DeliveryRow.hit_id, DeliveryRow.channel, DeliveryRow.status)
            .join(HitRow, DeliveryRow.hit_id == HitRow.id)
            .where(HitRow.story_id == story.id, DeliveryRow.kind == "alert")
            .order_by(DeliveryRow.id)
        ):
            firsts.setdefault(channel, (hit_id, status))
        rows = []
        for channel, (hit_id, status) in sorted(firsts.items()):
            if channel in instant:
                new_status = DeliveryStatus.PENDING
            elif status == DeliveryStatus.QUEUED:
                continue
            else:
                new_status = DeliveryStatus.QUEUED
            rows.append(
                {
                    "hit_id": hit_id,
                    "channel": channel,
                    "kind": "escalation",
                    "status": new_status,
                    "next_attempt_at": now,
                    "created_at": now,
                    "attempts": 0,
                    "done_targets": [],
                }
            )
            queued.append((story.id, hit_id, channel))
        if rows:
            session.execute(insert(DeliveryRow), rows)
        story.escalated_at = now
        story.escalated_outlets = len(sources)
    return queued


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size` (bound parameters per statement)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
