"""The outbox: deliveries (one hit to one channel), messages (digests,
summaries) and notices (operational messages to the admin channel).

Owns every state change of an alert. Rows are written with their hit (see
`store.entries.FeedTransaction.apply`); here they are claimed, batched into digests and
storm summaries, and marked sent or failed. A claim is a short transaction;
sending happens outside any transaction; the outcome is another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.models import DeliveryJob, DeliveryRecord, HitRecord, MessageJob, NoticeJob
from monitor.store.hits import hit_records
from monitor.store.paging import Cursor
from monitor.store.schema import (
    ArticleRow,
    DeliveryRow,
    DeliveryStatus,
    FeedRow,
    HitRow,
    MessageRow,
    NoticeRow,
)

S = DeliveryStatus
# What a listing of the outbox shows unless told otherwise: every row not yet sent.
UNSENT = (S.FAILED, S.PENDING, S.SENDING, S.HELD, S.QUEUED, S.BATCHED)
STATUSES = (*UNSENT, S.SENT)


class Outbox:
    """Claiming, batching and recording alerts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def _lock(self, query: Select) -> Select:  # type: ignore[type-arg]
        if self.engine.dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True, of=query.columns_clause_froms[0])
        return query  # SQLite: BEGIN IMMEDIATE already serialises writers

    # --- single deliveries ----------------------------------------------------

    def claim_deliveries(self, channel: str, now: datetime, claim_timeout: float, limit: int = 50) -> list[DeliveryJob]:
        """Mark due deliveries of `channel` as being sent and return them.

        Due: pending with its next attempt time come, or claimed longer than
        `claim_timeout` ago by a process that must have died mid-send.
        """
        stale = now - timedelta(seconds=claim_timeout)
        with self._session.begin() as session:
            query = (
                select(DeliveryRow)
                .where(DeliveryRow.channel == channel)
                .where(
                    or_(
                        (DeliveryRow.status == S.PENDING) & (DeliveryRow.next_attempt_at <= now),
                        (DeliveryRow.status == S.SENDING) & (DeliveryRow.claimed_at < stale),
                    )
                )
                .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
                .limit(limit)
            )
            rows = list(session.scalars(self._lock(query)))
            hits = _hits(session, [row.hit_id for row in rows])
            jobs = []
            for row in rows:
                row.status, row.claimed_at = S.SENDING, now
                row.attempts += 1
                jobs.append(
                    DeliveryJob(
                        id=row.id,
                        channel=row.channel,
                        attempts=row.attempts,
                        hit=hits[row.hit_id],
                        done_targets=frozenset(row.done_targets or ()),
                        kind=row.kind,
                    )
                )
            return jobs

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        with self._session.begin() as session:
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery_id)
                .values(status=S.SENT, sent_at=now, last_error=None, claimed_at=None)
            )

    def mark_failed(
        self,
        delivery_id: int,
        reason: str,
        retry_at: datetime | None,
        done_targets: Iterable[str] = (),
    ) -> None:
        """Record a failed attempt; `retry_at` None means no more attempts.

        `done_targets` are the fingerprints of URLs that did accept it.
        """
        values = _failure(reason, retry_at, done_targets)
        with self._session.begin() as session:
            session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(values))

    def hold(self, delivery_ids: Sequence[int]) -> None:
        """Storm control: these claimed rows wait for the channel's next summary instead."""
        self._unclaim(delivery_ids, S.HELD)

    def release(self, delivery_ids: Sequence[int]) -> None:
        """Hand claimed rows back unsent (shutting down); no attempt is counted."""
        self._unclaim(delivery_ids, S.PENDING)

    def _unclaim(self, delivery_ids: Sequence[int], status: str) -> None:
        if not delivery_ids:
            return
        with self._session.begin() as session:
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(list(delivery_ids)), DeliveryRow.status == S.SENDING)
                .values(status=status, claimed_at=None, attempts=DeliveryRow.attempts - 1)
            )

    def sent_since(self, channel: str, since: datetime) -> int:
        """Single alerts sent to `channel` since `since` (digests and summaries not counted)."""
        with self._session.begin() as session:
            query = (
                select(func.count())
                .select_from(DeliveryRow)
                .where(DeliveryRow.channel == channel, DeliveryRow.sent_at >= since)
                .where(DeliveryRow.message_id.is_(None))
            )
            return int(session.scalar(query) or 0)

    # --- digests and summaries ---------------------------------------------------

    def last_window_end(self, channel: str, kind: str) -> datetime | None:
        with self._session.begin() as session:
            query = select(func.max(MessageRow.window_end)).where(
                MessageRow.channel == channel, MessageRow.kind == kind
            )
            return session.scalar(query)

    def oldest_waiting(self, channel: str, status: str) -> datetime | None:
        """When the oldest `queued` (or `held`) delivery of `channel` was created."""
        with self._session.begin() as session:
            query = select(func.min(DeliveryRow.created_at)).where(
                DeliveryRow.channel == channel, DeliveryRow.status == status
            )
            return session.scalar(query)

    def open_message(self, channel: str, kind: str, window_end: datetime, now: datetime) -> int | None:
        """Record the window ending `window_end` and batch its waiting hits into it.

        A digest takes the channel's `queued` deliveries created up to
        `window_end`; a summary takes its `held` ones. Returns the message id,
        or None when the window was already recorded or has nothing in it.
        The window is committed before anything is sent, so the same window
        can never be sent twice: two daemons opening it at once both try the
        insert, the unique window key lets one win, and the other gets None.
        """
        try:
            return self._open_message(channel, kind, window_end, now)
        except IntegrityError:
            return None

    def _open_message(self, channel: str, kind: str, window_end: datetime, now: datetime) -> int | None:
        waiting = S.QUEUED if kind == "digest" else S.HELD
        with self._session.begin() as session:
            exists = session.scalar(
                select(MessageRow.id).where(
                    MessageRow.channel == channel,
                    MessageRow.kind == kind,
                    MessageRow.window_end == window_end,
                )
            )
            if exists is not None:
                return None
            rows = list(
                session.scalars(
                    self._lock(
                        select(DeliveryRow)
                        .where(DeliveryRow.channel == channel, DeliveryRow.status == waiting)
                        .where(DeliveryRow.created_at <= window_end)
                    )
                )
            )
            if not rows:
                return None
            previous = session.scalar(
                select(func.max(MessageRow.window_end)).where(MessageRow.channel == channel, MessageRow.kind == kind)
            )
            start = previous or min(row.created_at for row in rows)
            message = MessageRow(
                channel=channel,
                kind=kind,
                window_start=min(start, window_end),
                window_end=window_end,
                status=S.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(message)
            session.flush()
            for row in rows:
                row.status, row.message_id = S.BATCHED, message.id
            return message.id

    def claim_messages(self, channel: str, now: datetime, claim_timeout: float, limit: int = 5) -> list[MessageJob]:
        stale = now - timedelta(seconds=claim_timeout)
        with self._session.begin() as session:
            query = (
                select(MessageRow)
                .where(MessageRow.channel == channel)
                .where(
                    or_(
                        (MessageRow.status == S.PENDING) & (MessageRow.next_attempt_at <= now),
                        (MessageRow.status == S.SENDING) & (MessageRow.claimed_at < stale),
                    )
                )
                .order_by(MessageRow.window_end, MessageRow.id)
                .limit(limit)
            )
            jobs = []
            for message in session.scalars(self._lock(query)):
                message.status, message.claimed_at = S.SENDING, now
                message.attempts += 1
                hit_ids = list(session.scalars(select(DeliveryRow.hit_id).where(DeliveryRow.message_id == message.id)))
                hits = _hits(session, hit_ids)
                ordered = sorted(hits.values(), key=lambda h: (h.watchlist, -h.found_at.timestamp(), -h.id))
                jobs.append(
                    MessageJob(
                        id=message.id,
                        channel=message.channel,
                        kind=message.kind,
                        window_start=message.window_start,
                        window_end=message.window_end,
                        attempts=message.attempts,
                        hits=tuple(ordered),
                        done_targets=frozenset(message.done_targets or ()),
                    )
                )
            return jobs

    def mark_message_sent(self, message_id: int, now: datetime) -> None:
        with self._session.begin() as session:
            session.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(status=S.SENT, sent_at=now, last_error=None, claimed_at=None)
            )
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.message_id == message_id)
                .values(status=S.SENT, sent_at=now, last_error=None)
            )

    def mark_message_failed(
        self, message_id: int, reason: str, retry_at: datetime | None, done_targets: Iterable[str] = ()
    ) -> None:
        values = _failure(reason, retry_at, done_targets)
        with self._session.begin() as session:
            session.execute(update(MessageRow).where(MessageRow.id == message_id).values(values))
            if retry_at is None:
                session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.message_id == message_id)
                    .values(status=S.FAILED, last_error=values["last_error"])
                )

    # --- notices (operational messages) ---------------------------------------------

    def claim_notices(self, channel: str, now: datetime, claim_timeout: float, limit: int = 10) -> list[NoticeJob]:
        """Due notices of `channel` (and ones whose sender vanished mid-send)."""
        stale = now - timedelta(seconds=claim_timeout)
        with self._session.begin() as session:
            query = (
                select(NoticeRow)
                .where(NoticeRow.channel == channel)
                .where(
                    or_(
                        (NoticeRow.status == S.PENDING) & (NoticeRow.next_attempt_at <= now),
                        (NoticeRow.status == S.SENDING) & (NoticeRow.claimed_at < stale),
                    )
                )
                .order_by(NoticeRow.id)
                .limit(limit)
            )
            jobs = []
            for row in session.scalars(self._lock(query)):
                row.status, row.claimed_at = S.SENDING, now
                row.attempts += 1
                jobs.append(
                    NoticeJob(
                        row.id, row.channel, row.subject, row.body, row.attempts, frozenset(row.done_targets or ())
                    )
                )
            return jobs

    def mark_notice_sent(self, notice_id: int, now: datetime) -> None:
        with self._session.begin() as session:
            session.execute(
                update(NoticeRow)
                .where(NoticeRow.id == notice_id)
                .values(status=S.SENT, sent_at=now, last_error=None, claimed_at=None)
            )

    def mark_notice_failed(
        self, notice_id: int, reason: str, retry_at: datetime | None, done_targets: Iterable[str] = ()
    ) -> None:
        with self._session.begin() as session:
            session.execute(
                update(NoticeRow).where(NoticeRow.id == notice_id).values(_failure(reason, retry_at, done_targets))
            )

    # --- inspection and manual retry -------------------------------------------------

    def list(
        self,
        *,
        statuses: Sequence[str] = (),
        channel: str | None = None,
        cursor: Cursor | None = None,
        limit: int | None = 100,
    ) -> list[DeliveryRecord]:
        """Outbox rows newest first (created_at, id), after `cursor`: `monitor deliveries`,
        the API and the dashboard."""
        with self._session.begin() as session:
            return list_deliveries(session, statuses=statuses, channel=channel, cursor=cursor, limit=limit)

    def retry(self, ids: Sequence[int] = (), *, all_failed: bool = False, now: datetime) -> int:
        """Re-queue failed deliveries (by id, or all); returns how many.

        A delivery that failed inside a digest or summary re-queues that whole
        message, which is sent again with every hit it carries.
        """
        with self._session.begin() as session:
            query = select(DeliveryRow).where(DeliveryRow.status == S.FAILED)
            if not all_failed:
                query = query.where(DeliveryRow.id.in_(list(ids)))
            rows = list(session.scalars(query))
            messages = {row.message_id for row in rows if row.message_id is not None}
            for row in rows:
                if row.message_id is None:
                    row.status, row.attempts, row.next_attempt_at = S.PENDING, 0, now
                    row.done_targets = []
                else:
                    row.status = S.BATCHED
            if messages:
                session.execute(
                    update(MessageRow)
                    .where(MessageRow.id.in_(messages))
                    .values(status=S.PENDING, attempts=0, next_attempt_at=now, done_targets=[])
                )
            return len(rows)

    def counts(self) -> dict[str, int]:
        """Outbox rows per status."""
        with self._session.begin() as session:
            return delivery_counts(session)


