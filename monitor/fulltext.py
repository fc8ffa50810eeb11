"""Full text in a poll: new entries wait (a bounded time) for their article pages; late pages follow.

Owns the order of the full-text steps, nothing else: which entries want a
page is `core.fulltext`, fetching is `fetch.pages`, extraction is
`fetch.extract` (in the parse pool, off the fetch loop and the storing
thread), storing is `ingest`.

In a poll (`PageStage`): a parsed feed whose new entries want pages is held
while their pages are fetched and extracted, at most `fulltext.max_wait`;
then it is stored as any feed, the entries with a page matched, grouped
and snippeted on the page's text. What is not in by then is stored on the
feed's text with its page `pending`; a page that failed is stored `retry`.
At most `PAGES_PER_FEED` pages of one feed are waited for in one poll (a
feed's first poll may bring hundreds of teasers: the rest are `pending`),
and only entries published within `PAGE_MAX_AGE` (or undated) want pages.

After each poll (`LatePages`): due `pending`/`retry` pages are leased (at
most `LATE_BATCH` on their way at once), fetched and extracted without
holding the poll more than `LATE_WAIT`, and each is stored by `ingest.store_page`, which
re-matches the article on its page's text: only newly matched watchlists
alert, as for an updated entry. A second failure ends as `failed`. Both
run in the poll job, one at a time per daemon; several daemons share the
pages through `store.pages` leases.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from monitor.config import FulltextSettings
from monitor.core.feedplan import Router
from monitor.core.fulltext import page_adds, wants_page
from monitor.core.matcher import Matcher
from monitor.fetch import pool
from monitor.fetch.extract import MAX_PAGE_TEXT, extract_job
from monitor.fetch.pages import PageFetcher, PageResult
from monitor.ingest import PageTransactions, store_page
from monitor.metrics import METRICS
from monitor.models import ArticleData, NewHit
from monitor.store.entries import DONE, PENDING, RETRY
from monitor.store.pages import NOT_ADDING, PageJob

log = logging.getLogger(__name__)

__all__ = ["LatePages", "PageStage", "trusted_page"]

PAGES_PER_FEED = 20
PAGE_MAX_AGE = timedelta(days=3)
LATE_BATCH = 20
# How long one poll waits for late pages before going on (the rest are recorded next time).
LATE_WAIT = 2.0
K = TypeVar("K")


def trusted_page(page_url: str, feed_url: str) -> bool:
    """A page on the host of the feed the operator configured is trusted as that feed is."""
    page, feed = urlsplit(page_url), urlsplit(feed_url)
    return bool(page.hostname) and page.hostname == feed.hostname


@dataclass
class _Page:
    """One page on its way: fetch, then extraction, then text or a reason."""

    index: int
    url: str
    fetch: Future[PageResult]
    extract: Future[tuple[str, str]] | None = None
    fetched: PageResult | None = None
    text: str | None = None
    reason: str | None = None

    @property
    def settled(self) -> bool:
        return self.text is not None or self.reason is not None

    def advance(self, workers: int) -> None:
        """Take the next step whose input is ready (never blocks)."""
        if self.settled:
            return
        if self.fetched is None:
            if not self.fetch.done():
                return
            try:
                self.fetched = self.fetch.result()
            except Exception as exc:  # noqa: BLE001 - the fetch's own bug is this page's failure only
                self.reason = f"page fetch failed: {type(exc).__name__}"
                return
            if not self.fetched.ok or self.fetched.body is None:
                self.reason = self.fetched.reason or "page not fetched"
                return
            args = (self.fetched.body, self.fetched.headers, self.fetched.final_url or self.url)
            self.extract = pool.submit_call(workers, extract_job, *args)
            if self.extract is None:  # no pool: extract here
                self._extracted(pool.call_outcome(None, extract_job, *args))
            return
        if self.extract is not None and self.extract.done():
            fetched = self.fetched
            self._extracted(
                pool.call_outcome(
                    self.extract, extract_job, fetched.body, fetched.headers, fetched.final_url or self.url
                )
            )

    def _extracted(self, outcome: tuple[str, str]) -> None:
        kind, value = outcome
        if kind == "ok":
            self.text = value[:MAX_PAGE_TEXT]
        else:
            self.reason = value

    def futures(self) -> list[Future[object]]:
        pending: list[Future[object]] = []
        if self.fetched is None:
            pending.append(self.fetch)  # type: ignore[arg-type]
        elif self.extract is not None and not self.settled:
            pending.append(self.extract)  # type: ignore[arg-type]
        return pending


@dataclass
class _Waiting(Generic[K]):
    key: K
    articles: Sequence[ArticleData]
    deadline: float
    pages: list[_Page]
    rest: list[int] = field(default_factory=list)  # wanted, beyond PAGES_PER_FEED: pending


class PageStage(Generic[K]):
    """Parsed feeds held while their new entries' pages come in (at most `max_wait`).

    `hold` takes a feed (its key is the caller's, e.g. the poll) and says
    whether it waits; `ready` hands back the feeds whose pages all settled
    or whose wait ran out, their articles carrying page text and state.
    """

    def __init__(
        self,
        pages: PageFetcher,
        settings: FulltextSettings,
        workers: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.pages = pages
        self.settings = settings
        self.workers = workers
        self.clock = clock
        self._waiting: list[_Waiting[K]] = []
        # Pages being fetched for feeds still waiting: two feeds of one poll
        # carrying one article (an aggregator and its publisher) share a fetch.
        self._inflight: dict[str, Future[PageResult]] = {}

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def wanted(self, mode: str, articles: Sequence[ArticleData], now: datetime) -> list[int]:
        """Indexes of the articles that want a page (before knowing which are new)."""
        oldest = now - PAGE_MAX_AGE
        return [
            i
            for i, a in enumerate(articles)
            if a.link
            and (a.published is None or a.published >= oldest)
            and wants_page(mode, a.feed_text, self.settings.min_words)
        ]

    def hold(self, key: K, feed_url: str, articles: Sequence[ArticleData], wanted: Sequence[int]) -> None:
        """Start fetching the pages of `wanted` articles; the feed waits in the stage."""
        fetch_now, rest = list(wanted[:PAGES_PER_FEED]), list(wanted[PAGES_PER_FEED:])
        pages = []
        for i in fetch_now:
            url = articles[i].link or ""
            if url not in self._inflight:  # one fetch per URL, whichever feeds carry it
                self._inflight[url] = self.pages.submit(url, trusted=trusted_page(url, feed_url))
            pages.append(_Page(i, url, self._inflight[url]))
        self._waiting.append(_Waiting(key, articles, time.monotonic() + self.settings.max_wait, pages, rest))

    def ready(self, block: float = 0.0) -> list[tuple[K, list[ArticleData]]]:
        """Feeds done waiting, with their articles' page text and state; waits up to `block` s for progress."""
        if block and self._waiting:
            futures = [f for w in self._waiting for p in w.pages for f in p.futures()]
            nearest = min(w.deadline for w in self._waiting) - time.monotonic()
            if futures and nearest > 0:
                wait(futures, timeout=min(block, nearest), return_when=FIRST_COMPLETED)
        done, still = [], []
        now = time.monotonic()
        for waiting in self._waiting:
            for page in waiting.pages:
                page.advance(self.workers)
            if all(p.settled for p in waiting.pages) or now >= waiting.deadline:
                done.append((waiting.key, self._finish(waiting)))
            else:
                still.append(waiting)
        self._waiting = still
        if not still:
            self._inflight.clear()
        return done

    def cancel(self) -> list[tuple[K, list[ArticleData]]]:
        """Stop waiting (the poll is stopping): every held feed, its unsettled pages pending."""
        for waiting in self._waiting:
            waiting.deadline = 0.0
        return self.ready()

    def _finish(self, waiting: _Waiting[K]) -> list[ArticleData]:
        now = self.clock()
        retry = now + timedelta(seconds=self.settings.retry_after)
        articles = list(waiting.articles)
        for page in waiting.pages:
            article = articles[page.index]
            if page.text is not None:
                adds = page_adds(article.feed_text, page.text)
                # Keys computed by the parser were of the feed's text.
                articles[page.index] = replace(
                    article,
                    page_text=page.text if adds else "",
                    page_state=DONE,
                    page_reason=None if adds else NOT_ADDING,
                    story_keys=None if adds else article.story_keys,
                )
            elif page.reason is not None:
                articles[page.index] = replace(article, page_state=RETRY, page_reason=page.reason, page_due=retry)
            else:
                if not any(p.fetch is page.fetch for w in self._waiting if w is not waiting for p in w.pages):
                    page.fetch.cancel()  # the wait ran out: fetched later, the alert no longer held
                articles[page.index] = replace(article, page_state=PENDING, page_due=now)
        for i in waiting.rest:
            articles[i] = replace(articles[i], page_state=PENDING, page_due=now)
        for index in {p.index for p in waiting.pages} | set(waiting.rest):
            METRICS.pages.labels(articles[index].page_state).inc()
        return articles


class LateStore(PageTransactions, Protocol):
    def claim_pages(self, node: str, now: datetime, lease: float, limit: int) -> list[PageJob]: ...

    def page_failed(self, job: PageJob, node: str, reason: str, now: datetime, retry_after: float) -> str | None: ...


@dataclass
class LateSummary:
    pages: int = 0
    done: int = 0
    failed: int = 0
    hits: list[NewHit] = field(default_factory=list)


class LatePages:
    """Due pages of stored articles: lease, fetch, extract, store and re-match."""

    def __init__(
        self,
        store: LateStore,
        pages: PageFetcher,
        settings: FulltextSettings,
        workers: int,
        clock: Callable[[], datetime],
        node: str,
    ) -> None:
        self.store = store
        self.pages = pages
        self.settings = settings
        self.workers = workers
        self.clock = clock
        self.node = node
        self._open: dict[int, tuple[PageJob, _Page]] = {}

    def run(
        self,
        matcher: Matcher,
        route: Router,
        tags: Callable[[str], frozenset[str]],
        wait_for: float = LATE_WAIT,
    ) -> LateSummary:
        """Record the pages that settled, lease more (at most `LATE_BATCH` open), wait up to `wait_for` s.

        Never holds the poll longer than that: a slow page stays open on the
        fetch loop and is recorded by a later run (its lease outlasts its
        fetch deadline).
        """
        summary = LateSummary()
        room = LATE_BATCH - len(self._open)
        if room > 0:
            deadline = self.pages.fetcher.settings.deadline
            for job in self.store.claim_pages(self.node, self.clock(), deadline * 2 + 60, room):
                trusted = trusted_page(job.link, job.feed_url)
                self._open[job.article_id] = (job, _Page(0, job.link, self.pages.submit(job.link, trusted=trusted)))
                summary.pages += 1
        if not self._open:
            return summary
        until = time.monotonic() + wait_for
        while self._open:
            for _, page in self._open.values():
                page.advance(self.workers)
            settled = [key for key, (_, page) in self._open.items() if page.settled]
            for key in settled:
                job, page = self._open.pop(key)
                self._record(job, page, matcher, route, tags, summary)
            left = until - time.monotonic()
            futures = [f for _, page in self._open.values() for f in page.futures()]
            if left <= 0 or not futures:
                break
            wait(futures, timeout=left, return_when=FIRST_COMPLETED)
        return summary

    @property
    def open(self) -> int:
        """Pages leased and still on their way."""
        return len(self._open)

    def close(self) -> None:
        """Stop the pages on their way (their leases are released by the caller, or expire)."""
        for _, page in self._open.values():
            page.fetch.cancel()
        self._open.clear()

    def _record(
        self,
        job: PageJob,
        page: _Page,
        matcher: Matcher,
        route: Router,
        tags: Callable[[str], frozenset[str]],
        summary: LateSummary,
    ) -> None:
        now = self.clock()
        try:
            if page.text is None:
                state = self.store.page_failed(
                    job, self.node, page.reason or "page not read", now, self.settings.retry_after
                )
                summary.failed += state == "failed"
                if state:
                    METRICS.pages.labels(state).inc()
                log.info("page article=%d feed=%r %s: %s", job.article_id, job.feed, state, page.reason)
                return
            hits = store_page(self.store, job, self.node, page.text, matcher, route, tags(job.feed), now)
        except Exception:
            log.exception("page article=%d feed=%r: could not record", job.article_id, job.feed)
            return
        if hits is None:
            return
        METRICS.pages.labels(DONE).inc()
        summary.done += 1
        summary.hits.extend(hits)
        log.info(
            "page article=%d feed=%r done: %d words, %d new hits",
            job.article_id,
            job.feed,
            len(page.text.split()),
            len(hits),
        )
