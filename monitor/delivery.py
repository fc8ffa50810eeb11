"""The dispatcher: turns outbox rows into sent alerts, digests and summaries.

Owns delivery policy: which channel gets a hit and how (instant, digest,
minimum score), storm control (at most `max_per_hour` single alerts per
channel, the overflow summarised), opening digest windows on schedule and
after a stop, sending to every URL of a channel once (a retry skips URLs that
already accepted), retries with backoff, and giving up after max_attempts.
Channels are dispatched in parallel, each in order, so one slow provider
does not hold up the others.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import ChannelConfig, Settings, template_path
from monitor.core.schedule import last_fire, retry_at
from monitor.metrics import METRICS
from monitor.models import DeliveryJob, HitRecord, MessageJob, NoticeJob
from monitor.notify.redact import privacy_url
from monitor.notify.render import (
    Message,
    medium_for,
    render_alert,
    render_digest,
    render_notice,
    render_summary,
)
from monitor.notify.sender import Notifier, limits_for
from monitor.notify.spikes import render_spike
from monitor.store.engine import unreachable
from monitor.store.outbox import Outbox
from monitor.store.schema import DeliveryStatus
from monitor.store.trends import TrendStore

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
MAX_PARALLEL_CHANNELS = 4
# Recording a send's outcome while the database is away (a restart, a
# failover) is tried again, waiting this long at first, doubling up to the
# ceiling, for at most half of delivery.claim_timeout.
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_MAX = 10.0


def target_id(url: str) -> str:
    """A stable fingerprint of a channel URL, safe to store (no secret in it)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass
class DispatchSummary:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    held: int = 0
    messages: int = 0

    def add(self, other: DispatchSummary) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.gave_up += other.gave_up
        self.held += other.held
        self.messages += other.messages


@dataclass(frozen=True)
class SendOutcome:
    done: frozenset[str]
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


