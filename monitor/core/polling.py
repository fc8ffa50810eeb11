"""When to poll a feed next, and what its health is. Pure: state and `now` in, decisions out.

- A success resets failures. The interval adapts within [min, max]: every
  three polls in a row with nothing new double it (a feed that rarely
  changes is asked less often); a poll where most entries were new halves it
  (a busy feed may be dropping items between polls). Server hints — HTTP
  Cache-Control max-age and Expires, RSS <ttl>, sy:updatePeriod and
  sy:updateFrequency — are a floor: we never ask more often than the
  publisher says the feed changes. A per-feed `interval` in the config is
  used as is.
- A failure backs off exponentially from the base interval (with jitter) up
  to max_interval; a 429/503 Retry-After is obeyed even past that (up to a
  week). 410 Gone disables the feed.
- Health: ok, failing, quiet (answers but nothing new for `quiet_after`),
  disabled, or new (never polled).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from monitor.core.schedule import next_poll

MAX_RETRY_AFTER = 7 * 86400.0
UNCHANGED_PER_DOUBLING = 3
MAX_DOUBLINGS = 8
_SY_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Policy:
    """How often one feed may be polled."""

    interval: float
    min_interval: float
    max_interval: float
    fixed: bool = False  # a per-feed interval from the config: used as is
    jitter: float = 0.1


@dataclass(frozen=True)
class FeedState:
    """What the store knows of a feed before this poll."""

    failures: int = 0
    unchanged_polls: int = 0
    failing_since: datetime | None = None
    polled: bool = False  # False on the first poll, when every entry is "new"


@dataclass(frozen=True)
class Decision:
    """The feed's state after this poll."""

    next_poll_at: datetime
    interval: float
    failures: int
    unchanged_polls: int
    failing_since: datetime | None
    disable_reason: str | None = None


def _clamp(seconds: float, policy: Policy) -> float:
    return min(max(seconds, policy.min_interval), policy.max_interval)


def _jittered(now: datetime, seconds: float, policy: Policy, rng: random.Random) -> datetime:
    return next_poll(now, seconds, policy.jitter, rng)


def after_success(
    policy: Policy,
    state: FeedState,
    now: datetime,
    rng: random.Random,
    *,
    new_entries: int,
    entries: int,
    hint: float | None = None,
) -> Decision:
    """A 200 with a parsed feed (entries seen, of which new) or a 304 (entries=0)."""
    unchanged = 0 if new_entries else state.unchanged_polls + 1
    if policy.fixed:
        interval = policy.interval
    else:
        interval = policy.interval * 2 ** min(unchanged // UNCHANGED_PER_DOUBLING, MAX_DOUBLINGS)
        if state.polled and entries and new_entries * 2 > entries and not state.unchanged_polls and not state.failures:
            interval = policy.interval / 2
        interval = _clamp(max(interval, hint or 0.0), policy)
    return Decision(_jittered(now, interval, policy, rng), interval, 0, unchanged, None)


def after_failure(
    policy: Policy,
    state: FeedState,
    now: datetime,
    rng: random.Random,
    *,
    status: int | None,
    retry_after: float | None = None,
) -> Decision:
    failures = state.failures + 1
    since = state.failing_since or now
    if status == 410:
        gone = "HTTP 410 Gone: the publisher removed this feed"
        return Decision(now, policy.interval, failures, state.unchanged_polls, since, gone)
    base = policy.interval if policy.fixed else _clamp(policy.interval, policy)
    backoff = min(base * 2 ** (failures - 1), max(policy.max_interval, base))
    if retry_after is not None and status in (429, 503):
        backoff = max(backoff, min(retry_after, MAX_RETRY_AFTER))
        # Retry-After is a floor: jitter only upwards.
        when = now + timedelta(seconds=backoff + rng.uniform(0, backoff * policy.jitter))
        return Decision(when, backoff, failures, state.unchanged_polls, since)
    return Decision(_jittered(now, backoff, policy, rng), backoff, failures, state.unchanged_polls, since)


def server_hint(
    headers: Mapping[str, str],
    now: datetime,
    *,
    ttl_minutes: object = None,
    update_period: object = None,
    update_frequency: object = None,
) -> float | None:
    """The longest interval the publisher says is fine, in seconds (None: no hint)."""
    hints: list[float] = []
    lower = {k.lower(): v for k, v in headers.items()}
    m = _MAX_AGE.search(lower.get("cache-control", ""))
    if m:
        hints.append(float(m.group(1)))
    elif lower.get("expires"):
        try:
            expires = parsedate_to_datetime(lower["expires"])
            hints.append((expires - now).total_seconds())
        except (TypeError, ValueError):
            pass
    try:
        if ttl_minutes is not None and str(ttl_minutes).strip():
            hints.append(float(str(ttl_minutes).strip()) * 60)
    except ValueError:
        pass
    period = _SY_PERIOD.get(str(update_period or "").strip().lower())
    if period:
        try:
            frequency = max(int(str(update_frequency or "1").strip()), 1)
        except ValueError:
            frequency = 1
        hints.append(period / frequency)
    hints = [h for h in hints if h > 0]
    return max(hints) if hints else None


def feed_health(
    *,
    disabled_reason: str | None,
    polled: bool,
    failures: int,
    last_error: str | None,
    last_new_article_at: datetime | None,
    first_seen: datetime,
    now: datetime,
    quiet_after: float,
) -> tuple[str, str]:
    """(state, reason): disabled, new, failing, quiet or ok."""
    if disabled_reason:
        return "disabled", disabled_reason
    if not polled:
        return "new", "not polled yet"
    if failures:
        return "failing", f"{last_error or 'failed'} ({failures} in a row)"
    since = last_new_article_at or first_seen
    idle = (now - since).total_seconds()
    if idle > quiet_after:
        days = idle / 86400
        return "quiet", f"nothing new for {days:.0f} days" if days >= 1 else f"nothing new for {idle / 3600:.0f} hours"
    return "ok", ""
