"""Spike detection: the cost of one hourly evaluation at scale, and how often
the default settings raise a false alarm on rhythm-only timelines.

Cost (`--cost`): 10,000 watchlists and 10,000 entities (default), each with
90 days of hourly story counts (a daily rhythm, busy series and sparse ones,
seeded). One tick is what the spike job does each hour once the counts are
read: `monitor.spikes.judge` over the last 28 days + the window of every
series (baseline, tail probability, learning) and `decide` for each (the
state machine; none is open). Reported: the median of `--repeats` ticks in
seconds, the peak memory the tick allocates (tracemalloc) and the resident
set size of the process, which holds the 90-day matrix. Reading the counts
from the database is measured separately on a SQLite store of `--store`
series (default 2,000; the same query scales with the rows read).

False alarms (`--false-alarms`): `--series` timelines of Poisson counts with
a weekday/weekend × hour-of-day rhythm and no surge (rates from one story a
fortnight to 200 a day; busy mornings, quiet nights, quieter weekends), 28
days of history then `--days` (90) judged hour by hour with the default
settings and the one-alert-per-surge state machine, as the live job judges.
Reported: alerts per series per 90 days (mean, and the share of series with
any), per rate class. `--overdispersed` adds day-to-day news variation (each
day's rates times a gamma factor with mean 1 and CV 0.5: busy and slow news
days), which the Poisson test does not model. Detection: the same timelines
with one surge each (4 × the usual for the window + 6 stories, spread over 3 hours)
— the share of surges alerted within their hours.

    python bench/spikes.py            # both, full sizes (~1 minute)
    python bench/spikes.py --quick    # smaller sizes (seconds)
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import monitor.core.spikes as spikes_core  # noqa: E402
from monitor.config.spikes import SpikeSettings  # noqa: E402 - after the sys.path line above
from monitor.core.spikes import (  # noqa: E402
    HISTORY_DAYS,
    Observation,
    SpikeRule,
    baseline,
    epoch_hour,
    hour_start,
    step,
    tail_log10,
)
from monitor.spikes import SeriesSpec, decide, judge  # noqa: E402

START = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday


def rhythm(hours: np.ndarray, per_day: np.ndarray) -> np.ndarray:
    """Hourly rates (series × hours) for `per_day` stories a day: busy 07-12,
    steady 12-20, quiet nights; weekends at 40 %."""
    hod = hours % 24
    weekend = ((hours // 24 + 3) % 7) >= 5
    shape = np.where((hod >= 7) & (hod < 12), 3.0, np.where((hod >= 12) & (hod < 20), 1.2, 0.15))
    shape = shape * np.where(weekend, 0.4, 1.0)
    shape = shape / shape.mean()
    return per_day[:, None] / 24.0 * shape[None, :]


def rates_per_day(n: int, rng: np.random.Generator) -> np.ndarray:
    """Log-uniform from one a fortnight to 200 a day."""
    return np.exp(rng.uniform(np.log(1 / 14), np.log(200), n))


# --- cost ----------------------------------------------------------------------------


def cost(watchlists: int, entities: int, days: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(16)
    n = watchlists + entities
    first = epoch_hour(START)
    hours = np.arange(first, first + days * 24)
    counts = rng.poisson(rhythm(hours, rates_per_day(n, rng))).astype(np.float64)
    defaults = SpikeSettings()
    specs = [SeriesSpec(("watchlist", f"w{i}"), defaults, ("desk",)) for i in range(watchlists)] + [
        SeriesSpec(("entity", f"e{i}"), defaults, ("desk",)) for i in range(entities)
    ]
    first_seen = {s.key: START for s in specs}
    tick = first + days * 24 - 1
    window = specs[0].rule.window
    # What the job reads: the history and the window, as one matrix.
    lo = tick - window + 1 - HISTORY_DAYS * 24
    matrix = counts[:, lo - first :]
    now = hour_start(tick) + timedelta(minutes=30)

    def one_tick() -> int:
        alerts = 0
        verdicts = judge(specs, matrix, lo, tick, first_seen)
        for i, (spec, verdict) in enumerate(zip(specs, verdicts, strict=True)):
            _, event = decide(spec, verdict, None, lambda _s, i=i: int(matrix[i, -window:].sum()), now, tick)
            alerts += event is not None
        return alerts

    one_tick()  # warm up
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        one_tick()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    one_tick()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "series": n, "days": days, "tick_median_s": statistics.median(times), "tick_max_s": max(times),
        "tick_peak_mb": peak / 2**20, "process_rss_mb": rss, "matrix_mb": counts.nbytes / 2**20,
    }


def store_read(series: int, days: int) -> dict[str, float]:
    """Reading the counts the tick needs from SQLite, for `series` series with 90 days stored."""
    from sqlalchemy import insert

    from monitor.store.engine import make_engine
    from monitor.store.schema import TrendCountRow
    from monitor.store.trends import TrendStore

    rng = np.random.default_rng(7)
    first = epoch_hour(START)
    hours = np.arange(first, first + days * 24)
    counts = rng.poisson(rhythm(hours, rates_per_day(series, rng)))
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        rows = [
            {"kind": "watchlist", "series": f"w{i}", "hour": hour_start(int(first + j)), "stories": int(c), "outlets": 1}
            for i, j in zip(*np.nonzero(counts), strict=True)
            for c in (counts[i, j],)
        ]
        with engine.begin() as conn:
            for at in range(0, len(rows), 20_000):
                conn.execute(insert(TrendCountRow), rows[at : at + 20_000])
        store = TrendStore(engine)
        keys = [("watchlist", f"w{i}") for i in range(series)]
        tick = first + days * 24 - 1
        lo = tick - 2 - HISTORY_DAYS * 24
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            store.matrix(keys, lo, tick - lo + 1)
            times.append(time.perf_counter() - t0)
        engine.dispose()
    return {"series": series, "rows_stored": len(rows), "read_median_s": statistics.median(times)}


# --- false alarms ------------------------------------------------------------------------


def timeline(series: int, days: int, rng: np.random.Generator, overdispersed: bool) -> tuple[np.ndarray, np.ndarray]:
    first = epoch_hour(START)
    hours = np.arange(first, first + (HISTORY_DAYS + days) * 24)
    per_day = rates_per_day(series, rng)
    rate = rhythm(hours, per_day)
    if overdispersed:  # busy and slow news days: a gamma factor per series and day, mean 1, CV 0.5
        factor = rng.gamma(4.0, 0.25, (series, HISTORY_DAYS + days))
        rate = rate * np.repeat(factor, 24, axis=1)
    return rng.poisson(rate).astype(np.float64), per_day


def judge_all(counts: np.ndarray, days: int, rule: SpikeRule) -> tuple[np.ndarray, list[list[int]]]:
    """Alerts per series over the judged days, and the ticks (column index) of each alert."""
    first = epoch_hour(START)
    n = counts.shape[0]
    w = rule.window
    state: list[object] = [None] * n
    alerts = np.zeros(n, dtype=int)
    when: list[list[int]] = [[] for _ in range(n)]
    for col in range(HISTORY_DAYS * 24, counts.shape[1]):
        start = col - w + 1
        history = counts[:, max(0, start - HISTORY_DAYS * 24) : start]
        base = baseline(history, first + max(0, start - HISTORY_DAYS * 24), w)
        observed = counts[:, start : col + 1].sum(axis=1)
        scores = -tail_log10(observed, base.expected)
        hot = np.nonzero((observed >= rule.min_stories) & (scores >= rule.sensitivity))[0]
        candidates = set(hot.tolist()) | {i for i in range(n) if state[i] is not None}
        now = hour_start(first + col)
        for i in candidates:
            current = state[i]
            surge = observed[i] if current is None else counts[i, epoch_hour(current.start) - first : col + 1].sum()  # type: ignore[attr-defined]
            seen = Observation(now, hour_start(first + start), int(observed[i]), float(base.expected[i]),
                               float(base.per_day[i]), float(scores[i]), int(surge))
            state[i], event = step(current, seen, rule)  # type: ignore[arg-type]
            if event is not None:
                alerts[i] += 1
                when[i].append(col)
    return alerts, when


def false_alarms(series: int, days: int, overdispersed: bool) -> dict[str, object]:
    rng = np.random.default_rng(90 + overdispersed)
    d = SpikeSettings()
    rule = SpikeRule(int(d.window // 3600), d.min_stories, d.sensitivity, d.growth)
    counts, per_day = timeline(series, days, rng, overdispersed)
    t0 = time.perf_counter()
    alerts, _ = judge_all(counts, days, rule)
    elapsed = time.perf_counter() - t0
    per90 = alerts * 90 / days
    classes = {}
    for name, lo, hi in (("< 1/day", 0, 1), ("1-10/day", 1, 10), ("10-50/day", 10, 50), ("50-200/day", 50, 1e9)):
        mask = (per_day >= lo) & (per_day < hi)
        if mask.any():
            classes[name] = round(float(per90[mask].mean()), 3)
    # Detection: one surge per series (4 × the usual for the window + 6 stories, over 3 hours).
    surged = counts.copy()
    at = rng.integers(HISTORY_DAYS * 24 + 24, counts.shape[1] - 6, series)
    extra = np.ceil(4 * per_day / 8).astype(int) + 6
    for i in range(series):
        for k, share in enumerate(np.array_split(np.arange(extra[i]), 3)):
            surged[i, at[i] + k] += len(share)
    _, when = judge_all(surged, days, rule)
    found = np.array([any(at[i] <= c <= at[i] + 2 for c in when[i]) for i in range(series)])
    detected = int(found.sum())
    by_class = {}
    for name, lo, hi in (("< 1/day", 0, 1), ("1-10/day", 1, 10), ("10-50/day", 10, 50), ("50-200/day", 50, 1e9)):
        mask = (per_day >= lo) & (per_day < hi)
        if mask.any():
            by_class[name] = round(float(found[mask].mean()), 2)
    return {
        "series": series, "days": days, "overdispersed": overdispersed,
        "alerts_per_series_per_90d_mean": round(float(per90.mean()), 3),
        "series_with_any_alert": round(float((alerts > 0).mean()), 3),
        "max_alerts_one_series": int(alerts.max()), "per_rate_class": classes,
        "surges_detected": round(detected / series, 3), "detected_per_rate_class": by_class,
        "dispersion": spikes_core.DISPERSION, "seconds": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cost", action="store_true")
    parser.add_argument("--false-alarms", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: seconds, not a minute")
    parser.add_argument("--watchlists", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--store", type=int, default=2_000, help="series in the SQLite read measurement")
    parser.add_argument("--series", type=int, default=300, help="timelines in the false-alarm run")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--dispersion", type=float, default=None, help="the test's negative binomial shape r")
    args = parser.parse_args()
    both = not (args.cost or args.false_alarms)
    if args.dispersion is not None:
        spikes_core.DISPERSION = args.dispersion
    if args.quick:
        args.watchlists, args.entities, args.store, args.series, args.days, args.repeats = 2000, 2000, 300, 60, 45, 3
    if args.cost or both:
        print("tick:", cost(args.watchlists, args.entities, 90, args.repeats))
        print("store read:", store_read(args.store, 90))
    if args.false_alarms or both:
        print("false alarms (Poisson):", false_alarms(args.series, args.days, False))
        print("false alarms (overdispersed):", false_alarms(args.series, args.days, True))


if __name__ == "__main__":
    main()