class Dispatcher:
    """Sends what the outbox holds.

    One `dispatch` at a time in a process: `Service.dispatch` holds the one
    dispatch lock, which also covers swapping in a new Dispatcher on a
    reload (a lock of the Dispatcher's own would not). Between processes,
    the outbox's claims keep a row from being sent twice.
    """

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        notifier: Notifier,
        clock: Callable[[], datetime],
        rng: random.Random,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.notifier = notifier
        self.clock = clock
        self.rng = rng
        self.stop = stop
        self._templates = {
            name: template_path(settings, ch.template) for name, ch in settings.channels.items() if ch.template
        }
        self.spikes = TrendStore(outbox.engine)  # spike alerts' outbox (monitor.spikes)

    def dispatch(self) -> DispatchSummary:
        """Open due digests and summaries, then send everything due, channel by channel."""
        total = DispatchSummary()
        names = list(self.settings.channels)
        if len(names) <= 1:
            results = [self._dispatch_channel(name) for name in names]
        else:
            workers = min(MAX_PARALLEL_CHANNELS, len(names))
            with ThreadPoolExecutor(workers, thread_name_prefix="dispatch") as pool:
                results = list(pool.map(self._dispatch_channel, names))
        for result in results:
            total.add(result)
        if total.sent or total.failed or total.held or total.messages:
            log.info(
                "dispatch: sent=%d failed=%d gave_up=%d held=%d digests_or_summaries=%d",
                total.sent,
                total.failed,
                total.gave_up,
                total.held,
                total.messages,
            )
        return total

    # --- one channel -----------------------------------------------------------

    def _dispatch_channel(self, name: str) -> DispatchSummary:
        summary = DispatchSummary()
        channel = self.settings.channels[name]
        try:
            self._open_due_messages(name, channel)
            while not self.stop.is_set():
                notices = self.outbox.claim_notices(name, self.clock(), self.settings.delivery.claim_timeout)
                if not notices:
                    break
                for notice in notices:
                    self._send_notice(name, channel, notice, summary)
            self._send_spikes(name, channel, summary)
            while not self.stop.is_set():
                messages = self.outbox.claim_messages(name, self.clock(), self.settings.delivery.claim_timeout)
                if not messages:
                    break
                for message in messages:
                    self._send_message(name, channel, message, summary)
            while not self.stop.is_set():
                jobs = self.outbox.claim_deliveries(name, self.clock(), self.settings.delivery.claim_timeout)
                if not jobs:
                    break
                self._send_deliveries(name, channel, jobs, summary)
        except Exception:
            log.exception("channel=%r dispatch failed; will try again", name)
        return summary

    def _open_due_messages(self, name: str, channel: ChannelConfig) -> None:
        now = self.clock()
        if channel.mode == "digest" and channel.schedule:
            oldest = self.outbox.oldest_waiting(name, DeliveryStatus.QUEUED)
            if oldest is not None:
                after = max(oldest, self.outbox.last_window_end(name, "digest") or oldest)
                window_end = last_fire(channel.schedule, channel.timezone, after - timedelta(microseconds=1), now)
                if window_end is not None and self.outbox.open_message(name, "digest", window_end, now):
                    log.info("channel=%r digest window ending %s opened", name, window_end.isoformat())
        if channel.max_per_hour is not None:
            oldest = self.outbox.oldest_waiting(name, DeliveryStatus.HELD)
            delay = timedelta(seconds=self.settings.delivery.summary_delay)
            if oldest is not None and oldest <= now - delay:
                self.outbox.open_message(name, "summary", now, now)

    def _send_deliveries(
        self, name: str, channel: ChannelConfig, jobs: Sequence[DeliveryJob], summary: DispatchSummary
    ) -> None:
        budget = None
        if channel.max_per_hour is not None:
            since = self.clock() - HOUR
            budget = channel.max_per_hour - self.outbox.sent_since(name, since) - self.spikes.sent_since(name, since)
        held: list[int] = []
        for index, job in enumerate(jobs):
            if self.stop.is_set():
                # Shutting down: hand the rest back untouched, no attempt counted.
                self.outbox.release([j.id for j in jobs[index:]])
                break
            if budget is not None and budget <= 0:
                held.append(job.id)
                continue
            hit = job.hit

            def render(url: str, hit: HitRecord = hit, escalation: bool = job.kind == "escalation") -> Message:
                return render_alert(
                    hit,
                    medium_for(url),
                    tz=channel.timezone,
                    template=self._templates.get(name),
                    limits=limits_for(url),
                    channel=name,
                    escalation=escalation,
                )

            outcome = self._send(channel, job.done_targets, render)
            if outcome.ok:
                self._record(f"channel={name!r} alert {job.id}", self.outbox.mark_sent, job.id, self.clock())
                summary.sent += 1
                METRICS.delivery(name, "sent")
                if budget is not None:
                    budget -= 1
                log.info("channel=%r watchlist=%r alert sent: %s", name, job.hit.watchlist, job.hit.title)
            else:
                self._record_failure(name, job.id, job.attempts, outcome, summary, kind="alert")
        if held:
            self.outbox.hold(held)
            summary.held += len(held)
            log.info("channel=%r over %d alerts/hour: %d held for a summary", name, channel.max_per_hour, len(held))

    def _send_message(self, name: str, channel: ChannelConfig, job: MessageJob, summary: DispatchSummary) -> None:
        render = render_digest if job.kind == "digest" else render_summary
        tz = channel.timezone
        template = self._templates.get(name)
        outcome = self._send(
            channel,
            job.done_targets,
            lambda url: render(
                name,
                job.hits,
                job.window_start,
                job.window_end,
                medium_for(url),
                tz=tz,
                template=template,
                limits=limits_for(url),
            ),
        )
        if outcome.ok:
            self._record(f"channel={name!r} {job.kind} {job.id}", self.outbox.mark_message_sent, job.id, self.clock())
            summary.messages += 1
            METRICS.delivery(name, "sent")
            log.info("channel=%r %s sent with %d hits", name, job.kind, len(job.hits))
        else:
            self._record_failure(name, job.id, job.attempts, outcome, summary, kind="digest/summary")

    def _send_notice(self, name: str, channel: ChannelConfig, job: NoticeJob, summary: DispatchSummary) -> None:
        outcome = self._send(
            channel, job.done_targets, lambda url: render_notice(job.subject, job.body, medium_for(url))
        )
        if outcome.ok:
            self._record(f"channel={name!r} notice {job.id}", self.outbox.mark_notice_sent, job.id, self.clock())
            summary.messages += 1
            METRICS.delivery(name, "sent")
            log.info("channel=%r notice sent: %s", name, job.subject)
        else:
            self._record_failure(name, job.id, job.attempts, outcome, summary, kind="notice")

    def _send_spikes(self, name: str, channel: ChannelConfig, summary: DispatchSummary) -> None:
        """Due spike alerts of the channel. Storm control: they count against
        `max_per_hour` with its single alerts, and wait (`summary_delay`) while
        the hour is full; a digest channel's were queued due at its next digest."""
        while not self.stop.is_set():
            now = self.clock()
            jobs = self.spikes.claim(name, now, self.settings.delivery.claim_timeout)
            if not jobs:
                return
            room = len(jobs)
            if channel.max_per_hour is not None:
                sent = self.outbox.sent_since(name, now - HOUR) + self.spikes.sent_since(name, now - HOUR)
                room = max(channel.max_per_hour - sent, 0)
            wait = [job.id for job in jobs[room:]]
            if wait:
                self.spikes.defer(wait, now + timedelta(seconds=self.settings.delivery.summary_delay))
                log.info("channel=%r over %d alerts/hour: %d spike alerts wait", name, channel.max_per_hour, len(wait))
            for index, job in enumerate(jobs[:room]):
                if self.stop.is_set():
                    self.spikes.defer([j.id for j in jobs[index:room]], now)
                    return
                outcome = self._send(
                    channel,
                    job.done_targets,
                    lambda url, job=job: render_spike(  # type: ignore[misc]
                        job, medium_for(url), tz=channel.timezone, limits=limits_for(url), channel=name
                    ),
                )
                if outcome.ok:
                    self._record(f"channel={name!r} spike {job.id}", self.spikes.mark_sent, job.id, self.clock())
                    summary.sent += 1
                    METRICS.delivery(name, "sent")
                    log.info("channel=%r spike alert sent: %s %r level %d", name, job.kind, job.series, job.level)
                else:
                    self._record_failure(name, job.id, job.attempts, outcome, summary, kind="spike")
            if wait:
                return

    def _send(self, channel: ChannelConfig, done: frozenset[str], render: Callable[[str], Message]) -> SendOutcome:
        """Send to each URL of the channel that has not accepted it yet."""
        accepted = set(done)
        reasons = []
        for url in channel.urls:
            key = target_id(url)
            if key in accepted:
                continue
            result = self.notifier.send(url, render(url))
            if result.ok:
                accepted.add(key)
            else:
                reasons.append(f"{privacy_url(url)}: {result.reason}")
        return SendOutcome(frozenset(accepted), tuple(reasons))

    def _record(self, what: str, write: Callable[..., None], *args: object) -> None:
        """Record a send's outcome, waiting out a database that is away.

        The message has gone out (or failed) already: if the outcome is not
        recorded, the row stays claimed and is sent again after
        `delivery.claim_timeout`, and the rest of this claimed batch waits as
        long. So a lost connection is tried again, backing off, for up to
        half of the claim timeout (less on a stop, which gives up at once);
        any other error, or the database still away then, is raised.
        """
        delay = RECORD_RETRY_FIRST
        give_up = time.monotonic() + self.settings.delivery.claim_timeout / 2
        failing = False
        while True:
            try:
                write(*args)
            except Exception as exc:
                if not unreachable(exc) or self.stop.is_set() or time.monotonic() + delay > give_up:
                    raise
                if not failing:
                    log.warning(
                        "%s: the database does not answer (%s); recording the send's outcome as soon as it does",
                        what,
                        (str(exc).splitlines() or [type(exc).__name__])[0][:300],
                    )
                failing = True
                if self.stop.wait(delay):
                    raise
                delay = min(delay * 2, RECORD_RETRY_MAX)
                continue
            if failing:
                log.info("%s: recorded; the database answers again", what)
            return

    def _record_failure(
        self, name: str, row_id: int, attempts: int, outcome: SendOutcome, summary: DispatchSummary, *, kind: str
    ) -> None:
        delivery = self.settings.delivery
        now = self.clock()
        again = retry_at(now, attempts, delivery.max_attempts, delivery.retry_delay, delivery.max_retry_delay, self.rng)
        reason = "; ".join(outcome.reasons)
        mark = {
            "alert": self.outbox.mark_failed,
            "digest/summary": self.outbox.mark_message_failed,
            "notice": self.outbox.mark_notice_failed,
            "spike": self.spikes.mark_failed,
        }[kind]
        self._record(f"channel={name!r} {kind} {row_id}", mark, row_id, reason, again, outcome.done)
        summary.failed += 1
        METRICS.delivery(name, "failed")
        what = kind
        if again is None:
            summary.gave_up += 1
            METRICS.delivery(name, "gave_up")
            log.error("channel=%r %s failed for good after %d attempts: %s", name, what, attempts, reason)
        else:
            log.warning(
                "channel=%r %s failed (attempt %d of %d), retry at %s: %s",
                name,
                what,
                attempts,
                delivery.max_attempts,
                again.astimezone(ZoneInfo("UTC")).strftime("%H:%M:%S"),
                reason,
            )
