"""`monitor trends`: per watchlist and entity, the hourly story counts, the
baseline now, and the spikes found; `--replay` backtests the current spike
settings over the stored counts without sending anything."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from monitor.cli.common import EXIT_CONFIG, EXIT_OK, repository, settings_of, since_of
from monitor.cli.listing import short_time, table
from monitor.times import iso, utcnow

if TYPE_CHECKING:  # numpy and the spike code load with the command, not with every command
    from monitor.config import Settings
    from monitor.core.spikes import SpikeEvent
    from monitor.spikes import Backtest, SeriesSpec
    from monitor.store.trends import SeriesKey, TrendStore


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "trends",
        parents=[common],
        help="hourly story counts per watchlist and entity, their baseline and spikes (--replay: backtest)",
        description=(
            "For each watchlist (and entity) with spike alerts: distinct stories and outlets counted per hour "
            "over --since, the usual number a day, the window's count now against its baseline, and the spike "
            "alerts queued. --replay judges every hour of --since again with the current spike settings, as "
            "the daemon would have, and lists the alerts they would have raised; nothing is sent or stored. "
            "Counts missing from the database (a new install, an upgrade) are rebuilt from the stored hits first."
        ),
    )
    p.add_argument("--watchlist", "-w", help="only this watchlist")
    p.add_argument("--entity", "-e", help="only this entity")
    p.add_argument("--since", default="30d", help="the span shown or replayed, e.g. 7d, 90d (default: 30d)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument(
        "--replay",
        action="store_true",
        help="backtest: the spikes the current settings would have alerted on over --since (sends nothing)",
    )
    p.set_defaults(func=cmd_trends)


def _wanted(settings: Settings, args: argparse.Namespace) -> list[SeriesSpec] | str:
    from monitor.spikes import series_specs

    specs = series_specs(settings, enabled_only=False)
    if args.watchlist or args.entity:
        keys = set()
        if args.watchlist:
            if args.watchlist not in {w.name for w in settings.watchlists}:
                return f"--watchlist: no watchlist named {args.watchlist!r}"
            keys.add(("watchlist", args.watchlist))
        if args.entity:
            if args.entity not in settings.entities:
                return f"--entity: no entity named {args.entity!r}"
            keys.add(("entity", args.entity))
        return [s for s in specs if s.key in keys]
    return [s for s in specs if s.settings.enabled]


def cmd_trends(args: argparse.Namespace) -> int:
    from monitor.spikes import JOB, backtest, entity_names
    from monitor.store.trends import TrendStore

    settings = settings_of(args)
    now = utcnow()
    try:
        since = since_of(args.since, now)
    except ValueError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    assert since is not None
    specs = _wanted(settings, args)
    if isinstance(specs, str):
        print(f"error: {specs}", file=sys.stderr)
        return EXIT_CONFIG
    repo = repository(settings)
    trends = TrendStore(repo.engine)
    if trends.mark() is None:
        # Never counted: count the stored hits now (unless the daemon is at it).
        with repo.once(JOB, "monitor trends", now, 0.0) as due:
            if due:
                trends.update(now, entity_names(settings))
    if args.replay:
        result = backtest(settings, trends, since, now, [s.key for s in specs])
        write_replay(specs, result, args.format, sys.stdout, since, now)
    else:
        write_trends(specs, trends, args.format, sys.stdout, since, now)
    return EXIT_OK


def _name(key: SeriesKey) -> str:
    return f"@{key[1]}" if key[0] == "entity" else key[1]


def _event(key: SeriesKey, event: SpikeEvent) -> dict[str, Any]:
    return {
        "kind": key[0],
        "name": key[1],
        "level": event.level,
        "surge_start": iso(event.start),
        "window_start": iso(event.window_start),
        "at": iso(event.window_end),
        "stories": event.stories,
        "expected": round(event.expected, 3),
        "usual_per_day": round(event.per_day, 2),
        "score": round(event.score, 2),
    }


def write_trends(
    specs: list[SeriesSpec], trends: TrendStore, fmt: str, out: TextIO, since: datetime, now: datetime
) -> None:
    from monitor.core.spikes import epoch_hour, hour_start
    from monitor.spikes import HISTORY_HOURS, judge

    first_seen = trends.series()
    tick = epoch_hour(now)
    widest = max((s.rule.window for s in specs), default=1)
    first_hour = min(epoch_hour(since), tick - widest + 1 - HISTORY_HOURS)
    keys = [s.key for s in specs]
    stories = trends.matrix(keys, first_hour, tick - first_hour + 1)
    outlets = trends.matrix(keys, first_hour, tick - first_hour + 1, column="outlets")
    verdicts = judge(specs, stories, first_hour, tick, first_seen)
    shown_from = epoch_hour(since) - first_hour
    records: list[dict[str, Any]] = []
    for i, (spec, verdict) in enumerate(zip(specs, verdicts, strict=True)):
        hours = [
            {"hour": iso(hour_start(first_hour + j)), "stories": int(stories[i, j]), "outlets": int(outlets[i, j])}
            for j in range(shown_from, stories.shape[1])
            if stories[i, j] or outlets[i, j]
        ]
        records.append(
            {
                "kind": spec.key[0],
                "name": spec.key[1],
                "enabled": spec.settings.enabled,
                "window_hours": spec.rule.window,
                "stories": int(stories[i, shown_from:].sum()),
                "usual_per_day": round(verdict.per_day, 2),
                "window_stories": verdict.stories,
                "expected": round(verdict.expected, 3),
                "score": round(verdict.score, 2),
                "learning": verdict.learning,
                "hours": hours,
                "spikes": [
                    {
                        **a,
                        "surge_start": iso(a["surge_start"]),
                        "window_start": iso(a["window_start"]),
                        "window_end": iso(a["window_end"]),
                    }
                    for a in trends.alerts(since, spec.key)
                ],
            }
        )
    if fmt == "json":
        json.dump({"since": iso(since), "until": iso(now), "series": records}, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    rows = [
        [
            _name((r["kind"], r["name"])),
            str(r["stories"]),
            f"{r['usual_per_day']:.1f}",
            f"{r['window_stories']} in {r['window_hours']} h",
            f"{r['expected']:.2f}",
            f"{r['score']:.1f}",
            str(len(r["spikes"])) + (" (learning)" if r["learning"] else "") + ("" if r["enabled"] else " (off)"),
        ]
        for r in records
    ]
    table(["SERIES", "STORIES", "USUAL/DAY", "NOW", "EXPECTED", "SCORE", "SPIKES"], rows, out)
    for r in records:
        for a in r["spikes"]:
            what = "spike" if a["level"] == 0 else f"follow-up {a['level']}"
            sent = ", ".join(f"{c['channel']} {c['status']}" for c in a["channels"])
            out.write(
                f"{_name((r['kind'], r['name']))}: {what} at {a['window_end'][:16].replace('T', ' ')}: "
                f"{a['stories']} stories from {a['outlets']} outlets ({sent})\n"
            )


def write_replay(
    specs: list[SeriesSpec], result: Backtest, fmt: str, out: TextIO, since: datetime, now: datetime
) -> None:
    from monitor.core.spikes import hour_start

    if fmt == "json":
        series = [
            {
                "kind": spec.key[0],
                "name": spec.key[1],
                "hours": [
                    {
                        "hour": iso(hour_start(result.first_hour + j)),
                        "stories": count,
                        "baseline": round(result.expected[spec.key][j], 4),
                    }
                    for j, count in enumerate(result.counts.get(spec.key, []))
                ],
            }
            for spec in specs
            if spec.key in result.counts
        ]
        json.dump(
            {
                "since": iso(since),
                "until": iso(now),
                "spikes": [_event(k, e) for k, e in result.events],
                "series": series,
            },
            out,
            ensure_ascii=False,
            indent=2,
        )
        out.write("\n")
        return
    days = max((now - since).total_seconds() / 86400, 1 / 24)
    out.write(
        f"Backtest of the current spike settings over {days:.0f} days ({short_time(since)} to {short_time(now)} UTC); "
        "nothing is sent.\n"
    )
    by_key: dict[SeriesKey, list[SpikeEvent]] = {}
    for key, event in result.events:
        by_key.setdefault(key, []).append(event)
    for spec in specs:
        events = by_key.get(spec.key, [])
        if spec.key not in result.counts:
            out.write(f"{_name(spec.key)}: no stories counted\n")
            continue
        s = spec.settings
        out.write(
            f"{_name(spec.key)}: {len(events)} alert(s) the current settings would alert on "
            f"(window {spec.rule.window} h, min_stories {s.min_stories}, sensitivity {s.sensitivity:g}, "
            f"growth {s.growth:g})\n"
        )
        for e in events:
            what = "spike" if e.level == 0 else f"follow-up {e.level}"
            out.write(
                f"  {short_time(e.window_end)}  {what}: {e.stories} stories "
                + (f"in {spec.rule.window} h" if e.level == 0 else f"since {short_time(e.start)}")
                + f" (usual {e.per_day:.1f} a day, expected {e.expected:.2f}, score {e.score:.1f})\n"
            )
