"""Spike detection, pure: the baseline of a story-count series, the surge
test, and the one-alert-per-surge state machine.

A series is one watchlist's (or one entity's) count of distinct stories per
UTC hour. Whether the last `window` hours are a surge is asked of a
baseline that knows the news rhythm:

* **Seasonal rate.** Each hour of the history (`HISTORY_DAYS`, the window
  itself left out) falls in one of 48 slots: weekday or weekend × hour of
  day. A slot's rate is its mean count shrunk toward the series' overall
  hourly mean by `PRIOR_HOURS` pseudo-hours (empirical Bayes), so a slot
  seen on eight weekend days does not swing on one busy Sunday. The
  seasonal expectation for the window is the sum of its hours' slot rates.
* **Recent level.** The mean hourly count of the last `RECENT_HOURS`
  before the window, times the window's length: coverage that rose slowly
  over a week raises the level with it, so a slow rise is no surge.
* **Floor.** At least `FLOOR_PER_DAY` stories a day (per hour: /24), for
  sparse series whose history is mostly zeros.

The expectation is the largest of the three (each is non-decreasing in
every history count, so the baseline is monotone in counts). The surge
test is the tail probability P(X ≥ observed) under a negative binomial
with that mean and shape `DISPERSION` (variance μ + μ²/r): a spike when it
is below 10^-sensitivity and at least `min_stories` stories were counted.
Why not Poisson: news has busy and slow days, so a busy series' windows
vary far more than Poisson allows, and a Poisson test reads an ordinary
busy morning as a surge (bench/spikes.py: 6.4 false alarms per series per
90 days on timelines with ±50 % day-to-day variation; this test: 0.07). The
shape is fixed rather than estimated per series: sparse series (most of
them) cannot support an estimate, and for them (small μ) the test is
nearly Poisson anyway. The tail is computed here in log space (a series
from the pmf at the observed count, log-gamma from `math`), not with
scipy, which is not a dependency.

One alert per surge (`step`): a surge opens with an alert when the test
fires and no surge is open; while open, its expectation is frozen at the
value it opened with (a baseline that learns from the surge would end it
early and alert again), a follow-up is due once the surge's distinct
stories since its start reach `growth` times those of its last alert, and
it ends when the window's count is no longer remarkable against the frozen
expectation (tail above 10^-(sensitivity/2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DISPERSION",
    "FLOOR_PER_DAY",
    "HISTORY_DAYS",
    "PRIOR_HOURS",
    "RECENT_HOURS",
    "Baseline",
    "Observation",
    "SpikeEvent",
    "SpikeJob",
    "SpikeRule",
    "SurgeState",
    "baseline",
    "epoch_hour",
    "hour_start",
    "poisson_tail_log10",
    "slots",
    "step",
    "tail_log10",
]

HISTORY_DAYS = 28
RECENT_HOURS = 24
PRIOR_HOURS = 4.0
FLOOR_PER_DAY = 0.5
# Shape r of the negative binomial: variance μ + μ²/r, i.e. busy and slow news
# days (a day-to-day coefficient of variation of 1/sqrt(r) = 0.5) on top of
# Poisson noise; sparse series (small μ) are judged almost as Poisson.
DISPERSION = 4.0
SLOTS = 48
# 1970-01-01 was a Thursday (weekday 3).
_EPOCH_WEEKDAY = 3

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def epoch_hour(when: datetime) -> int:
    """Hours since the epoch of the UTC hour `when` falls in."""
    return math.floor(when.timestamp() / 3600)


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def slots(hours: Ints) -> Ints:
    """Each epoch hour's slot: hour of day, +24 on Saturdays and Sundays (UTC)."""
    weekday = (hours // 24 + _EPOCH_WEEKDAY) % 7
    return np.asarray((hours % 24) + 24 * (weekday >= 5), dtype=np.int64)


@dataclass(frozen=True)
class Baseline:
    """Per series: the stories expected in the window, and the usual number a
    day (its mean over the history, without the floor)."""

    expected: Floats
    per_day: Floats


def baseline(
    history: npt.ArrayLike,
    first_hour: int,
    window: int,
    *,
    start: npt.ArrayLike | None = None,
    floor_per_day: float = FLOOR_PER_DAY,
) -> Baseline:
    """The baseline of each row of `history` (series × hours, counts of the
    epoch hours first_hour, first_hour+1, …) for the `window` hours that
    follow it. `start`: per row, the first column that counts (a series
    younger than the history is not averaged over hours before it began)."""
    counts = np.asarray(history, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("history is series × hours")
    n_series, n_hours = counts.shape
    floor_hour = floor_per_day / 24.0
    window_slots = slots(np.arange(first_hour + n_hours, first_hour + n_hours + window, dtype=np.int64))
    if n_hours == 0:
        return Baseline(np.full(n_series, floor_hour * window), np.zeros(n_series))
    history_slots = slots(np.arange(first_hour, first_hour + n_hours, dtype=np.int64))
    onehot = np.zeros((n_hours, SLOTS))
    onehot[np.arange(n_hours), history_slots] = 1.0
    slot_sums = counts @ onehot  # series × 48
    if start is None:
        slot_hours = np.broadcast_to(onehot.sum(axis=0), (n_series, SLOTS))
        valid = np.full(n_series, float(n_hours))
    else:
        first = np.clip(np.asarray(start, dtype=np.int64), 0, n_hours - 1)
        # Hours of each slot from column `first` on: all of them minus those before it.
        before = np.vstack([np.zeros((1, SLOTS)), np.cumsum(onehot, axis=0)])[first]
        slot_hours = onehot.sum(axis=0)[None, :] - before
        valid = (n_hours - first).astype(np.float64)
    mean = counts.sum(axis=1) / valid
    rates = (slot_sums + PRIOR_HOURS * mean[:, None]) / (slot_hours + PRIOR_HOURS)
    seasonal = rates[:, window_slots].sum(axis=1)
    recent_hours = min(RECENT_HOURS, n_hours)
    recent = counts[:, n_hours - recent_hours :].sum(axis=1) / recent_hours * window
    expected = np.maximum(np.maximum(seasonal, recent), floor_hour * window)
    return Baseline(expected, mean * 24.0)


_TERMS = 100


def poisson_tail_log10(observed: npt.ArrayLike, expected: npt.ArrayLike) -> Floats:
    """log10 P(X ≥ observed) for X ~ Poisson(expected), elementwise (≤ 0).

    0 (probability 1) when observed ≤ expected: never a surge. Otherwise the
    pmf at `observed` (log space, exact log-factorials) times the sum of the
    following terms, whose ratios μ/(k+i) are below 1; the rest after
    `_TERMS` terms is bounded by a geometric series.
    """
    k = np.asarray(observed, dtype=np.float64)
    mu = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    k, mu = np.broadcast_arrays(k, mu)
    out = np.zeros(k.shape)
    above = k > mu
    if not above.any():
        return out
    ka, ma = k[above], mu[above]
    kmax = int(ka.max())
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, kmax + 1, dtype=np.float64)))))
    log_pmf = ka * np.log(ma) - ma - log_fact[ka.astype(np.int64)]
    term = np.ones_like(ka)
    total = np.ones_like(ka)
    for i in range(1, _TERMS + 1):
        term = term * ma / (ka + i)
        total += term
    ratio = ma / (ka + _TERMS + 1)
    total += term * ratio / (1.0 - ratio)
    out[above] = np.minimum((log_pmf + np.log(total)) / math.log(10), 0.0)
    return out


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def tail_log10(observed: npt.ArrayLike, expected: npt.ArrayLike, shape: float | None = None) -> Floats:
    """log10 P(X ≥ observed) for X negative binomial with mean `expected` and
    `shape` r (variance μ + μ²/r), elementwise (≤ 0): the surge test.

    0 when observed ≤ expected. Otherwise the pmf at `observed` (log space)
    times the sum of the following terms, whose ratios q(i+r)/(i+1) fall
    toward q = μ/(μ+r) < 1; the rest after `_TERMS` terms is bounded by a
    geometric series at the last ratio (an over-estimate: conservative).
    """
    k = np.asarray(observed, dtype=np.float64)
    mu = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    k, mu = np.broadcast_arrays(k, mu)
    out = np.zeros(k.shape)
    above = k > mu
    if not above.any():
        return out
    ka, ma = k[above], mu[above]
    r = float(DISPERSION if shape is None else shape)
    q = ma / (ma + r)
    log_pmf = (
        np.asarray(_lgamma(ka + r), dtype=np.float64)
        - math.lgamma(r)
        - np.asarray(_lgamma(ka + 1.0), dtype=np.float64)
        + r * np.log(r / (ma + r))
        + ka * np.log(q)
    )
    term = np.ones_like(ka)
    total = np.ones_like(ka)
    for i in range(_TERMS):
        term = term * q * (ka + i + r) / (ka + i + 1)
        total += term
    ratio = np.minimum(q * (ka + _TERMS + r) / (ka + _TERMS + 1), 0.999999)
    total += term * ratio / (1.0 - ratio)
    out[above] = np.minimum((log_pmf + np.log(total)) / math.log(10), 0.0)
    return out


