"""The spike job: count new hits per hour, judge every series against its
baseline, open and follow surges, and queue one alert per surge.

Which series: every watchlist whose spike settings are enabled (`spikes:`
with its own `spike:` on top), and every entity so enabled (`spikes.entities`
or its own `spike.enabled`); an entity is counted through the watchlists
that match it. Where alerts go: `spike.channels`, else the watchlist's
channels (an entity: the channels of the watchlists naming it).

When: hourly (the scheduler; surges also end on the hour) and after every
poll cycle that stored hits, so a surge is told within a poll of its
story that tipped it. Each run is `run`: under `JobStore.once("spikes")`,
so with several daemons on one PostgreSQL database one of them runs it at
a time and the others skip (their hits are counted by the next run: the
counts read from a mark with an overlap). What it writes is idempotent
anyway: counts are recomputed from unique events, and an alert is unique
per channel, series, surge start and level, so a job run twice (a crash
between queueing and recording the surge, two daemons) queues it once;
a restart mid-surge finds the surge open in `spike_state` and does not
alert again.

`backtest` runs the same judgement hour by hour over stored counts with
the current settings, in memory, sending nothing (`monitor trends --replay`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt

from monitor.config import Settings
from monitor.config.spikes import SpikeOverride, SpikeSettings
from monitor.core.schedule import cron_trigger
from monitor.core.spikes import (
    HISTORY_DAYS,
    Observation,
    SpikeEvent,
    SpikeRule,
    SurgeState,
    baseline,
    epoch_hour,
    hour_start,
    step,
    tail_log10,
)
from monitor.store.jobs import JobStore
from monitor.store.trends import SeriesKey, TrendStore

log = logging.getLogger(__name__)

__all__ = ["SeriesSpec", "SpikeRun", "Verdict", "backtest", "entity_names", "run", "series_specs"]

HISTORY_HOURS = HISTORY_DAYS * 24
JOB = "spikes"
# Every series is judged at least this often (surges end, the hour moves on);
# a run after a poll cycle in between judges the series its hits touched.
FULL_EVERY = timedelta(minutes=50)
JUDGED = "judged"


@dataclass(frozen=True)
class SeriesSpec:
    """One series to judge: its key, its settings in force, where alerts go."""

    key: SeriesKey
    settings: SpikeSettings
    channels: tuple[str, ...]

    @property
    def rule(self) -> SpikeRule:
        s = self.settings
        return SpikeRule(int(s.window // 3600), s.min_stories, s.sensitivity, s.growth)


def entity_names(settings: Settings) -> dict[str, str]:
    """Entity names by their lower-case form (how a hit's `@name` term is looked up)."""
    return {name.lower(): name for name in settings.entities}


def series_specs(settings: Settings, *, enabled_only: bool = True) -> list[SeriesSpec]:
    """The watchlists' and entities' series with their settings in force."""
    specs = []
    entity_channels: dict[str, list[str]] = {name: [] for name in settings.entities}
    lowered = entity_names(settings)
    for w in settings.watchlists:
        named = set(w.entities)
        for token in (w.query or "").replace("(", " ").replace(")", " ").split():
            bare = token.rsplit(":", 1)[-1]
            if bare.startswith("@") and bare[1:].lower() in lowered:
                named.add(lowered[bare[1:].lower()])
        for name in named:
            entity_channels.setdefault(name, []).extend(c for c in w.channels if c not in entity_channels[name])
        s = (w.spike or SpikeOverride()).over(settings.spikes)
        if s.enabled or not enabled_only:
            specs.append(SeriesSpec(("watchlist", w.name), s, tuple(s.channels or w.channels)))
    for name, entity in settings.entities.items():
        s = (entity.spike or SpikeOverride()).over(settings.spikes, entity=True)
        if s.enabled or not enabled_only:
            specs.append(SeriesSpec(("entity", name), s, tuple(s.channels or entity_channels.get(name, ()))))
    return specs


@dataclass(frozen=True)
class Verdict:
    """One series judged at one hour: its window count, baseline and score."""

    key: SeriesKey
    stories: int
    expected: float
    per_day: float
    score: float
    learning: bool


@dataclass
class SpikeRun:
    """What one run did."""

    counted: int = 0
    series: int = 0
    opened: int = 0
    followups: int = 0
    ended: int = 0
    queued: int = 0
    events: list[tuple[SeriesKey, SpikeEvent]] = field(default_factory=list)


def judge(
    specs: Sequence[SeriesSpec],
    counts: npt.NDArray[np.float64],
    first_hour: int,
    tick: int,
    first_seen: Mapping[SeriesKey, datetime],
) -> list[Verdict]:
    """Each series (rows of `counts`, epoch hours from `first_hour`) judged for
    the window ending with epoch hour `tick`, vectorised per window length."""
    out: list[Verdict | None] = [None] * len(specs)
    by_window: dict[int, list[int]] = {}
    for i, spec in enumerate(specs):
        by_window.setdefault(spec.rule.window, []).append(i)
    end = tick - first_hour + 1  # columns up to and including the tick
    for window, rows in by_window.items():
        start_window = end - window
        start_history = max(0, start_window - HISTORY_HOURS)
        sub = counts[rows]
        history = sub[:, start_history:start_window]
        observed = sub[:, start_window:end].sum(axis=1)
        begins = [first_seen.get(specs[i].key) for i in rows]
        start = [0 if b is None else epoch_hour(b) - (first_hour + start_history) for b in begins]
        base = baseline(history, first_hour + start_history, window, start=start)
        scores = -tail_log10(observed, base.expected)
        for j, i in enumerate(rows):
            spec = specs[i]
            seen = first_seen.get(spec.key)
            learning = seen is None or seen > hour_start(tick + 1) - timedelta(seconds=spec.settings.learning)
            out[i] = Verdict(
                spec.key, int(observed[j]), float(base.expected[j]), float(base.per_day[j]), float(scores[j]), learning
            )
    return [v for v in out if v is not None]


def decide(
    spec: SeriesSpec,
    verdict: Verdict,
    state: SurgeState | None,
    surge_stories: Callable[[datetime], int],
    now: datetime,
    tick: int,
) -> tuple[SurgeState | None, SpikeEvent | None]:
    """The state machine's step for one series (skipped while it is learning
    and nothing is open, or when nothing is remarkable)."""
    rule = spec.rule
    if state is None and (verdict.learning or verdict.stories < rule.min_stories or verdict.score < rule.sensitivity):
        return None, None
    seen = Observation(
        now=now,
        window_start=hour_start(tick - rule.window + 1),
        stories=verdict.stories,
        expected=verdict.expected,
        per_day=verdict.per_day,
        score=verdict.score,
        surge_stories=surge_stories(state.start) if state is not None else verdict.stories,
    )
    return step(state, seen, rule)


def _matrix_sum_since(
    counts: npt.NDArray[np.float64], row: int, first_hour: int, tick: int
) -> Callable[[datetime], int]:
    def since(start: datetime) -> int:
        a = max(0, epoch_hour(start) - first_hour)
        return int(counts[row, a : tick - first_hour + 1].sum())

    return since


def run(
    settings: Settings,
    jobs: JobStore,
    trends: TrendStore,
    node: str,
    now: datetime,
    *,
    every: float = 0.0,
    send: bool = True,
) -> SpikeRun | None:
    """Count, judge and queue, once per cluster (None: another daemon runs it,
    or ran it within `every` seconds)."""
    with jobs.once(JOB, node, now, every) as due:
        if not due:
            return None
        return _run(settings, trends, now, send=send)


def _run(settings: Settings, trends: TrendStore, now: datetime, *, send: bool) -> SpikeRun:
    result = SpikeRun(counted=trends.update(now, entity_names(settings)))
    specs = series_specs(settings)
    states = trends.states()
    judged = trends.mark(JUDGED)
    if judged is not None and judged > now - FULL_EVERY:
        # Between full runs (hourly) only the series new hits touched and open surges are judged.
        specs = [s for s in specs if s.key in trends.touched or s.key in states]
        first_seen = trends.series([s.key for s in specs])
    else:
        trends.set_mark(JUDGED, now)
        first_seen = trends.series()
    specs = [s for s in specs if s.key in first_seen or s.key in states]
    result.series = len(specs)
    if not specs:
        return result
    tick = epoch_hour(now)
    widest = max(spec.rule.window for spec in specs)
    first_hour = tick - widest + 1 - HISTORY_HOURS
    counts = trends.matrix([s.key for s in specs], first_hour, tick - first_hour + 1)
    changes: dict[SeriesKey, SurgeState | None] = {}
    alerts: list[dict[str, Any]] = []
    for i, (spec, verdict) in enumerate(zip(specs, judge(specs, counts, first_hour, tick, first_seen), strict=True)):
        state = states.get(spec.key)
        new, event = decide(spec, verdict, state, _matrix_sum_since(counts, i, first_hour, tick), now, tick)
        if new != state:
            changes[spec.key] = new
        if state is not None and new is None:
            result.ended += 1
            log.info("spike: %s %r back to normal (surge since %s)", *spec.key, state.start.isoformat())
        if event is None:
            continue
        result.events.append((spec.key, event))
        if event.level == 0:
            result.opened += 1
        else:
            result.followups += 1
        alerts.extend(_alerts(settings, trends, spec, event, now) if send else ())
        log.info(
            "spike: %s %r %s: %d stories since %s (usual %.1f a day, expected %.2f, score %.1f)",
            *spec.key,
            "opens" if event.level == 0 else f"grows (follow-up {event.level})",
            event.stories,
            event.window_start.isoformat(),
            event.per_day,
            event.expected,
            event.score,
        )
    if changes or alerts:
        result.queued = trends.save(changes, alerts, now)
    if now.minute == 0 or result.counted:
        trends.prune(now)
    return result


def alert_key(key: SeriesKey, event: SpikeEvent) -> str:
    return f"{key[0]}:{key[1]}:{event.start.isoformat()}:{event.level}"[:300]


def dashboard_link(settings: SpikeSettings, key: SeriesKey) -> str | None:
    if not settings.dashboard:
        return None
    base = settings.dashboard.rstrip("/")
    return f"{base}/watchlists#spike-{quote(key[0])}-{quote(key[1], safe='')}"


def _alerts(
    settings: Settings, trends: TrendStore, spec: SeriesSpec, event: SpikeEvent, now: datetime
) -> Iterable[dict[str, Any]]:
    if not spec.channels:
        log.warning("spike: %s %r has no channel to tell (set spike.channels)", *spec.key)
        return []
    detail = trends.detail(spec.key, event.window_start, hour_start(epoch_hour(now) + 1))
    payload = {
        "top_stories": [list(story) for story in detail.top_stories],
        "top_outlets": [list(outlet) for outlet in detail.top_outlets],
        "link": dashboard_link(spec.settings, spec.key),
        "window_hours": spec.rule.window,
        "expected": round(event.expected, 3),
    }
    rows = []
    for channel in spec.channels:
        config = settings.channels.get(channel)
        if config is None:
            continue
        due = now
        if config.mode == "digest" and config.schedule:
            # A digest channel hears of it with its next digest, not before.
            fire = cron_trigger(config.schedule, config.timezone).get_next_fire_time(None, now)
            due = fire.astimezone(UTC) if fire is not None else now
        rows.append(
            {
                "channel": channel,
                "key": alert_key(spec.key, event),
                "kind": spec.key[0],
                "series": spec.key[1],
                "level": event.level,
                "surge_start": event.start,
                "window_start": event.window_start,
                "window_end": event.window_end,
                "stories": event.stories,
                "outlets": detail.outlets,
                "per_day": event.per_day,
                "expected": event.expected,
                "score": event.score,
                "detail": payload,
                "next_attempt_at": due,
            }
        )
    return rows


@dataclass(frozen=True)
class Backtest:
    """What `backtest` found: each alert the settings would have raised, and
    per series its hourly counts and baseline (for tables and charts)."""

    events: list[tuple[SeriesKey, SpikeEvent]]
    first_hour: int
    hours: int
    counts: dict[SeriesKey, list[int]]
    expected: dict[SeriesKey, list[float]]  # per hour: the window's expectation / its hours
    observed: dict[SeriesKey, list[int]] = field(default_factory=dict)  # stories in the window ending each hour


def backtest(
    settings: Settings, trends: TrendStore, since: datetime, now: datetime, keys: Sequence[SeriesKey] | None = None
) -> Backtest:
    """The alerts the current settings would have raised from `since` to `now`
    over the stored counts, hour by hour; nothing is written or sent. Each
    hour is judged as the live job judges it at that hour's end."""
    specs = [s for s in series_specs(settings, enabled_only=keys is not None) if keys is None or s.key in keys]
    first_seen = trends.series()
    specs = [s for s in specs if s.key in first_seen]
    start_tick, end_tick = epoch_hour(since), epoch_hour(now)
    hours = max(end_tick - start_tick + 1, 0)
    if not specs or not hours:
        return Backtest([], start_tick, hours, {}, {})
    widest = max(spec.rule.window for spec in specs)
    first_hour = start_tick - widest + 1 - HISTORY_HOURS
    counts = trends.matrix([s.key for s in specs], first_hour, end_tick - first_hour + 1)
    states: dict[SeriesKey, SurgeState | None] = {}
    events: list[tuple[SeriesKey, SpikeEvent]] = []
    expected: dict[SeriesKey, list[float]] = {s.key: [] for s in specs}
    observed: dict[SeriesKey, list[int]] = {s.key: [] for s in specs}
    for tick in range(start_tick, end_tick + 1):
        end_of_hour = min(hour_start(tick + 1) - timedelta(seconds=1), now)
        verdicts = judge(specs, counts, first_hour, tick, first_seen)
        for i, (spec, verdict) in enumerate(zip(specs, verdicts, strict=True)):
            expected[spec.key].append(verdict.expected / spec.rule.window)
            observed[spec.key].append(verdict.stories)
            state = states.get(spec.key)
            new, event = decide(spec, verdict, state, _matrix_sum_since(counts, i, first_hour, tick), end_of_hour, tick)
            states[spec.key] = new
            if event is not None:
                events.append((spec.key, event))
    offset = start_tick - first_hour
    series_counts = {s.key: [int(c) for c in counts[i, offset:]] for i, s in enumerate(specs)}
    return Backtest(events, start_tick, hours, series_counts, expected, observed)
