"""A token-bucket rate limit per key (usually a client address), in memory.

Reusable by any handler that must bound how often one client may do
something costly: the dashboard's "try it" uses it (`TRY_RATE` tries per
minute per client address), and a sign-in throttle or any other route can
build its own `RateLimiter` the same way. Each key has a bucket holding up
to `burst` tokens, refilled at `rate` tokens per `per_seconds`; an action
takes one token, and a key with no token left is refused until one has
grown back (`retry_after` says when).

Memory is bounded: at most `max_keys` buckets are kept. Full buckets carry
no information and are dropped first; if that is not enough, the buckets
touched longest ago go. Dropping a bucket can only make the limit more
lenient for that key, never stricter. Time is given by the caller (`now`,
seconds on any monotonic clock), so the limiter is a pure, testable value;
it is safe to share between threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float  # when `tokens` was last brought up to date


class RateLimiter:
    """At most `burst` actions at once, refilled at `rate` per `per_seconds`, per key."""

    def __init__(self, rate: float, per_seconds: float, burst: int | None = None, *, max_keys: int = 10_000) -> None:
        if rate <= 0 or per_seconds <= 0:
            raise ValueError("rate and per_seconds must be positive")
        self.refill = rate / per_seconds  # tokens per second
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        """Take a token for `key` at time `now`; False (nothing taken) when it has none."""
        with self._lock:
            bucket = self._current(key, now)
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until `key` will have a token again (0 if it has one now)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.refill)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.refill

    def __len__(self) -> int:
        return len(self._buckets)

    def _current(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            # A clock that went backwards refills nothing (and takes nothing back).
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.refill)
            bucket.at = max(bucket.at, now)
        return bucket

    def _evict(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.refill >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            # Still full: the buckets touched longest ago (a tenth, to amortise the sort).
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].at)
            for key in oldest[: max(1, self.max_keys // 10)]:
                del self._buckets[key]
