"""The watchlists page's spike chart: a series' stories over the last days
with its baseline band and spike markers, as inline SVG (server-rendered,
like `render.bar_chart`; no script).

What is drawn is what the spike job judges, hour by hour (`monitor.spikes.
backtest` with the settings in force): the stories in the window ending at
each hour (line), the stories expected there (the baseline, dashed), the
band from it up to the count that would be a spike (the smallest count at
least `min_stories` whose tail probability is below 10^-sensitivity), and a
marker at each hour the settings alert (a surge, or a follow-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from markupsafe import Markup, escape
from sqlalchemy import Engine

from monitor.config import Settings
from monitor.core.spikes import hour_start, tail_log10
from monitor.spikes import backtest, series_specs
from monitor.store.trends import TrendStore

__all__ = ["CHART_DAYS", "spike_chart", "spike_threshold", "watchlist_charts"]

CHART_DAYS = 7

MAX_COUNT = 500


def spike_threshold(expected: Sequence[float], min_stories: int, sensitivity: float) -> list[int]:
    """For each expected window count, the smallest count that is a spike."""
    if not expected:
        return []
    k = np.arange(min_stories, MAX_COUNT + 1, dtype=np.float64)
    mu = np.asarray(expected, dtype=np.float64)
    scores = -tail_log10(k[None, :], mu[:, None])
    hit = scores >= sensitivity
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), len(k) - 1)
    return [int(k[i]) for i in first]


def spike_chart(
    window_counts: Sequence[int],
    expected: Sequence[float],
    threshold: Sequence[int],
    spikes: Sequence[tuple[int, str]],
    start: datetime,
    *,
    label: str,
    width: int = 600,
    height: int = 90,
) -> Markup:
    """One series: `window_counts[i]` stories in the window ending at hour
    start+i, `expected[i]` and `threshold[i]` its baseline and spike count;
    `spikes`: (hour index, what) for each alert."""
    n = max(len(window_counts), 1)
    top = max(max(window_counts, default=0), max(threshold, default=0), 1)
    pad = 4
    inner = height - pad

    def x(i: int) -> float:
        return i * width / max(n - 1, 1)

    def y(value: float) -> float:
        return inner - min(value, top) / top * (inner - pad) + 0.0

    parts = [
        f'<svg class="spikes" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    if threshold:
        upper = " ".join(f"{x(i):.1f},{y(t):.1f}" for i, t in enumerate(threshold))
        lower = " ".join(f"{x(i):.1f},{y(e):.1f}" for i, e in reversed(list(enumerate(expected))))
        parts.append(f'<polygon class="band" points="{upper} {lower}"><title>usual range</title></polygon>')
        parts.append(
            '<polyline class="baseline" points="'
            + " ".join(f"{x(i):.1f},{y(e):.1f}" for i, e in enumerate(expected))
            + '"/>'
        )
    if window_counts:
        parts.append(
            '<polyline class="count" points="'
            + " ".join(f"{x(i):.1f},{y(c):.1f}" for i, c in enumerate(window_counts))
            + '"/>'
        )
    for i, what in spikes:
        if 0 <= i < len(window_counts):
            when = (start + timedelta(hours=i)).strftime("%Y-%m-%d %H:00")
            parts.append(
                f'<circle class="spike" cx="{x(i):.1f}" cy="{y(window_counts[i]):.1f}" r="4">'
                f"<title>{escape(when)}: {escape(what)}</title></circle>"
            )
    parts.append(f'<line x1="0" y1="{inner + 0.5}" x2="{width}" y2="{inner + 0.5}" class="axis"/></svg>')
    return Markup("".join(parts))


def watchlist_charts(settings: Settings, engine: Engine, now: datetime, days: int = CHART_DAYS) -> dict[str, Markup]:
    """Each watchlist's spike chart over the last `days` (those with spike alerts and counts)."""
    specs = {s.key: s for s in series_specs(settings) if s.key[0] == "watchlist"}
    if not specs:
        return {}
    result = backtest(settings, TrendStore(engine), now - timedelta(days=days), now, list(specs))
    marks: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for key, event in result.events:
        what = f"spike: {event.stories} stories" if event.level == 0 else f"follow-up: {event.stories} stories"
        index = int((event.window_end - hour_start(result.first_hour)).total_seconds() // 3600)
        marks.setdefault(key, []).append((index, what))
    charts = {}
    for key, observed in result.observed.items():
        spec = specs[key]
        window = spec.rule.window
        expected = [e * window for e in result.expected[key]]
        threshold = spike_threshold(expected, spec.settings.min_stories, spec.settings.sensitivity)
        label = f"stories in {window} h windows over the last {days} days, baseline band and spikes"
        charts[key[1]] = spike_chart(
            observed, expected, threshold, marks.get(key, []), hour_start(result.first_hour), label=label
        )
    return charts
