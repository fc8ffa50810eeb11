"""One poll cycle: due feeds → fetch → parse (in worker processes) → decide → store.

Owns the polling side of the pipeline: which feeds to fetch, handing bodies
to a process pool so parsing uses every core and never blocks the schedule,
turning each outcome into the feed's next state (`core.polling`), storing a
feed's new articles, hits and outbox rows in one transaction, following
permanent redirects, disabling feeds that are gone, and telling the admin
channel about a feed failing for long (once) and its recovery (once).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from monitor.config import FeedConfig, Settings
from monitor.core.feedplan import PreMatch, Prepare, Router, pack_seen
from monitor.core.matcher import Matcher, PackedSpec
from monitor.core.polling import (
    Decision,
    FeedState,
    Policy,
    after_failure,
    after_success,
    server_hint,
)
from monitor.core.stories import StoryPolicy
from monitor.fetch import pool
from monitor.fetch.http import Fetcher
from monitor.fetch.pages import PageFetcher
from monitor.fetch.parse import SourceSpec
from monitor.fetch.pool import ParseOutcome, ParseRequest
from monitor.fulltext import LatePages, LateStore, PageStage
from monitor.ingest import FeedTransactions, FeedUpdate, store_feed, unseen
from monitor.metrics import METRICS
from monitor.models import FeedRequest, FetchResult, NewHit, Notice, ParsedFeed
from monitor.notify.notices import failing_notice, recovered_notice
from monitor.notify.render import render_console
from monitor.wiring import fetch_settings, page_settings

log = logging.getLogger(__name__)

# 304s recorded together, this many at a time.
UNCHANGED_BATCH = 200
# A lease lasts the fetches of its batch (poll.deadline per round of
# poll.concurrency) and this much more for parsing and storing.
LEASE_MARGIN = 60.0
# Watchlists (pickled) up to this size go with each parse job (matching new
# entries there). They are pickled once (`PackedSpec`) and copied with each
# job: ≈ 0.1 ms a feed at 10,000 terms (215 KB). Past this size (≈ 50,000
# terms) each worker's compiled copy would take ≈ 60 MB (bench/match.py:
# 124 MB at 100,000), so larger term lists are matched in the store.
PREMATCH_MAX_BYTES = 1024 * 1024


class PollStore(FeedTransactions, Protocol):
    """What the poller reads and writes (`store.repository.Repository`)."""

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
    ) -> tuple[list[FeedRequest], int]: ...

    def release_leases(self, node: str, feed_ids: Sequence[int] | None = None) -> int: ...

    def move_feed(self, feed_id: int, url: str) -> None: ...

    def record_failure(
        self, feed_id: int, reason: str, now: datetime, decision: Decision, notice: Notice | None = None
    ) -> None: ...

    def record_not_modified(self, feed_id: int, now: datetime, decision: Decision) -> None: ...

    def record_not_modified_many(self, updates: Sequence[tuple[int, Decision]], now: datetime) -> None: ...

    def record_recovery(self, feed_id: int, notice: Notice | None, now: datetime) -> None: ...

    def release_pages(self, node: str) -> int: ...


class _PollStore(PollStore, LateStore, Protocol):
    """Both: what `Poller` is given."""


@dataclass(frozen=True)
class FeedPoll:
    """One feed's fetch outcome being handled: the feed, its state before, and when."""

    result: FetchResult
    feed: FeedConfig
    now: datetime
    policy: Policy
    state: FeedState

    @property
    def request(self) -> FeedRequest:
        return self.result.request


@dataclass
class PollSummary:
    """Counts for one poll cycle; its `line()` is the cycle's log line."""

    feeds_ok: int = 0
    not_modified: int = 0
    feeds_failed: int = 0
    new_articles: int = 0
    hits: int = 0
    seconds: float = 0.0
    new_hits: list[NewHit] = field(default_factory=list)

    @property
    def feeds(self) -> int:
        return self.feeds_ok + self.not_modified + self.feeds_failed


