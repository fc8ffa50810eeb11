"""How a spike alert reads, per medium. Pure: the claimed alert in, title
and body out (shipped templates ``notify/templates/spike.*.j2``).

"[cartels] Spike: 14 stories from 11 outlets in 3 h (usual: 2 a day)",
then the top stories (linked) and outlets, and a link to the dashboard's
chart when `spikes.dashboard` is set. A follow-up: "[cartels] Spike grows:
31 stories from 20 outlets since 09:00 UTC (usual: 2 a day)". Story titles
and feed names are feed text: escaped for the medium by
`templating.escaper` (HTML templates autoescape on top), links written
only by the `link` helper (http(s) only), exactly as for hit alerts.
Channel templates (`channels.NAME.template`) are for hits; spike alerts
always use the shipped ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from monitor.core.spikes import SpikeJob
from monitor.notify import templating as tpl
from monitor.notify.render import DEFAULT_LIMITS, Limits, Medium, Message, _fit, _title
from monitor.notify.templating import one_line, truncate

__all__ = ["render_spike", "series_label", "usual_text"]


@dataclass(frozen=True)
class StoryView:
    title: str
    link: str | None
    outlets: int


@dataclass(frozen=True)
class OutletView:
    name: str
    stories: int


def usual_text(per_day: float) -> str:
    """'2 a day', '1 a day', '3 a week', 'under 1 a week' (the usual, without the floor)."""
    if per_day >= 0.95:
        return f"{round(per_day):,} a day"
    if per_day * 7 >= 0.95:
        return f"{round(per_day * 7)} a week"
    return "under 1 a week"


def series_label(kind: str, name: str) -> str:
    return f"@{name}" if kind == "entity" else name


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def headline(job: SpikeJob, zone: tzinfo | None) -> str:
    """The one line that names the surge (no series label)."""
    stories = f"{job.stories:,} {'story' if job.stories == 1 else 'stories'}"
    counts = f"{stories} from {_plural(job.outlets, 'outlet')}"
    if job.level == 0:
        hours = int(job.detail.get("window_hours") or round((job.window_end - job.window_start).total_seconds() / 3600))
        return f"Spike: {counts} in {hours} h (usual: {usual_text(job.per_day)})"
    start, end = job.surge_start.astimezone(zone or UTC), job.window_end.astimezone(zone or UTC)
    since = start.strftime("%H:%M" if start.date() == end.date() else "%d %b %H:%M")
    return f"Spike grows: {counts} since {since} (usual: {usual_text(job.per_day)})"


def _context(job: SpikeJob, target: str, fmt: str, zone: tzinfo | None, channel: str, level: int) -> dict[str, Any]:
    esc = tpl.escaper(target, fmt)
    stories = [
        StoryView(
            esc(truncate(one_line(str(title or "(untitled)")), 200)),
            link if isinstance(link, str) else None,
            int(outlets),
        )
        for title, link, outlets in (job.detail.get("top_stories") or [])[:level]
    ]
    outlets = [
        OutletView(esc(truncate(one_line(str(name)), 100)), int(count))
        for name, count in (job.detail.get("top_outlets") or [])[:level]
    ]
    return {
        "kind": "spike",
        "medium": target,
        "format": fmt,
        "channel": esc(channel),
        "tz": tpl.zone_name(zone),
        "series": esc(series_label(job.kind, job.series)),
        "headline": esc(headline(job, zone)),
        "level": job.level,
        "stories": job.stories,
        "outlets": job.outlets,
        "usual": usual_text(job.per_day),
        "top_stories": stories,
        "top_outlets": outlets,
        "more_stories": max(job.stories - len(stories), 0),
        "dashboard": job.detail.get("link"),
        "window_start": job.window_start,
        "window_end": job.window_end,
        "fmt_time": tpl.time_formatter(zone),
        "link": tpl.link_helper(target, fmt),
    }


def render_spike(
    job: SpikeJob,
    medium: Medium,
    *,
    tz: str | tzinfo | None = None,
    limits: Limits | None = None,
    channel: str = "",
) -> Message:
    """A spike alert as one message: `[series] Spike: …`, the top stories and
    outlets (as many of the first five as fit the medium), the dashboard link."""
    limits = limits or DEFAULT_LIMITS[medium]
    zone = tpl.display_zone(tz)
    target = medium.value
    fmt = tpl.shipped_format(target)
    template = tpl.shipped_template("spike", target)
    body = _fit(template, lambda level: _context(job, target, fmt, zone, channel, level), 5, limits.body)
    esc = tpl.escaper(target, tpl.TEXT)
    title = f"[{esc(series_label(job.kind, job.series))}] {esc(headline(job, zone))}"
    return Message(_title(title, limits), body, fmt)


def _sample(now: datetime) -> SpikeJob:  # for template checks in tests
    return SpikeJob(
        id=0,
        channel="desk",
        attempts=1,
        kind="watchlist",
        series="cartels",
        level=0,
        surge_start=now,
        window_start=now,
        window_end=now,
        stories=14,
        outlets=11,
        per_day=2.0,
        detail={
            "top_stories": [["A story", "https://example.org/a", 3]],
            "top_outlets": [["Diario", 4]],
            "link": None,
            "window_hours": 3,
        },
    )
