"""Feed rows: configuration sync, due-ness, poll outcomes and health.

A base of `Repository`: every method is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.polling import Decision
from monitor.models import FeedHealth, FeedRequest, Notice
from monitor.store.schema import ArticleRow, DeliveryStatus, FeedRow, NoticeRow
from monitor.store.stories import chunks


@dataclass(frozen=True)
class FeedSpec:
    """What the repository needs to know about a configured feed."""

    name: str
    url: str


class FeedStore:
    """Reads and writes of the feeds table."""

    _session: sessionmaker  # type: ignore[type-arg]

    def sync_feeds(self, feeds: Sequence[FeedSpec], now: datetime, *, deactivate: bool = True) -> dict[str, int]:
        """Make the feed rows match the configuration; returns name → id.

        New feeds are inserted with ON CONFLICT DO NOTHING, so any number of
        daemons starting at once with the same config all succeed. A feed
        whose configured URL changed starts afresh from the new URL
        (validators cleared, re-enabled if it was disabled); one whose
        configured URL is unchanged keeps where a permanent redirect took it
        (the last daemon to sync a changed URL wins: they all read one file).
        With `deactivate`, feeds no longer configured are kept (with their
        articles) but marked inactive; the caller passes False while other
        daemons run another config (a rolling change: a feed only the newer
        config names must not be switched off by an older one).
        """
        with self._session.begin() as session:
            if feeds:
                session.execute(
                    _insert_ignoring(session, FeedRow).values(
                        [
                            {"name": f.name, "url": f.url, "config_url": f.url, "created_at": now, "active": True}
                            for f in feeds
                        ]
                    )
                )
            rows = {row.name: row for row in session.scalars(select(FeedRow))}
            wanted = {feed.name for feed in feeds}
            for feed in feeds:
                row = rows[feed.name]
                if (row.config_url or row.url) != feed.url:
                    row.url, row.config_url, row.etag, row.last_modified = feed.url, feed.url, None, None
                    row.consecutive_failures, row.next_poll_at, row.failing_since = 0, None, None
                    row.disabled_reason, row.unchanged_polls = None, 0
                if not row.active:
                    row.active = True
            if deactivate:
                for name, row in rows.items():
                    if name not in wanted and row.active:
                        row.active = False
            session.flush()
            return {name: row.id for name, row in rows.items() if name in wanted}

    def claim_due(
        self,
        node: str,
        now: datetime,
        lease: float,
        *,
        limit: int | None = None,
        every: bool = False,
        after: int = 0,
        skip: Sequence[int] = (),
    ) -> tuple[list[FeedRequest], int]:
        """Lease due feeds (or, with `every`, all active ones with ids past
        `after`, in id order) to `node` until `now + lease`.

        Returns the leased feeds and how many of them were taken over from
        a node whose lease had expired. A feed under a live lease is skipped,
        this node's own included (a feed whose result could not be recorded
        keeps its lease, so a cycle does not claim it again and again); on
        PostgreSQL rows another daemon is claiming at this moment are skipped
        too (FOR UPDATE SKIP LOCKED), so two daemons never lease one feed. SQLite has one daemon (its writers
        are serial anyway). `skip`: feed ids this node will not poll (not in
        its config).
        """
        columns = (
            FeedRow.id,
            FeedRow.name,
            FeedRow.url,
            FeedRow.etag,
            FeedRow.last_modified,
            FeedRow.consecutive_failures,
            FeedRow.unchanged_polls,
            FeedRow.failing_since,
            FeedRow.admin_alerted,
            FeedRow.last_polled_at,
            FeedRow.lease_owner,
        )
        with self._session.begin() as session:
            # Plain rows, one UPDATE: a 304 cycle of a thousand feeds claims
            # them all, and ORM objects for each cost more than the claim.
            query = (
                select(*columns)
                .where(FeedRow.active.is_(True), FeedRow.disabled_reason.is_(None))
                .where(or_(FeedRow.lease_until.is_(None), FeedRow.lease_until < now))
            )
            if every:
                query = query.where(FeedRow.id > after).order_by(FeedRow.id)
            else:
                query = query.where(or_(FeedRow.next_poll_at.is_(None), FeedRow.next_poll_at <= now)).order_by(
                    FeedRow.next_poll_at.is_not(None), FeedRow.next_poll_at, FeedRow.id
                )
            if skip:
                query = query.where(FeedRow.id.not_in(list(skip)))
            if limit:
                query = query.limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=FeedRow)
            rows = session.execute(query).all()
            until = now + timedelta(seconds=lease)
            for chunk in chunks([row.id for row in rows], 500):
                session.execute(
                    update(FeedRow).where(FeedRow.id.in_(chunk)).values(lease_owner=node, lease_until=until)
                )
            taken = sum(1 for row in rows if row.lease_owner not in (None, node))
            requests = [_request(row) for row in rows]
            return requests, taken

    def release_leases(self, node: str, feed_ids: Sequence[int] | None = None) -> int:
        """Give back `node`'s leases (of `feed_ids`, or all): feeds it claimed
        and will not poll (stopping, or not in its config)."""
        with self._session.begin() as session:
            query = update(FeedRow).where(FeedRow.lease_owner == node)
            if feed_ids is not None:
                if not feed_ids:
                    return 0
                query = query.where(FeedRow.id.in_(list(feed_ids)))
            result = session.execute(query.values(lease_owner=None, lease_until=None))
            return int(getattr(result, "rowcount", 0) or 0)

    def clear_leases(self) -> None:
        """Drop every lease (SQLite at start: one daemon, so any lease is a dead process's)."""
        with self._session.begin() as session:
            session.execute(
                update(FeedRow).where(FeedRow.lease_owner.is_not(None)).values(lease_owner=None, lease_until=None)
            )

    def due_feeds(self, now: datetime, limit: int | None = None) -> list[FeedRequest]:
        """Active feeds whose next poll time has come (never-polled ones first)."""
        with self._session.begin() as session:
            query = (
                select(FeedRow)
                .where(FeedRow.active.is_(True), FeedRow.disabled_reason.is_(None))
                .where(or_(FeedRow.next_poll_at.is_(None), FeedRow.next_poll_at <= now))
                .order_by(FeedRow.next_poll_at.is_not(None), FeedRow.next_poll_at, FeedRow.id)
            )
            if limit:
                query = query.limit(limit)
            return [_request(row) for row in session.scalars(query)]

    def active_feeds(self) -> list[FeedRequest]:
        """Every active feed, due or not (for `poll --once`)."""
        with self._session.begin() as session:
            query = (
                select(FeedRow).where(FeedRow.active.is_(True), FeedRow.disabled_reason.is_(None)).order_by(FeedRow.id)
            )
            return [_request(row) for row in session.scalars(query)]

    def record_failure(
        self, feed_id: int, reason: str, now: datetime, decision: Decision, notice: Notice | None = None
    ) -> None:
        """Record a failed poll and when to try again (or that the feed is disabled).

        `notice`: the admin channel's message that the feed is failing,
        queued in the same transaction (the feed is then marked as told).
        """
        with self._session.begin() as session:
            row = session.get_one(FeedRow, feed_id)
            row.last_polled_at = now
            row.last_error, row.last_error_at = reason[:2000], now
            _apply(row, decision)
            if decision.disable_reason:
                row.disabled_reason = decision.disable_reason
            if notice is not None:
                queue_notice(session, notice, now)
                row.admin_alerted = True

    def record_recovery(self, feed_id: int, notice: Notice | None, now: datetime) -> None:
        """A feed the admin channel was told about answers again: queue the
        news (None: no admin channel now) and clear the mark, together."""
        with self._session.begin() as session:
            if notice is not None:
                queue_notice(session, notice, now)
            session.get_one(FeedRow, feed_id).admin_alerted = False

    def record_not_modified(self, feed_id: int, now: datetime, decision: Decision) -> None:
        """A 304: the feed is healthy and unchanged."""
        with self._session.begin() as session:
            row = session.get_one(FeedRow, feed_id)
            mark_success(row, now, decision)

    def record_not_modified_many(self, updates: Sequence[tuple[int, Decision]], now: datetime) -> None:
        """Many 304s in one transaction and one executemany (a 304 cycle is mostly this)."""
        if not updates:
            return
        with self._session.begin() as session:
            session.execute(
                update(FeedRow),
                [
                    {
                        "id": feed_id,
                        "last_polled_at": now,
                        "last_success_at": now,
                        "last_error": None,
                        "consecutive_failures": decision.failures,
                        "failing_since": decision.failing_since,
                        "unchanged_polls": decision.unchanged_polls,
                        "interval_seconds": decision.interval,
                        "next_poll_at": decision.next_poll_at,
                        "lease_owner": None,
                        "lease_until": None,
                    }
                    for feed_id, decision in updates
                ],
            )

    def move_feed(self, feed_id: int, url: str) -> None:
        """A permanent redirect: fetch from `url` from now on."""
        with self._session.begin() as session:
            session.get_one(FeedRow, feed_id).url = url

    def enable_feed(self, name: str) -> bool:
        """Clear a feed's disabled state so it is polled again; False if unknown."""
        with self._session.begin() as session:
            row = session.scalar(select(FeedRow).where(FeedRow.name == name))
            if row is None:
                return False
            row.disabled_reason, row.next_poll_at, row.consecutive_failures = None, None, 0
            return True

    def feed_health(self) -> list[FeedHealth]:
        with self._session.begin() as session:
            counts = dict(session.execute(select(ArticleRow.feed_id, func.count()).group_by(ArticleRow.feed_id)).all())
            rows = session.scalars(select(FeedRow).order_by(FeedRow.active.desc(), FeedRow.name))
            return [
                FeedHealth(
                    name=row.name,
                    url=row.url,
                    active=row.active,
                    last_polled_at=row.last_polled_at,
                    last_success_at=row.last_success_at,
                    last_error=row.last_error,
                    last_error_at=row.last_error_at,
                    consecutive_failures=row.consecutive_failures,
                    articles=int(counts.get(row.id, 0)),
                    next_poll_at=row.next_poll_at,
                    disabled_reason=row.disabled_reason,
                    last_new_article_at=row.last_new_article_at,
                    first_seen=row.created_at,
                    interval=row.interval_seconds,
                    kind=row.kind,
                    pages_ok=row.pages_ok or 0,
                    pages_failed=row.pages_failed or 0,
                )
                for row in rows
            ]


def _request(row: Any) -> FeedRequest:
    """A feed row (ORM object or plain row with those columns) as a request."""
    return FeedRequest(
        row.id,
        row.name,
        row.url,
        row.etag,
        row.last_modified,
        failures=row.consecutive_failures,
        unchanged_polls=row.unchanged_polls,
        failing_since=row.failing_since,
        admin_alerted=row.admin_alerted,
        polled=row.last_polled_at is not None,
    )


def _apply(row: FeedRow, decision: Decision) -> None:
    """A poll's outcome on its feed row; the poller's lease ends with it."""
    row.lease_owner = row.lease_until = None
    row.consecutive_failures = decision.failures
    row.failing_since = decision.failing_since
    row.unchanged_polls = decision.unchanged_polls
    row.interval_seconds = decision.interval
    row.next_poll_at = decision.next_poll_at


def mark_success(row: FeedRow, now: datetime, decision: Decision) -> None:
    row.last_polled_at = row.last_success_at = now
    row.last_error = None
    _apply(row, decision)


def queue_notice(session: Session, notice: Notice, now: datetime) -> bool:
    """Queue a notice in the caller's transaction, unless its event is queued
    already (same channel and key: INSERT … ON CONFLICT DO NOTHING, so two
    daemons recording one event queue it once); True when queued."""
    result = session.execute(
        _insert_ignoring(session, NoticeRow).values(
            channel=notice.channel,
            key=notice.key[:200],
            subject=notice.subject,
            body=notice.body,
            status=DeliveryStatus.PENDING,
            attempts=0,
            done_targets=[],
            next_attempt_at=now,
            created_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def _insert_ignoring(session: Session, row_type: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's database."""
    table = cast(Table, row_type.__table__)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
