"""Timing decisions: when a feed is next polled, when a failed send is retried.

Pure functions with `now` and the random source passed in.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger


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


def last_fire(schedule: str, timezone: str, after: datetime, now: datetime, limit: int = 100_000) -> datetime | None:
    """The latest time a cron `schedule` (in `timezone`) fired in (after, now], or None.

    This is how a digest whose time came while the daemon was stopped is
    found on start, and how a scheduled run knows which window it closes.
    """
    trigger = cron_trigger(schedule, timezone)
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    latest = None
    for _ in range(limit):
        if fire is None or fire > now:
            break
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest.astimezone(UTC) if latest is not None else None


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(schedule: str, timezone: str = "UTC") -> CronTrigger:
    """An APScheduler trigger for a crontab expression, with crontab's meaning.

    Five fields (minute hour day month weekday) as in crontab, or six with a
    leading seconds field. Weekday numbers follow crontab (0 or 7 = Sunday,
    1 = Monday): APScheduler 3 reads 0 as Monday, so numbers are turned into
    day names before they reach it. Raises ValueError for a bad expression.
    """
    fields = schedule.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    second = fields[0] if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields[-5:]
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday),
        timezone=ZoneInfo(timezone),
    )


def _crontab_weekdays(field: str) -> str:
    """Crontab weekday numbers → day names ("1-5" → "mon,tue,wed,thu,fri")."""
    if field in ("*", "?") or not any(ch.isdigit() for ch in field):
        return field
    days: list[int] = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            lo_text, hi_text = span.split("-", 1)
            lo, hi = _day_number(lo_text), _day_number(hi_text)
            if hi == 0:
                hi = 7  # "5-7"/"5-0": Friday to Sunday
        else:
            lo = hi = _day_number(span)
        if lo > hi or step < 1:
            raise ValueError(f"bad weekday range {part!r}")
        days.extend(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(set(days)))


def _day_number(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text.lower()[:3] in _DAY_NAMES:
        return _DAY_NAMES.index(text.lower()[:3])
    raise ValueError(f"{text!r} is not a weekday (0-7 or sun-sat)")