@dataclass(frozen=True)
class SpikeRule:
    """The settings one series is judged by (from `config.spikes.SpikeSettings`)."""

    window: int  # hours
    min_stories: int
    sensitivity: float
    growth: float


@dataclass(frozen=True)
class SurgeState:
    """A series' open surge: when it started (its key), the expectation frozen
    when it opened, and its last alert (level 0 the first, 1.. follow-ups)."""

    start: datetime
    expected: float
    per_day: float
    stories: int
    level: int
    alerted_at: datetime


@dataclass(frozen=True)
class Observation:
    """What an evaluation saw for one series at `now`.

    `stories`: distinct stories in the window, `score`: -log10 of their
    tail probability under `expected`; `surge_stories`: distinct stories
    since the open surge's start (the caller counts them; = `stories` when
    none is open).
    """

    now: datetime
    window_start: datetime
    stories: int
    expected: float
    per_day: float
    score: float
    surge_stories: int


@dataclass(frozen=True)
class SpikeEvent:
    """An alert to send: a surge's first (level 0) or a follow-up."""

    start: datetime
    level: int
    stories: int
    expected: float
    per_day: float
    score: float
    window_start: datetime
    window_end: datetime


def _score(stories: int, expected: float) -> float:
    return float(-tail_log10(np.array([stories]), np.array([expected]))[0])


