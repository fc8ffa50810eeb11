"""Timing decisions: jittered poll times, retry backoff, cron with crontab's weekdays."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.core.schedule import cron_trigger, last_fire, next_poll, retry_at

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # a Sunday


def test_next_poll_stays_within_the_jitter() -> None:
    rng = random.Random(1)
    times = [next_poll(NOW, 900, 0.1, rng) for _ in range(200)]
    assert all(NOW + timedelta(seconds=810) <= t <= NOW + timedelta(seconds=990) for t in times)
    assert len({t for t in times}) > 100  # spread, not all the same


def test_retry_backoff_doubles_and_gives_up() -> None:
    rng = random.Random(2)
    delays = [(retry_at(NOW, n, 6, 60, 3600, rng) - NOW).total_seconds() for n in range(1, 6)]
    for n, delay in enumerate(delays, 1):
        full = min(60 * 2 ** (n - 1), 3600)
        assert full / 2 <= delay <= full
    assert retry_at(NOW, 6, 6, 60, 3600, rng) is None


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [("1-5", {0, 1, 2, 3, 4}), ("0", {6}), ("7", {6}), ("6,0", {5, 6}), ("5-7", {4, 5, 6}), ("*/2", {6, 1, 3, 5})],
)
def test_weekdays_follow_crontab(weekday: str, expected: set[int]) -> None:
    trigger = cron_trigger(f"0 7 * * {weekday}", "UTC")
    fires, t = [], NOW
    for _ in range(7):
        t = trigger.get_next_fire_time(None, t + timedelta(seconds=1))
        fires.append(t.weekday())  # Python: Monday = 0
    assert set(fires) == expected


def test_six_fields_have_seconds() -> None:
    trigger = cron_trigger("*/10 * * * * *", "UTC")
    assert trigger.get_next_fire_time(None, NOW + timedelta(seconds=1)) == NOW + timedelta(seconds=10)


@pytest.mark.parametrize("bad", ["0 7 * *", "0 77 * * *", "0 7 * * 8", "0 7 * * 5-2"])
def test_bad_schedules(bad: str) -> None:
    with pytest.raises(ValueError):
        cron_trigger(bad, "UTC")


def test_last_fire_in_the_channel_time_zone() -> None:
    mx = ZoneInfo("America/Mexico_City")
    after = datetime(2026, 11, 29, 12, 0, tzinfo=mx)
    assert last_fire("0 7,13,19 * * *", "America/Mexico_City", after, after + timedelta(minutes=59)) is None
    fired = last_fire("0 7,13,19 * * *", "America/Mexico_City", after, after + timedelta(hours=2))
    assert fired == datetime(2026, 11, 29, 13, 0, tzinfo=mx)
    later = last_fire("0 7,13,19 * * *", "America/Mexico_City", after, after + timedelta(days=1))
    assert later == datetime(2026, 11, 30, 7, 0, tzinfo=mx)