class Poller:
    """Polls feeds; one instance per service, safe to call from one thread at a time."""

    def __init__(
        self,
        settings: Settings,
        repo: _PollStore,
        matcher: Matcher,
        route: Router,
        *,
        clock: Callable[[], datetime],
        rng: random.Random,
        stop: threading.Event,
        echo: Callable[[str], None],
        fetcher: Fetcher | None = None,
        node: str = "local",
        claim_batch: int | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.matcher = matcher
        self.route = route
        self.clock = clock
        self.rng = rng
        self.stop = stop
        self.echo = echo
        self.node = node
        self.claim_batch = claim_batch
        poll = settings.poll
        self.fetcher = fetcher or Fetcher(fetch_settings(settings))
        self.workers = poll.parse_workers if poll.parse_workers is not None else (os.cpu_count() or 1)
        self._feeds = {feed.name: feed for feed in settings.feeds}
        self._specs = {feed.name: SourceSpec.of(feed) for feed in settings.feeds}
        self._unchanged: list[tuple[int, Decision]] = []
        # The guids each feed carried at its last poll, as 4-byte digests
        # (`core.feedplan.pack_seen`): what the workers need not prepare.
        self._seen: dict[int, bytes] = {}
        # New entries are matched in the parse workers too, unless the
        # watchlists are too big to send with every feed.
        packed = PackedSpec.of(matcher.spec)
        self._packed = packed if len(packed.data) <= PREMATCH_MAX_BYTES else None
        # Full text: pages of new entries in the poll (`stage`), late ones after it.
        self.pages = PageFetcher(self.fetcher, page_settings(settings))
        self.stage: PageStage[tuple[FeedPoll, ParsedFeed]] = PageStage(
            self.pages, settings.fulltext, self.workers, clock
        )
        self.late = LatePages(repo, self.pages, settings.fulltext, self.workers, clock, node)

    def close(self) -> None:
        self.late.close()
        try:
            self.repo.release_pages(self.node)
        except Exception:
            log.warning("could not hand back this node's page leases; they expire by themselves", exc_info=True)
        self.fetcher.close()

    def poll(self, *, all_feeds: bool = False) -> PollSummary:
        """Poll the due feeds (or every enabled feed) once; returns the counts.

        Feeds are leased to this node a batch at a time (`claim_batch`; None:
        every due feed at once) and each lease ends in the transaction that
        records the feed's result, so daemons sharing a database never poll
        one feed twice for one due time. A feed this node's config does not
        name (another node's newer config) is handed back unpolled.
        """
        started = time.monotonic()
        summary = PollSummary()
        foreign: set[int] = set()
        after = 0
        try:
            while not self.stop.is_set():
                batch = self.claim_batch
                rounds = 1 + (batch or 10_000) // max(self.settings.poll.concurrency, 1)
                lease = self.fetcher.settings.deadline * rounds
                claimed, taken = self.repo.claim_due(
                    self.node,
                    self.clock(),
                    lease + LEASE_MARGIN,
                    limit=batch,
                    every=all_feeds,
                    after=after,
                    skip=sorted(foreign),
                )
                if not claimed:
                    break
                after = max(r.feed_id for r in claimed)
                if taken:
                    METRICS.leases_taken_over.inc(taken)
                    log.warning("took over %d feeds whose lease of another node had expired", taken)
                mine = [r for r in claimed if r.name in self._feeds]
                others = [r.feed_id for r in claimed if r.name not in self._feeds]
                if others:
                    foreign.update(others)
                    self.repo.release_leases(self.node, others)
                if mine:
                    self._run(mine, summary)
                if batch is None:
                    break
            if not self.stop.is_set():
                self._late_pages(summary)
        finally:
            # Feeds claimed but not recorded (stopping mid-batch, or their
            # result could not be written) are handed back for the next tick.
            try:
                self.repo.release_leases(self.node)
            except Exception:
                log.exception("could not hand back this node's leases; they expire by themselves")
        if not summary.feeds:
            return summary
        summary.seconds = time.monotonic() - started
        log.info(
            "poll cycle: feeds=%d ok=%d not_modified=%d failed=%d new_articles=%d hits=%d (%.1fs)",
            summary.feeds,
            summary.feeds_ok,
            summary.not_modified,
            summary.feeds_failed,
            summary.new_articles,
            summary.hits,
            summary.seconds,
        )
        return summary

    def _run(self, requests: Sequence[FeedRequest], summary: PollSummary) -> None:
        """Fetch concurrently; parse in the pool; store in this thread, one feed at a time."""
        pending: dict[Future[ParseOutcome], tuple[FetchResult, ParseRequest]] = {}
        # Feeds parsed ahead of the store, about a second of the pool's work:
        # the store is the one serial stage, and with only a few queued
        # (it was 4 per worker) the workers ran dry whenever it paused for a
        # story-key flush or a checkpoint (10-20 % of the machine idle in a
        # cold cycle). Bounded by the pool's size, not by the cycle's.
        max_inflight = max(self.workers * 32, 4)

        def drain(block: bool) -> None:
            if not pending:
                return
            done, _ = wait(list(pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
            for future in done:
                result, job = pending.pop(future)
                self._handle(result, pool.outcome(future, job), summary)

        for result in self.fetcher.fetch(requests, self.stop, idle=0.1):
            if result is None:  # nothing fetched lately: finish what is parsed
                drain(block=False)
                continue
            self._release(summary)
            if not result.ok or result.not_modified:
                self._handle(result, None, summary)
                continue
            job = self._parse_request(result)
            future = pool.submit(self.workers, job) if self.workers else None
            if future is None:
                self._handle(result, pool.parse_now(job), summary)
                continue
            pending[future] = (result, job)
            drain(block=len(pending) >= max_inflight)
        while pending:
            drain(block=True)
            self._release(summary)
        while self.stage.busy:  # feeds waiting for their entries' pages (at most fulltext.max_wait)
            if self.stop.is_set():
                self._release(summary, cancel=True)
                break
            self._release(summary, block=0.25)
        self._flush_unchanged()

    def _release(self, summary: PollSummary, *, block: float = 0.0, cancel: bool = False) -> None:
        """Store the feeds whose pages are in (or whose wait ran out)."""
        for (poll, parsed), articles in self.stage.cancel() if cancel else self.stage.ready(block):
            try:
                self._store(poll, replace(parsed, articles=tuple(articles)), summary)
            except Exception as exc:
                log.exception("feed=%r unexpected error while storing", poll.request.name)
                self._failed(poll, f"internal error: {type(exc).__name__}: {exc}", summary)

    def _flush_unchanged(self) -> None:
        if self._unchanged:
            batch, self._unchanged = self._unchanged, []
            try:
                self.repo.record_not_modified_many(batch, self.clock())
            except Exception:
                log.exception("could not record %d unchanged feeds", len(batch))

    def _parse_request(self, result: FetchResult) -> ParseRequest:
        # The workers prepare the entries new to this process in full
        # (canonical URLs, story keys, matches): all of them on a feed's
        # first poll, the ones not carried at its last poll after that.
        # A feed polled before this process started gets fingerprints only
        # (the store does the rest for its few new entries), then is known.
        policy = self.route.stories or StoryPolicy(enabled=False)
        request = result.request
        seen = b"" if not request.polled else self._seen.get(request.feed_id)
        feed = self._feeds[request.name]
        match = PreMatch(self._packed, feed.name, frozenset(feed.tags)) if self._packed is not None else None
        how = Prepare(policy.strip_params, policy.enabled, match, seen)
        spec = self._specs.get(result.request.name)
        return (result.body, result.headers, result.final_url, self.settings.poll.max_entries, how, spec)

    # --- one feed -------------------------------------------------------------

    def _policy(self, feed: FeedConfig) -> Policy:
        poll = self.settings.poll
        return Policy(
            interval=self.settings.feed_interval(feed),
            min_interval=poll.min_interval,
            max_interval=poll.max_interval,
            fixed=feed.interval is not None,
            jitter=poll.jitter,
        )

    def _handle(self, result: FetchResult, parsed: ParseOutcome | None, summary: PollSummary) -> None:
        """Decide and store one feed's outcome; any failure is recorded on that feed only."""
        request = result.request
        feed = self._feeds[request.name]
        state = FeedState(request.failures, request.unchanged_polls, request.failing_since, request.polled)
        poll = FeedPoll(result, feed, self.clock(), self._policy(feed), state)
        try:
            if result.permanent_url and result.status is not None and result.status < 400:
                self.repo.move_feed(request.feed_id, result.permanent_url)
                log.warning(
                    "feed=%r moved permanently: %s → %s (stored)", request.name, request.url, result.permanent_url
                )
            if not result.ok:
                self._failed(poll, result.error or "unknown error", summary)
            elif result.not_modified:
                self._not_modified(poll, summary)
            elif parsed is None or parsed[0] == "error" or not isinstance(parsed[1], ParsedFeed):
                self._failed(poll, str(parsed[1]) if parsed else "not parsed", summary)
            elif not self._hold_for_pages(poll, parsed[1]):
                self._store(poll, parsed[1], summary)
        except Exception as exc:
            log.exception("feed=%r unexpected error while storing", request.name)
            self._failed(poll, f"internal error: {type(exc).__name__}: {exc}", summary)

    def _hold_for_pages(self, poll: FeedPoll, parsed: ParsedFeed) -> bool:
        """Whether the feed waits in the page stage: new entries of it want their pages."""
        mode = self.settings.fulltext_mode(poll.feed)
        if mode == "never":
            return False
        wanted = self.stage.wanted(mode, parsed.articles, poll.now)
        if not wanted:
            return False
        policy = self.route.stories
        new = {
            id(a)
            for a in unseen(
                self.repo,
                poll.request.feed_id,
                [parsed.articles[i] for i in wanted],
                policy.strip_params if policy else (),
            )
        }
        wanted = [i for i in wanted if id(parsed.articles[i]) in new]
        if not wanted:
            return False
        self.stage.hold((poll, parsed), poll.feed.url, parsed.articles, wanted)
        return True

    def _late_pages(self, summary: PollSummary) -> None:
        """Due pages of stored articles (the wait ran out, or a retry): fetched and re-matched."""
        try:
            late = self.late.run(self.matcher, self.route, self._tags)
        except Exception:
            log.exception("late pages: could not run; they stay due")
            return
        summary.hits += len(late.hits)
        summary.new_hits.extend(late.hits)
        for new_hit in late.hits:
            if not new_hit.channels and not new_hit.copy:
                self.echo(render_console(new_hit.hit))

    def _tags(self, feed: str) -> frozenset[str]:
        config = self._feeds.get(feed)
        return frozenset(config.tags) if config is not None else frozenset()

    def _not_modified(self, poll: FeedPoll, summary: PollSummary) -> None:
        request, now = poll.request, poll.now
        hint = server_hint(poll.result.headers, now)
        decision = after_success(poll.policy, poll.state, now, self.rng, new_entries=0, entries=0, hint=hint)
        summary.not_modified += 1
        METRICS.poll_outcome("not_modified", poll.result.elapsed)
        log.info("feed=%r status=not_modified", request.name)
        if request.failures or request.admin_alerted:
            self.repo.record_not_modified(request.feed_id, now, decision)
            self._recovered(poll)
        else:  # the common case: written in batches
            self._unchanged.append((request.feed_id, decision))
            if len(self._unchanged) >= UNCHANGED_BATCH:
                self._flush_unchanged()

    def _store(self, poll: FeedPoll, parsed: ParsedFeed, summary: PollSummary) -> None:
        request, result, now = poll.request, poll.result, poll.now
        if parsed.warning:
            log.debug("feed=%r parsed with a warning: %s", request.name, parsed.warning)
        hint = server_hint(
            result.headers,
            now,
            ttl_minutes=parsed.ttl,
            update_period=parsed.update_period,
            update_frequency=parsed.update_frequency,
        )
        decided: list[Decision] = []

        def decide(changed: int) -> Decision:
            decision = after_success(
                poll.policy, poll.state, now, self.rng, new_entries=changed, entries=len(parsed.articles), hint=hint
            )
            decided.append(decision)
            return decision

        update = FeedUpdate(
            request.feed_id,
            request.name,
            frozenset(poll.feed.tags),
            parsed.articles,
            now,
            etag=result.headers.get("etag"),
            last_modified=result.headers.get("last-modified"),
            title=parsed.title,
            kind=parsed.kind,
        )
        saved = store_feed(self.repo, update, self.matcher, self.route, decide)
        self._seen[request.feed_id] = pack_seen(a.guid for a in parsed.articles)
        summary.feeds_ok += 1
        METRICS.poll_outcome("ok", result.elapsed)
        METRICS.stored(saved.new_articles, [h.hit.watchlist for h in saved.hits])
        summary.new_articles += saved.new_articles
        summary.hits += len(saved.hits)
        summary.new_hits.extend(saved.hits)
        self._recovered(poll)
        log.info(
            "feed=%r status=ok entries=%d new=%d copies=%d updated=%d hits=%d next_in=%s",
            request.name,
            len(parsed.articles),
            saved.new_articles,
            saved.copies,
            saved.updates,
            len(saved.hits),
            _human(decided[0].interval) if decided else "?",
        )
        for new_hit in saved.hits:
            if not new_hit.channels and not new_hit.copy:
                self.echo(render_console(new_hit.hit))

    def _failed(self, poll: FeedPoll, reason: str, summary: PollSummary) -> None:
        request, result, now = poll.request, poll.result, poll.now
        summary.feeds_failed += 1
        METRICS.poll_outcome("failed", result.elapsed)
        decision = after_failure(
            poll.policy, poll.state, now, self.rng, status=result.status, retry_after=result.retry_after
        )
        notice = failing_notice(self._admin_channel(), request, decision, reason, now, self.settings.poll.alert_after)
        try:
            self.repo.record_failure(request.feed_id, reason, now, decision, notice)
        except Exception:
            log.exception("feed=%r could not record its failure", request.name)
            return
        if decision.disable_reason:
            log.warning("feed=%r url=%s disabled: %s", request.name, request.url, decision.disable_reason)
        elif decision.failures == 1:
            log.warning(
                "feed=%r url=%s failed: %s; retry in %s", request.name, request.url, reason, _human(decision.interval)
            )
        else:
            log.info(
                "feed=%r still failing (%d in a row): %s; retry in %s",
                request.name,
                decision.failures,
                reason,
                _human(decision.interval),
            )
        if notice is not None:
            log.info("feed=%r admin channel %r told: %s", request.name, notice.channel, notice.subject)

    def _recovered(self, poll: FeedPoll) -> None:
        request = poll.request
        if request.failures:
            log.warning("feed=%r recovered after %d failed polls", request.name, request.failures)
        if request.admin_alerted:
            self.repo.record_recovery(request.feed_id, recovered_notice(self._admin_channel(), request), poll.now)

    def _admin_channel(self) -> str | None:
        name = self.settings.admin_channel
        return name if name and name in self.settings.channels else None


def _human(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"