def step(state: SurgeState | None, seen: Observation, rule: SpikeRule) -> tuple[SurgeState | None, SpikeEvent | None]:
    """The series' next state and the alert to send now, if any."""
    if state is None:
        if seen.stories >= rule.min_stories and seen.score >= rule.sensitivity:
            opened = SurgeState(seen.window_start, seen.expected, seen.per_day, seen.stories, 0, seen.now)
            event = SpikeEvent(
                seen.window_start,
                0,
                seen.stories,
                seen.expected,
                seen.per_day,
                seen.score,
                seen.window_start,
                seen.now,
            )
            return opened, event
        return None, None
    if _score(seen.stories, state.expected) < rule.sensitivity / 2:
        return None, None  # back to normal against the baseline it opened with
    if seen.surge_stories >= math.ceil(state.stories * rule.growth):
        grown = replace(state, stories=seen.surge_stories, level=state.level + 1, alerted_at=seen.now)
        event = SpikeEvent(
            state.start,
            grown.level,
            seen.surge_stories,
            state.expected,
            state.per_day,
            _score(seen.stories, state.expected),
            state.start,
            seen.now,
        )
        return grown, event
    return state, None


def window_start(now: datetime, window: int) -> datetime:
    """The first hour of the `window` hours ending with the hour `now` is in."""
    return hour_start(epoch_hour(now) - window + 1)


def hours_between(start: datetime, end: datetime) -> float:
    return (end - start) / timedelta(hours=1)


@dataclass(frozen=True)
class SpikeJob:
    """A claimed spike alert: everything needed to render and send it."""

    id: int
    channel: str
    attempts: int
    kind: str
    series: str
    level: int
    surge_start: datetime
    window_start: datetime
    window_end: datetime
    stories: int
    outlets: int
    per_day: float
    detail: dict[str, Any]
    done_targets: frozenset[str] = frozenset()
