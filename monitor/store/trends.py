"""Hourly story counts per watchlist and entity, open surges, and the spike
alerts' outbox (the SQL behind `monitor.spikes`).

Counting. A hit is one article matching one watchlist; its story counts
for the watchlist, and for each entity its terms name (`@name`: the
matcher reports an entity leaf by that label, so which entity matched is
recorded, not guessed). Each (series, story, feed) is one `trend_events`
row in the UTC hour it was first seen — the earlier of the article's
publication and the hit's finding, so the backlog a new feed brings goes
to the hours it was published in, not into one false surge now. A
series' hour then counts the stories first seen in it (copies of a story,
in any feed or hour, count once) and the distinct feeds that carried one
(`trend_counts`, recomputed from the events for the touched hours).

`update` reads the hits found since its mark, minus an overlap (a
transaction that stamped its hits before the mark may commit after it:
reading again is harmless, the events' unique key drops repeats), plus the
hits whose article got a new source (a copy under the same URL in another
feed). With no mark (a new table, a migrated database) it reads every
stored hit: the counts are rebuilt from the hits. `rebuild` clears them
and reads everything again.

Several daemons: every write here is idempotent (unique keys with ON
CONFLICT DO NOTHING, recomputation from the events), and the spike job
that calls them runs under `JobStore.once` (one daemon at a time), so the
delete-and-insert of an hour's counts never interleaves. Spike alerts are
unique per channel and key (series, surge start, level): a job run twice,
or by two daemons, queues each alert once.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import CursorResult, Engine, Table, and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.spikes import SpikeJob, SurgeState, epoch_hour, hour_start
from monitor.store.schema import (
    ArticleRow,
    ArticleSourceRow,
    DeliveryStatus,
    FeedRow,
    HitRow,
    SpikeAlertRow,
    SpikeStateRow,
    StoryRow,
    TrendCountRow,
    TrendEventRow,
    TrendMarkRow,
)

__all__ = ["HORIZON_DAYS", "SeriesKey", "TrendStore", "WindowDetail"]

S = DeliveryStatus
SeriesKey = tuple[str, str]  # (kind, name): ("watchlist", "cartels"), ("entity", "cjng")
# Counts are kept this long (baselines use 28 days; replays may go back 90).
HORIZON_DAYS = 100
OVERLAP = timedelta(minutes=10)
BATCH = 2000
MARK = "hits"
# What counting reads of a hit and its article (new hits, and old hits whose article gained a copy).
_HIT_COLUMNS = (
    HitRow.id,
    HitRow.found_at,
    HitRow.watchlist,
    HitRow.terms,
    HitRow.story_id,
    HitRow.article_id,
    ArticleRow.feed_id,
    ArticleRow.published_at,
)


def _hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class WindowDetail:
    """What a spike alert lists: distinct stories and feeds in a span, the
    top stories (title, link, feeds carrying it) and top outlets (feed, stories)."""

    stories: int
    outlets: int
    top_stories: tuple[tuple[str, str | None, int], ...]
    top_outlets: tuple[tuple[str, int], ...]


class TrendStore:
    """Counts, surges and spike alerts: every read and write of their tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)
        # The series the last `update` counted new events for.
        self.touched: set[SeriesKey] = set()

    def _insert(self, session: Session, model: Any) -> Any:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        return dialect.insert(cast(Table, model.__table__))

    # --- counting ---------------------------------------------------------------------

    def mark(self, name: str = MARK) -> datetime | None:
        with self._session.begin() as session:
            return session.scalar(select(TrendMarkRow.at).where(TrendMarkRow.name == name))

    def set_mark(self, name: str, at: datetime) -> None:
        with self._session.begin() as session:
            self._set_mark(session, at, name)

    def update(self, now: datetime, entities: Mapping[str, str], *, overlap: timedelta = OVERLAP) -> int:
        """Count the hits found since the mark (all of them without one); returns
        the new (series, story, feed) events (the series they touched: `touched`).
        `entities` maps each entity's name, lower-cased, to its name."""
        mark = self.mark()
        since = None if mark is None else mark - overlap
        touched: dict[SeriesKey, datetime] = {}
        added = 0
        after: tuple[datetime, int] | None = None
        while True:
            with self._session.begin() as session:
                query = (
                    select(*_HIT_COLUMNS)
                    .join(ArticleRow, HitRow.article_id == ArticleRow.id)
                    .order_by(HitRow.found_at, HitRow.id)
                    .limit(BATCH)
                )
                if since is not None:
                    query = query.where(HitRow.found_at >= since)
                if after is not None:
                    query = query.where(tuple_(HitRow.found_at, HitRow.id) > tuple_(*after))
                rows = list(session.execute(query))
                if not rows:
                    break
                after = (rows[-1].found_at, rows[-1].id)
                added += self._count(session, rows, entities, touched)
        if since is not None:  # old hits whose article got another feed's copy since
            with self._session.begin() as session:
                query = (
                    select(*_HIT_COLUMNS)
                    .join(ArticleRow, HitRow.article_id == ArticleRow.id)
                    .where(HitRow.found_at < since)
                    .where(
                        HitRow.article_id.in_(
                            select(ArticleSourceRow.article_id).where(ArticleSourceRow.first_seen_at >= since)
                        )
                    )
                )
                rows = list(session.execute(query))
                if rows:
                    added += self._count(session, rows, entities, touched)
        with self._session.begin() as session:
            self._recount(session, touched)
            self._set_mark(session, now)
        self.touched = set(touched)
        return added

    def rebuild(self, now: datetime, entities: Mapping[str, str]) -> int:
        """Clear the counts and count every stored hit again (`monitor trends --rebuild`)."""
        with self._session.begin() as session:
            session.execute(delete(TrendEventRow))
            session.execute(delete(TrendCountRow))
            session.execute(delete(TrendMarkRow).where(TrendMarkRow.name == MARK))
        return self.update(now, entities)

    def _set_mark(self, session: Session, now: datetime, name: str = MARK) -> None:
        stmt = self._insert(session, TrendMarkRow).values(name=name, at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"at": now}))

    def _count(
        self, session: Session, rows: Sequence[Any], entities: Mapping[str, str], touched: dict[SeriesKey, datetime]
    ) -> int:
        sources: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
        ids = list({row.article_id for row in rows})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for article_id, feed_id, seen in session.execute(
                select(ArticleSourceRow.article_id, ArticleSourceRow.feed_id, ArticleSourceRow.first_seen_at).where(
                    ArticleSourceRow.article_id.in_(chunk)
                )
            ):
                sources[article_id].append((feed_id, seen))
        events: dict[tuple[str, str, int, int], datetime] = {}
        for row in rows:
            first = min(row.published_at, row.found_at)
            keys: list[SeriesKey] = [("watchlist", row.watchlist)]
            for term in row.terms or ():
                if isinstance(term, str) and term.startswith("@"):
                    name = entities.get(term[1:].lower())
                    if name is not None:
                        keys.append(("entity", name))
            story = row.story_id if row.story_id is not None else -row.article_id
            carried = [(row.feed_id, first)] + [
                (feed, min(seen, row.published_at)) for feed, seen in sources.get(row.article_id, ())
            ]
            for kind, name in dict.fromkeys(keys):
                for feed, seen in carried:
                    key = (kind, name[:200], story, feed)
                    hour = _hour(seen)
                    if key not in events or hour < events[key]:
                        events[key] = hour
        if not events:
            return 0
        values = [
            {"kind": k, "series": s, "story_key": story, "feed_id": feed, "hour": hour}
            for (k, s, story, feed), hour in events.items()
        ]
        added = 0
        for start in range(0, len(values), 1000):
            # Only the rows inserted come back: a hit read again (the overlap) touches nothing.
            inserted = session.execute(
                self._insert(session, TrendEventRow)
                .values(values[start : start + 1000])
                .on_conflict_do_nothing(index_elements=["kind", "series", "story_key", "feed_id"])
                .returning(TrendEventRow.kind, TrendEventRow.series, TrendEventRow.hour)
            ).all()
            added += len(inserted)
            for kind, name, hour in inserted:
                series, hour = (kind, name), _hour(hour)
                if series not in touched or hour < touched[series]:
                    touched[series] = hour
        return added

    def _recount(self, session: Session, touched: Mapping[SeriesKey, datetime]) -> None:
        """Recompute the counts of each touched series from its first touched hour on."""
        E = TrendEventRow
        for (kind, name), start in touched.items():
            mine = and_(E.kind == kind, E.series == name)
            recent_stories = select(E.story_key).where(mine, E.hour >= start)
            first = (
                select(E.story_key, func.min(E.hour).label("first"))
                .where(mine, E.story_key.in_(recent_stories))
                .group_by(E.story_key)
                .subquery()
            )
            stories: dict[datetime, int] = dict(
                session.execute(
                    select(first.c.first, func.count()).where(first.c.first >= start).group_by(first.c.first)
                ).all()
            )
            outlets: dict[datetime, int] = dict(
                session.execute(
                    select(E.hour, func.count(func.distinct(E.feed_id))).where(mine, E.hour >= start).group_by(E.hour)
                ).all()
            )
            session.execute(
                delete(TrendCountRow).where(
                    TrendCountRow.kind == kind, TrendCountRow.series == name, TrendCountRow.hour >= start
                )
            )
            hours = {_hour(h) for h in (*stories, *outlets)}
            by_hour_s = {_hour(h): int(c) for h, c in stories.items()}
            by_hour_o = {_hour(h): int(c) for h, c in outlets.items()}
            rows = [
                {
                    "kind": kind,
                    "series": name,
                    "hour": h,
                    "stories": by_hour_s.get(h, 0),
                    "outlets": by_hour_o.get(h, 0),
                }
                for h in sorted(hours)
            ]
            for at in range(0, len(rows), 1000):
                session.execute(self._insert(session, TrendCountRow).values(rows[at : at + 1000]))

    def prune(self, now: datetime, days: int = HORIZON_DAYS) -> int:
        """Drop counts and events older than `days`."""
        before = now - timedelta(days=days)
        with self._session.begin() as session:
            gone = _run(session, delete(TrendEventRow).where(TrendEventRow.hour < before)).rowcount
            session.execute(delete(TrendCountRow).where(TrendCountRow.hour < before))
            return int(gone or 0)

    # --- reading counts -----------------------------------------------------------------

    def series(self, keys: Iterable[SeriesKey] | None = None) -> dict[SeriesKey, datetime]:
        """Every series with counts (or those of `keys`), and the first hour it counted a story."""
        wanted = None if keys is None else set(keys)
        with self._session.begin() as session:
            query = select(TrendCountRow.kind, TrendCountRow.series, func.min(TrendCountRow.hour)).group_by(
                TrendCountRow.kind, TrendCountRow.series
            )
            if wanted is not None:
                if not wanted:
                    return {}
                if len(wanted) <= 500:
                    query = query.where(TrendCountRow.series.in_(sorted({name for _, name in wanted})))
            return {
                (kind, name): _hour(first)
                for kind, name, first in session.execute(query)
                if wanted is None or (kind, name) in wanted
            }

    def matrix(
        self, keys: Sequence[SeriesKey], first_hour: int, hours: int, *, column: str = "stories"
    ) -> npt.NDArray[np.float64]:
        """Counts of `keys` (rows) for the epoch hours first_hour … first_hour+hours-1 (columns)."""
        out = np.zeros((len(keys), hours))
        if not keys or hours <= 0:
            return out
        index = {key: i for i, key in enumerate(keys)}
        start, end = hour_start(first_hour), hour_start(first_hour + hours)
        value = TrendCountRow.stories if column == "stories" else TrendCountRow.outlets
        kinds = sorted({kind for kind, _ in keys})
        with self._session.begin() as session:
            query = select(TrendCountRow.kind, TrendCountRow.series, TrendCountRow.hour, value).where(
                TrendCountRow.hour >= start, TrendCountRow.hour < end, TrendCountRow.kind.in_(kinds)
            )
            if len(keys) <= 500:
                query = query.where(TrendCountRow.series.in_(sorted({name for _, name in keys})))
            for kind, name, hour, count in session.execute(query):
                row = index.get((kind, name))
                if row is not None:
                    out[row, epoch_hour(hour) - first_hour] = count
        return out

    def stories_since(self, key: SeriesKey, since: datetime) -> int:
        """Distinct stories of a series first seen at or after `since`."""
        with self._session.begin() as session:
            return int(
                session.scalar(
                    select(func.coalesce(func.sum(TrendCountRow.stories), 0)).where(
                        TrendCountRow.kind == key[0], TrendCountRow.series == key[1], TrendCountRow.hour >= since
                    )
                )
                or 0
            )

    def detail(self, key: SeriesKey, start: datetime, end: datetime, top: int = 5) -> WindowDetail:
        """The stories first seen in [start, end) and the feeds that carried them there."""
        E = TrendEventRow
        with self._session.begin() as session:
            first = (
                select(E.story_key, func.min(E.hour).label("first"))
                .where(E.kind == key[0], E.series == key[1])
                .group_by(E.story_key)
                .subquery()
            )
            stories = set(session.scalars(select(first.c.story_key).where(first.c.first >= start, first.c.first < end)))
            rows = (
                list(
                    session.execute(
                        select(E.story_key, E.feed_id).where(
                            E.kind == key[0], E.series == key[1], E.story_key.in_(stories), E.hour < end
                        )
                    )
                )
                if stories
                else []
            )
            feeds_of: dict[int, set[int]] = defaultdict(set)
            for story, feed in rows:
                feeds_of[story].add(feed)
            per_feed = Counter(feed for feeds in feeds_of.values() for feed in feeds)
            ranked = sorted(feeds_of, key=lambda s: (-len(feeds_of[s]), -s))[:top]
            titles = _story_titles(session, ranked)
            names = dict(session.execute(select(FeedRow.id, FeedRow.name).where(FeedRow.id.in_(list(per_feed)))).all())
            return WindowDetail(
                stories=len(stories),
                outlets=len(per_feed),
                top_stories=tuple(
                    (titles.get(s, ("", None))[0], titles.get(s, ("", None))[1], len(feeds_of[s])) for s in ranked
                ),
                top_outlets=tuple(
                    (names.get(feed, f"feed #{feed}"), count)
                    for feed, count in sorted(per_feed.items(), key=lambda fc: (-fc[1], names.get(fc[0], "")))[:top]
                ),
            )

    # --- surges --------------------------------------------------------------------------

    def states(self) -> dict[SeriesKey, SurgeState]:
        with self._session.begin() as session:
            return {
                (row.kind, row.series): SurgeState(
                    row.start, row.expected, row.per_day, row.stories, row.level, row.alerted_at
                )
                for row in session.scalars(select(SpikeStateRow))
            }

    def save(
        self,
        changes: Mapping[SeriesKey, SurgeState | None],
        alerts: Iterable[dict[str, Any]],
        now: datetime,
    ) -> int:
        """Write the surges that changed (None: ended) and queue their alerts,
        in one transaction; returns the alerts queued (an alert already
        queued under its key is not queued again)."""
        queued = 0
        with self._session.begin() as session:
            for (kind, name), state in changes.items():
                session.execute(delete(SpikeStateRow).where(SpikeStateRow.kind == kind, SpikeStateRow.series == name))
                if state is not None:
                    session.add(
                        SpikeStateRow(
                            kind=kind,
                            series=name,
                            start=state.start,
                            expected=state.expected,
                            per_day=state.per_day,
                            stories=state.stories,
                            level=state.level,
                            alerted_at=state.alerted_at,
                        )
                    )
            session.flush()
            for alert in alerts:
                values = {
                    "status": S.PENDING,
                    "attempts": 0,
                    "done_targets": [],
                    "next_attempt_at": now,
                    "created_at": now,
                    **alert,
                }
                result = _run(
                    session,
                    self._insert(session, SpikeAlertRow)
                    .values(values)
                    .on_conflict_do_nothing(index_elements=["channel", "key"]),
                )
                queued += max(int(result.rowcount or 0), 0)
        return queued

    def alerts(self, since: datetime | None = None, key: SeriesKey | None = None) -> list[dict[str, Any]]:
        """Queued spike alerts (one row per surge level, channels merged), oldest first."""
        with self._session.begin() as session:
            query = select(SpikeAlertRow).order_by(SpikeAlertRow.window_end, SpikeAlertRow.id)
            if since is not None:
                query = query.where(SpikeAlertRow.window_end >= since)
            if key is not None:
                query = query.where(SpikeAlertRow.kind == key[0], SpikeAlertRow.series == key[1])
            merged: dict[str, dict[str, Any]] = {}
            for row in session.scalars(query):
                entry = merged.setdefault(
                    row.key,
                    {
                        "kind": row.kind,
                        "series": row.series,
                        "level": row.level,
                        "surge_start": row.surge_start,
                        "window_start": row.window_start,
                        "window_end": row.window_end,
                        "stories": row.stories,
                        "outlets": row.outlets,
                        "per_day": row.per_day,
                        "expected": row.expected,
                        "score": row.score,
                        "channels": [],
                    },
                )
                entry["channels"].append({"channel": row.channel, "status": row.status})
            return list(merged.values())

    # --- the outbox ----------------------------------------------------------------------

    def claim(self, channel: str, now: datetime, claim_timeout: float, limit: int = 10) -> list[SpikeJob]:
        """Due spike alerts of `channel` (and ones whose sender vanished mid-send)."""
        stale = now - timedelta(seconds=claim_timeout)
        with self._session.begin() as session:
            query = (
                select(SpikeAlertRow)
                .where(SpikeAlertRow.channel == channel)
                .where(
                    or_(
                        (SpikeAlertRow.status == S.PENDING) & (SpikeAlertRow.next_attempt_at <= now),
                        (SpikeAlertRow.status == S.SENDING) & (SpikeAlertRow.claimed_at < stale),
                    )
                )
                .order_by(SpikeAlertRow.next_attempt_at, SpikeAlertRow.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            jobs = []
            for row in session.scalars(query):
                row.status, row.claimed_at = S.SENDING, now
                row.attempts += 1
                jobs.append(
                    SpikeJob(
                        id=row.id,
                        channel=row.channel,
                        attempts=row.attempts,
                        kind=row.kind,
                        series=row.series,
                        level=row.level,
                        surge_start=row.surge_start,
                        window_start=row.window_start,
                        window_end=row.window_end,
                        stories=row.stories,
                        outlets=row.outlets,
                        per_day=row.per_day,
                        detail=dict(row.detail or {}),
                        done_targets=frozenset(row.done_targets or ()),
                    )
                )
            return jobs

    def mark_sent(self, alert_id: int, now: datetime) -> None:
        with self._session.begin() as session:
            session.execute(
                update(SpikeAlertRow)
                .where(SpikeAlertRow.id == alert_id)
                .values(status=S.SENT, sent_at=now, last_error=None, claimed_at=None)
            )

    def mark_failed(
        self, alert_id: int, reason: str, retry_at: datetime | None, done_targets: Iterable[str] = ()
    ) -> None:
        values: dict[str, object] = {
            "last_error": reason[:2000],
            "claimed_at": None,
            "done_targets": sorted(done_targets),
        }
        if retry_at is None:
            values["status"] = S.FAILED
        else:
            values["status"], values["next_attempt_at"] = S.PENDING, retry_at
        with self._session.begin() as session:
            session.execute(update(SpikeAlertRow).where(SpikeAlertRow.id == alert_id).values(values))

    def defer(self, alert_ids: Sequence[int], until: datetime) -> None:
        """Hand claimed rows back to wait until `until` (storm control, a stop); no attempt counted."""
        if not alert_ids:
            return
        with self._session.begin() as session:
            session.execute(
                update(SpikeAlertRow)
                .where(SpikeAlertRow.id.in_(list(alert_ids)), SpikeAlertRow.status == S.SENDING)
                .values(status=S.PENDING, claimed_at=None, next_attempt_at=until, attempts=SpikeAlertRow.attempts - 1)
            )

    def sent_since(self, channel: str, since: datetime) -> int:
        with self._session.begin() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(SpikeAlertRow)
                    .where(SpikeAlertRow.channel == channel, SpikeAlertRow.sent_at >= since)
                )
                or 0
            )


