"""Article pages in the store: the page columns of a new article, claiming due pages, recording outcomes.

An article's page state (`ArticleRow.page_*`): NULL when no page is wanted;
`pending` when the poll stored it before its page arrived (the wait ran
out) — due at once; `retry` after one failure — due `fulltext.retry_after`
later; `done` with the page text; `failed` after the retry failed too. The
counts behind a feed's full-text success rate (`feeds.pages_ok`,
`pages_failed`) move when a page ends `done` or `failed`.

Several daemons on one PostgreSQL database: `claim_pages` leases due pages
to one node (FOR UPDATE SKIP LOCKED, as feeds are claimed), so a page is
fetched by one daemon; recording an outcome ends the lease, and a lease of a
daemon that died expires so another takes the page. Recording checks the
lease: a page whose lease was taken over is not recorded twice. SQLite
serves one daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.models import body_text
from monitor.store.entries import DONE, FAILED, PENDING, RETRY, HitTransaction
from monitor.store.schema import ArticleRow, FeedRow

__all__ = ["NOT_ADDING", "PageJob", "PageStore", "PageTransaction"]

# Recorded on a page read but not used (`core.fulltext.page_adds`).
NOT_ADDING = "read, but its text does not continue the entry's (another page, or a paywall or consent wall?)"


@dataclass(frozen=True)
class PageJob:
    """A stored article whose page is due: where to fetch it and what its feed carried."""

    article_id: int
    link: str
    feed_id: int
    feed: str
    feed_url: str  # as configured: pages on its host are trusted as the feed is
    attempts: int
    state: str


class PageTransaction(HitTransaction):
    """One late page's write: its text and the hits it adds, in one transaction."""

    def article(self, article_id: int) -> tuple[str, str, str] | None:
        """(title, the feed's text, feed name) of a stored article."""
        row = self.session.execute(
            select(ArticleRow.title, ArticleRow.summary, ArticleRow.content, FeedRow.name)
            .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
            .where(ArticleRow.id == article_id)
        ).first()
        if row is None:
            return None
        return row.title, body_text(row.summary, row.content), row.name

    def page_done(self, job: PageJob, node: str, text: str, reason: str | None = None) -> bool:
        """Store the page's text ('' when it added nothing, `reason` saying why); False when the lease is not ours."""
        return _finish(self.session, job, node, DONE, text=text, reason=reason)


class PageStore:
    """Claims and outcomes of late article pages (mixed into `Repository`)."""

    _session: sessionmaker[Session]

    def claim_pages(self, node: str, now: datetime, lease: float, limit: int) -> list[PageJob]:
        """Lease up to `limit` due pages (oldest due first) to `node` until `now + lease`."""
        with self._session.begin() as session:
            query = (
                select(
                    ArticleRow.id,
                    ArticleRow.link,
                    ArticleRow.feed_id,
                    ArticleRow.page_attempts,
                    ArticleRow.page_state,
                    FeedRow.name,
                    FeedRow.config_url,
                    FeedRow.url,
                )
                .join(FeedRow, ArticleRow.feed_id == FeedRow.id)
                .where(ArticleRow.page_state.in_((PENDING, RETRY)), ArticleRow.page_due_at <= now)
                .where(or_(ArticleRow.page_lease_until.is_(None), ArticleRow.page_lease_until < now))
                .where(FeedRow.active.is_(True))
                .order_by(ArticleRow.page_due_at, ArticleRow.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=ArticleRow)
            rows = session.execute(query).all()
            if not rows:
                return []
            session.execute(
                update(ArticleRow)
                .where(ArticleRow.id.in_([row.id for row in rows]))
                .values(page_lease_owner=node, page_lease_until=now + timedelta(seconds=lease))
            )
            return [
                PageJob(
                    row.id,
                    row.link or "",
                    row.feed_id,
                    row.name,
                    row.config_url or row.url,
                    row.page_attempts,
                    row.page_state,
                )
                for row in rows
            ]

    def page_failed(self, job: PageJob, node: str, reason: str, now: datetime, retry_after: float) -> str | None:
        """Record a failed late page: `retry` once (due `retry_after` later), then `failed`.

        Returns the new state, or None when the lease was no longer ours.
        """
        state = RETRY if job.attempts < 1 else FAILED
        due = now + timedelta(seconds=retry_after) if state == RETRY else None
        with self._session.begin() as session:
            if not _finish(session, job, node, state, text=None, reason=reason[:2000], due=due):
                return None
        return state

    @contextmanager
    def page_transaction(self) -> Iterator[PageTransaction]:
        """A transaction for one late page: read the article, add hits, `page_done`."""
        with self._session.begin() as session:
            yield PageTransaction(session)

    def release_pages(self, node: str) -> int:
        """Give back `node`'s page leases (stopping with pages unfetched)."""
        with self._session.begin() as session:
            result = session.execute(
                update(ArticleRow)
                .where(ArticleRow.page_lease_owner == node)
                .values(page_lease_owner=None, page_lease_until=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _finish(
    session: Session,
    job: PageJob,
    node: str,
    state: str,
    *,
    text: str | None,
    reason: str | None,
    due: datetime | None = None,
) -> bool:
    values: dict[str, Any] = {
        "page_state": state,
        "page_reason": reason,
        "page_due_at": due,
        "page_attempts": job.attempts + 1,
        "page_lease_owner": None,
        "page_lease_until": None,
    }
    if text is not None:
        values["page_text"] = text
    result = session.execute(
        update(ArticleRow).where(ArticleRow.id == job.article_id, ArticleRow.page_lease_owner == node).values(**values)
    )
    if not getattr(result, "rowcount", 0):
        return False
    counter = {DONE: FeedRow.pages_ok, FAILED: FeedRow.pages_failed}.get(state)
    if counter is not None:
        session.execute(update(FeedRow).where(FeedRow.id == job.feed_id).values({counter: counter + 1}))
    return True
