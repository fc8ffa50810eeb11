"""Listing stored hits: the one query behind `monitor hits`, /api/hits, /api/stories, the dashboard and Atom.

Hits come newest first by (found_at, id) — the order keyset pages follow —
filtered by `HitFilter`. `by_story` keeps one hit per story and watchlist,
its first (lowest id); hits of no story are all kept. Every caller goes
through `find_hits`, so the CLI, the API and the dashboard cannot disagree
on which hits a list holds or in what order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, column, exists, not_, or_, select, text
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from monitor.models import HitRecord
from monitor.store import search
from monitor.store.paging import Cursor
from monitor.store.schema import ArticleRow, FeedRow, HitRow
from monitor.store.stories import with_sources

# Without a search index, a search scans at most this many of the newest hits.
LIKE_SCAN = 20_000

# A listed hit: the hit, its article and its feed's name.
HitRowTuple = tuple[HitRow, ArticleRow, str]


@dataclass(frozen=True)
class HitFilter:
    """Which hits a list holds; None (or empty) leaves a field unfiltered."""

    watchlist: str | None = None
    feed: str | None = None
    since: datetime | None = None  # found at or after
    until: datetime | None = None  # found before
    search: str | None = None  # words in the title or text (`search.SearchTerms`)
    story: int | None = None


@dataclass(frozen=True)
class FoundHits:
    rows: list[HitRowTuple]
    note: str | None = None  # how a search fell short (no index), for the reader


def first_of_story() -> ColumnElement[bool]:
    """True for a hit of no story, and for the first hit (lowest id) of its story and watchlist."""
    # `+ 0` and `|| ''` keep SQLite on the story_id index, not a scan of ids or of the watchlist.
    older = aliased(HitRow)
    return or_(
        HitRow.story_id.is_(None),
        not_(
            exists(
                select(older.id).where(
                    older.story_id == HitRow.story_id,
                    older.watchlist.concat("") == HitRow.watchlist,
                    older.id + 0 < HitRow.id,
                )
            )
        ),
    )


def find_hits(
    session: Session,
    filters: HitFilter,
    *,
    by_story: bool,
    cursor: Cursor | None = None,
    limit: int | None = None,
    search_index: bool = False,
) -> FoundHits:
    """The hits `filters` selects, newest first, after `cursor`, at most `limit`.

    A search uses the full-text index when `search_index` (see
    `search.available`); without it, it scans the newest `LIKE_SCAN` hits
    and says so in the note.
    """
    query: Select[Any] = (
        select(HitRow, ArticleRow, FeedRow.name)  # type: ignore[assignment]
        .join(ArticleRow, HitRow.article_id == ArticleRow.id)
        .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
        .order_by(HitRow.found_at.desc(), HitRow.id.desc())
    )
    if cursor is not None:
        query = query.where(cursor.older(HitRow.found_at, HitRow.id))
    if filters.watchlist:
        query = query.where(HitRow.watchlist == filters.watchlist)
    if filters.feed:
        query = query.where(FeedRow.name == filters.feed)
    if filters.since is not None:
        query = query.where(HitRow.found_at >= filters.since)
    if filters.until is not None:
        query = query.where(HitRow.found_at < filters.until)
    if filters.story is not None:
        query = query.where(HitRow.story_id == filters.story)
    note = None
    params: dict[str, Any] = {}
    terms = search.SearchTerms.parse(filters.search or "")
    if terms:
        dialect = session.get_bind().dialect.name
        if search_index:
            ids = text(search.article_ids_clause(dialect)).columns(column("id", Integer))
            query = query.where(ArticleRow.id.in_(ids))
            params["q"] = search.search_param(terms, dialect)
        else:
            # No index: every word in the title or text, over the newest hits only.
            newest = select(HitRow.id).order_by(HitRow.found_at.desc(), HitRow.id.desc()).limit(LIKE_SCAN)
            query = query.where(HitRow.id.in_(newest.scalar_subquery()))
            for pattern in terms.like_patterns():
                query = query.where(
                    or_(
                        ArticleRow.title.ilike(pattern),
                        ArticleRow.summary.ilike(pattern),
                        ArticleRow.content.ilike(pattern),
                    )
                )
            note = f"no search index on this database: searched the newest {LIKE_SCAN:,} hits only"
    if by_story:
        query = query.where(first_of_story())
    if limit:
        query = query.limit(limit)
    rows: list[HitRowTuple] = [(hit, article, feed) for hit, article, feed in session.execute(query, params)]
    return FoundHits(rows, note)


def hit_records(session: Session, rows: Sequence[HitRowTuple]) -> list[HitRecord]:
    """The rows as records, each with its story's sources."""
    return with_sources(session, [hit_record(hit, article, feed) for hit, article, feed in rows])


def hit_record(hit: HitRow, article: ArticleRow, feed: str) -> HitRecord:
    return HitRecord(
        id=hit.id,
        watchlist=hit.watchlist,
        title=article.title,
        link=article.link,
        feed=feed,
        terms=tuple(hit.terms),
        snippet=hit.snippet,
        score=hit.score,
        published=article.published_at,
        found_at=hit.found_at,
        spans=tuple((str(f), int(a), int(b)) for f, a, b in (hit.spans or ())),
        snippets=tuple(hit.snippets or ()),
        story_id=hit.story_id,
        matched_in=hit.matched_in or "feed",
    )


__all__ = ["LIKE_SCAN", "FoundHits", "HitFilter", "find_hits", "first_of_story", "hit_record", "hit_records"]