def _failure(reason: str, retry_at: datetime | None, done_targets: Iterable[str]) -> dict[str, object]:
    values: dict[str, object] = {
        "last_error": reason[:2000],
        "claimed_at": None,
        "done_targets": sorted(done_targets),
    }
    if retry_at is None:
        values["status"] = S.FAILED
    else:
        values["status"] = S.PENDING
        values["next_attempt_at"] = retry_at
    return values


def list_deliveries(
    session: Session,
    *,
    statuses: Sequence[str] = (),
    channel: str | None = None,
    cursor: Cursor | None = None,
    limit: int | None = None,
) -> list[DeliveryRecord]:
    """Outbox rows of `statuses` (empty: all) newest first (created_at, id), after `cursor`, at most `limit`."""
    query = (
        select(DeliveryRow, HitRow.watchlist, ArticleRow.title, MessageRow.kind)
        .join(HitRow, DeliveryRow.hit_id == HitRow.id)
        .join(ArticleRow, HitRow.article_id == ArticleRow.id)
        .outerjoin(MessageRow, DeliveryRow.message_id == MessageRow.id)
        .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
    )
    if statuses:
        query = query.where(DeliveryRow.status.in_(list(statuses)))
    if channel:
        query = query.where(DeliveryRow.channel == channel)
    if cursor is not None:
        query = query.where(cursor.older(DeliveryRow.created_at, DeliveryRow.id))
    if limit:
        query = query.limit(limit)
    return [delivery_record(row, watchlist, title, kind) for row, watchlist, title, kind in session.execute(query)]


def delivery_counts(session: Session) -> dict[str, int]:
    """Outbox rows per status."""
    rows = session.execute(select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status))
    return {status: int(count) for status, count in rows}


def delivery_record(row: DeliveryRow, watchlist: str, title: str, kind: str | None) -> DeliveryRecord:
    """One outbox row as listed (`monitor deliveries`, the API); `kind` of the message carrying it."""
    return DeliveryRecord(
        id=row.id,
        channel=row.channel,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        watchlist=watchlist,
        title=title,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == S.PENDING else None,
        sent_at=row.sent_at,
        message=f"{kind} #{row.message_id}" if kind else None,
    )


def _hits(session: Session, hit_ids: Sequence[int]) -> dict[int, HitRecord]:
    if not hit_ids:
        return {}
    query = (
        select(HitRow, ArticleRow, FeedRow.name)
        .join(ArticleRow, HitRow.article_id == ArticleRow.id)
        .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
        .where(HitRow.id.in_(list(set(hit_ids))))
    )
    records = hit_records(session, [(hit, article, feed) for hit, article, feed in session.execute(query)])
    return {record.id: record for record in records}