def _story_titles(session: Session, keys: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Title and link of each story key (a story's first article; minus an article id: that article)."""
    out: dict[int, tuple[str, str | None]] = {}
    stories = [k for k in keys if k > 0]
    articles = [-k for k in keys if k < 0]
    if stories:
        first = (
            select(ArticleRow.story_id, func.min(ArticleRow.id).label("aid"))
            .where(ArticleRow.story_id.in_(stories))
            .group_by(ArticleRow.story_id)
            .subquery()
        )
        for story_id, title, link in session.execute(
            select(first.c.story_id, ArticleRow.title, ArticleRow.link).join(ArticleRow, ArticleRow.id == first.c.aid)
        ):
            out[story_id] = (title, link)
        for story_id, title in session.execute(select(StoryRow.id, StoryRow.title).where(StoryRow.id.in_(stories))):
            if story_id not in out:
                out[story_id] = (title, None)
    if articles:
        for article_id, title, link in session.execute(
            select(ArticleRow.id, ArticleRow.title, ArticleRow.link).where(ArticleRow.id.in_(articles))
        ):
            out[-article_id] = (title, link)
    return out


def _run(session: Session, statement: Any) -> CursorResult[Any]:
    return cast(CursorResult[Any], session.execute(statement))


def floor_hour(when: datetime) -> datetime:
    return _hour(when)


def ceil_hours(seconds: float) -> int:
    return max(1, math.ceil(seconds / 3600))
