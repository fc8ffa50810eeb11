"""Timing decisions: when a feed is next polled, when a failed send is retried.

Pure functions with `now` and the random source passed in.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def next_poll(now: datetime, interval: float, jitter: float, rng: random.Random) -> datetime:
    """`now` plus the interval, spread by ±`jitter` (a fraction) so feeds don't fire together."""
    spread = interval * jitter
    return now + timedelta(seconds=max(interval + rng.uniform(-spread, spread), 1.0))


def retry_at(
    now: datetime,
    attempts: int,
    max_attempts: int,
    base: float,
    ceiling: float,
    rng: random.Random,
) -> datetime | None:
    """When to retry a send that failed on attempt number `attempts` (1-based).

    Exponential backoff with full jitter on the upper half; None when the
    attempts are used up.
    """
    if attempts >= max_attempts:
        return None
    delay = min(base * (2 ** (attempts - 1)), ceiling)
    return now + timedelta(seconds=rng.uniform(delay / 2, delay))
