"""The token-bucket rate limiter of the web layer (monitor.web.ratelimit)."""

from __future__ import annotations

import pytest

from monitor.web.ratelimit import RateLimiter


def test_a_burst_then_one_per_refill_interval() -> None:
    limiter = RateLimiter(10, 60, burst=10)  # 10 a minute: one token every 6 s
    assert all(limiter.allow("a", 100.0) for _ in range(10))
    assert not limiter.allow("a", 100.0)
    assert limiter.retry_after("a", 100.0) == pytest.approx(6.0)
    assert not limiter.allow("a", 105.9)
    assert limiter.allow("a", 106.0)
    assert not limiter.allow("a", 106.0)
    # A long pause refills up to the burst, no further.
    assert sum(limiter.allow("a", 10_000.0) for _ in range(20)) == 10


def test_keys_are_counted_apart() -> None:
    limiter = RateLimiter(2, 60)
    assert limiter.allow("a", 0) and limiter.allow("a", 0) and not limiter.allow("a", 0)
    assert limiter.allow("b", 0)
    assert limiter.retry_after("b", 0) == 0.0 and limiter.retry_after("never seen", 0) == 0.0


def test_a_clock_going_backwards_refills_nothing() -> None:
    limiter = RateLimiter(1, 60, burst=1)
    assert limiter.allow("a", 1000.0)
    assert not limiter.allow("a", 10.0)
    assert not limiter.allow("a", 1059.0)
    assert limiter.allow("a", 1060.0)


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(1, 60, burst=1, max_keys=100)
    for i in range(1000):
        assert limiter.allow(f"client-{i}", float(i))
        assert len(limiter) <= 100
    # Recent clients are still limited; the oldest were forgotten first.
    assert not limiter.allow("client-999", 999.0)
    assert limiter.allow("client-0", 999.0)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)
    with pytest.raises(ValueError):
        RateLimiter(1, 60, burst=0)
