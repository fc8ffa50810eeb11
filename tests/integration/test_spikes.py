"""Spike alerts through the real pipeline (issue 16).

Synthetic timelines are served as RSS by a loopback feed server, polled,
matched, grouped into stories and stored by the real service; the spike
job counts them and queues alerts, the dispatcher sends them to a json://
webhook on loopback. The clock is a fake that moves an hour at a time; the
weeks of history before it are one backlog poll (items dated in the past
count in the hours they were published). SQLite, and PostgreSQL when
MONITOR_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import httpx
from sqlalchemy import func, select

from monitor.cli import main
from monitor.service import Service
from monitor.spikes import backtest
from monitor.store.schema import SpikeAlertRow, TrendCountRow
from monitor.store.trends import TrendStore
from tests.integration.test_web import running


def _monday_morning(now: datetime) -> datetime:
    """06:30 UTC on the Monday two weeks back: a fixed weekday, recent enough for `monitor trends --since 30d`."""
    day = now.date() - timedelta(days=now.weekday() + 14)
    return datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)


T0 = _monday_morning(datetime.now(UTC))
SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "ne", "so", "vi", "de", "pa", "ju", "go", "li", "mo", "ze", "ba"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(n))


def rss(items: list[dict], title: str) -> bytes:
    entries = "".join(
        "<item>"
        f"<title>{escape(i['title'])}</title><link>{escape(i['link'])}</link>"
        f"<guid isPermaLink=\"false\">{escape(i['guid'])}</guid>"
        f"<pubDate>{i['published'].strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>{escape(i['text'])}</description></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.test/</link><description>d</description>"
        f"{entries}</channel></rss>"
    ).encode()


class Desk:
    """A newsroom's feeds on loopback, the service polling them, and the alerts it sent."""

    def __init__(self, feed_server, webhook_server, make_settings, *, outlets: int = 12, spike: dict | None = None,
                 entities: dict | None = None, watchlist: dict | None = None, spikes: dict | None = None,
                 channels: dict | None = None) -> None:
        self.feed_server, self.webhook = feed_server, webhook_server
        self.outlets = [f"outlet-{i}" for i in range(outlets)]
        self.items: dict[str, list[dict]] = {name: [] for name in self.outlets}
        self.rng = random.Random(16)
        self.count = 0
        feeds = [{"name": n, "url": feed_server.add(f"/{n}.xml", rss([], n))} for n in self.outlets]
        config: dict = {
            "poll": {"interval": "15m", "timeout": "5s", "connect_timeout": "2s", "host_delay": 0, "per_host": 12},
            "feeds": feeds,
            "channels": {
                "desk": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]},
                **{name: {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"], **c}
                   for name, c in (channels or {}).items()},
            },
            "watchlists": [
                {"name": "cartels", "keywords": ["cartel"], "spike": {"channels": ["desk"], **(spike or {})},
                 **(watchlist or {})}
            ],
        }
        if entities:
            config["entities"] = entities
        if spikes:
            config["spikes"] = spikes
        self.settings = make_settings(config)
        self.clock = Clock(T0)
        self.service = self.start()

    def start(self) -> Service:
        return Service(self.settings, clock=self.clock, echo=lambda _: None)

    def story(self, published: datetime, outlet: int | None = None, *, copies: int = 1, lead: str = "cartel") -> None:
        """A new story published at `published`, by one outlet (or `copies` outlets, one URL each)."""
        self.count += 1
        title = f"{lead.capitalize()} report {self.count}: {_words(self.rng, 5)}"
        text = f"The {lead} {_words(self.rng, 60)}."
        first = self.count % len(self.outlets) if outlet is None else outlet
        for c in range(copies):
            name = self.outlets[(first + c) % len(self.outlets)]
            self.items[name].append(
                {"title": title, "text": text, "link": f"https://{name}.example/news/{self.count}",
                 "guid": f"{name}-{self.count}", "published": published}
            )

    def serve(self) -> None:
        for name, items in self.items.items():
            shown = [i for i in items if i["published"] <= self.clock.now][-400:]
            self.feed_server.add(f"/{name}.xml", rss(shown, name))

    def hour(self, hours: int = 1) -> None:
        """Move the clock on, then poll, run the spike job and dispatch, as the daemon does."""
        self.clock.now += timedelta(hours=hours)
        self.cycle()

    def cycle(self) -> None:
        self.serve()
        self.service.poll(all_feeds=True)
        self.service.spikes()
        self.service.dispatch()

    def spike_titles(self) -> list[str]:
        return [p.json["title"] for p in self.webhook.posts_to("/hook") if "Spike" in p.json.get("title", "")]

    def spike_posts(self) -> list[dict]:
        return [p.json for p in self.webhook.posts_to("/hook") if "Spike" in p.json.get("title", "")]


def steady_history(desk: Desk, days: int = 21, per_day: int = 2) -> None:
    """`per_day` stories a day at scattered hours, for `days` days before T0."""
    rng = random.Random(7)
    for day in range(days, 0, -1):
        for _ in range(per_day):
            desk.story(T0 - timedelta(days=day) + timedelta(hours=rng.uniform(0, 20)))


def test_steady_series_and_a_sudden_surge_give_one_alert_with_the_counts_and_no_second_after_a_restart(
    feed_server, webhook_server, make_settings
) -> None:
    desk = Desk(feed_server, webhook_server, make_settings, spikes={"dashboard": "https://desk.example.org"})
    steady_history(desk)
    desk.cycle()  # the backlog: three weeks of history in one poll
    for _ in range(4):
        desk.story(desk.clock.now + timedelta(minutes=20))
        desk.hour(6)
    assert desk.spike_titles() == []  # two a day is the usual: nothing to tell

    # The surge: 14 stories from 11 outlets within three hours.
    surge_at = desk.clock.now
    for i in range(14):
        desk.story(surge_at + timedelta(minutes=40 + 10 * i), outlet=i % 11)
    desk.hour(3)
    assert desk.spike_titles() == ["[cartels] Spike: 14 stories from 11 outlets in 3 h (usual: 2 a day)"]
    (post,) = desk.spike_posts()
    assert "Top stories:" in post["message"] and "Cartel report" in post["message"]
    assert "Top outlets:" in post["message"] and "outlet-" in post["message"]
    assert "https://desk.example.org/watchlists#spike-watchlist-cartels" in post["message"]

    # A restart mid-surge (a new process, the same database) and a few more stories: no second alert.
    desk.service.close()
    desk.service = desk.start()
    for i in range(3):
        desk.story(desk.clock.now + timedelta(minutes=5 + i))
    desk.hour()
    desk.hour()
    assert len(desk.spike_titles()) == 1
    with desk.service.repo.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SpikeAlertRow)) == 1
    # The surge dies down; counts are in the database.
    desk.hour(6)
    assert len(desk.spike_titles()) == 1
    trends = TrendStore(desk.service.repo.engine)
    assert trends.states() == {}
    assert trends.stories_since(("watchlist", "cartels"), surge_at) == 17


def test_one_story_copied_by_twenty_outlets_counts_once(feed_server, webhook_server, make_settings) -> None:
    desk = Desk(feed_server, webhook_server, make_settings, outlets=20)
    steady_history(desk)
    desk.cycle()
    desk.story(desk.clock.now + timedelta(minutes=5), outlet=0, copies=20)
    desk.hour()
    assert desk.spike_titles() == []
    with desk.service.repo.engine.connect() as conn:
        hour = conn.execute(
            select(TrendCountRow.stories, TrendCountRow.outlets).where(
                TrendCountRow.hour == (T0 + timedelta(minutes=5)).replace(minute=0)
            )
        ).one()
    assert tuple(hour) == (1, 20)  # one story, twenty outlets


def test_a_growing_surge_gets_one_follow_up_at_the_growth_factor(feed_server, webhook_server, make_settings) -> None:
    desk = Desk(feed_server, webhook_server, make_settings)
    steady_history(desk)
    desk.cycle()
    for added in (6, 3, 4, 2):  # 6 → alert; 9; 13 ≥ 2 × 6 → follow-up; 15
        for i in range(added):
            desk.story(desk.clock.now + timedelta(minutes=5 + i))
        desk.hour()
    titles = desk.spike_titles()
    assert titles == [
        "[cartels] Spike: 6 stories from 6 outlets in 3 h (usual: 2 a day)",
        "[cartels] Spike grows: 13 stories from 12 outlets since 05:00 (usual: 2 a day)",
    ]
    # The dashboard's watchlists page draws the series, its band and both alerts.
    with running(desk.settings, desk.service.repo.engine, clock=desk.clock) as base:
        page = httpx.get(f"{base}/watchlists", timeout=10).text
    assert 'id="spike-watchlist-cartels"' in page and '<svg class="spikes"' in page
    assert '<polygon class="band"' in page and '<polyline class="baseline"' in page
    assert page.count('<circle class="spike"') == 2 and "follow-up: 13 stories" in page


def test_a_slow_rise_over_a_week_raises_no_alert(feed_server, webhook_server, make_settings) -> None:
    desk = Desk(feed_server, webhook_server, make_settings)
    steady_history(desk, days=21, per_day=2)
    # The week before T0 and the day after it: from 2 to 12 stories a day, evenly spread.
    start = T0 - timedelta(days=7)
    rng = random.Random(3)
    for day in range(8):
        per_day = 2 + round(10 * day / 7)
        for k in range(per_day):
            desk.story(start + timedelta(days=day, hours=24 * (k + rng.random()) / per_day))
    desk.cycle()
    for _ in range(24):
        desk.hour()
    assert desk.spike_titles() == []
    # The backtest judges every hour of the rise as the live job would: none either.
    result = backtest(desk.settings, TrendStore(desk.service.repo.engine), start, desk.clock.now)
    assert result.events == []


def test_a_strong_daily_rhythm_raises_no_alert_in_the_mornings(feed_server, webhook_server, make_settings) -> None:
    desk = Desk(feed_server, webhook_server, make_settings)
    rng = random.Random(5)

    def morning(day_start: datetime) -> None:  # 18 stories between 07:00 and 10:00, nothing at night
        if day_start.weekday() >= 5:
            return
        for k in range(18):
            desk.story(day_start + timedelta(hours=7 + 3 * (k + rng.random()) / 18))

    midnight = T0.replace(hour=0, minute=0)
    for day in range(21, 0, -1):
        morning(midnight - timedelta(days=day))
    for day in range(3):
        morning(midnight + timedelta(days=day))
    desk.cycle()
    for _ in range(3 * 24):
        desk.hour()
    assert desk.spike_titles() == []
    result = backtest(desk.settings, TrendStore(desk.service.repo.engine), midnight - timedelta(days=14),
                      desk.clock.now)
    assert result.events == []


def test_entity_series_and_the_trends_command(feed_server, webhook_server, make_settings, capsys) -> None:
    entities = {"cjng": {"names": ["CJNG"], "spike": {"enabled": True, "channels": ["desk"]}}}
    desk = Desk(feed_server, webhook_server, make_settings, entities=entities,
                watchlist={"keywords": ["cartel"], "entities": ["cjng"], "channels": []})
    steady_history(desk)
    for days in (20, 13, 6):  # the entity's own history: about one story a week
        desk.story(T0 - timedelta(days=days, hours=3), lead="CJNG")
    desk.cycle()
    for i in range(8):
        desk.story(desk.clock.now + timedelta(minutes=3 + i), lead="CJNG")
    desk.hour()
    titles = desk.spike_titles()
    assert "[@cjng] Spike: 8 stories from 8 outlets in 3 h (usual: 1 a week)" in titles
    assert any(t.startswith("[cartels] Spike: 8 stories") for t in titles)

    config = desk.settings.source
    assert main(["trends", "--config", config, "--format", "json", "--since", "30d"]) == 0
    out = json.loads(capsys.readouterr().out)
    series = {(s["kind"], s["name"]): s for s in out["series"]}
    surge_hour = series[("entity", "cjng")]["hours"][-1]
    assert surge_hour["stories"] == 8 and surge_hour["outlets"] == 8
    assert [a["stories"] for a in series[("watchlist", "cartels")]["spikes"]] == [8]
    assert [a["channels"] for a in series[("entity", "cjng")]["spikes"]] == [[{"channel": "desk", "status": "sent"}]]
    assert main(["trends", "--config", config, "--entity", "cjng", "--replay", "--since", "30d"]) == 0
    text = capsys.readouterr().out
    assert "@cjng" in text and "8 stories" in text and "would alert" in text


def _surge(desk: Desk, stories: int = 8, lead: str = "cartel") -> None:
    for i in range(stories):
        desk.story(desk.clock.now + timedelta(minutes=3 + i), lead=lead)
    desk.clock.now += timedelta(hours=1)
    desk.serve()
    desk.service.poll(all_feeds=True)


def test_two_daemons_on_one_database_alert_once(feed_server, webhook_server, make_settings) -> None:
    """Two services (two engines, two JobStores) run the spike job at the same
    moment and again in turn: one alert. On PostgreSQL the advisory lock lets
    one run while the other skips; either way the surge's state and the
    alert's unique key keep a second run from queueing it again."""
    desk = Desk(feed_server, webhook_server, make_settings)
    steady_history(desk)
    desk.cycle()
    other = desk.start()
    _surge(desk)
    barrier = threading.Barrier(2)
    runs: list[object] = []

    def run(service: Service) -> None:
        barrier.wait()
        runs.append(service.spikes())

    threads = [threading.Thread(target=run, args=(s,)) for s in (desk.service, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert any(r is not None for r in runs)
    desk.service.spikes()
    other.spikes()
    desk.service.dispatch()
    other.dispatch()
    assert desk.spike_titles() == ["[cartels] Spike: 8 stories from 8 outlets in 3 h (usual: 2 a day)"]
    # The same alert queued again (a job re-run after a crash between queueing and recording) is dropped.
    trends = TrendStore(desk.service.repo.engine)
    with desk.service.repo.engine.connect() as conn:
        row = conn.execute(select(SpikeAlertRow)).one()._mapping
    keep = {k: row[k] for k in ("channel", "key", "kind", "series", "level", "surge_start", "window_start",
                                "window_end", "stories", "outlets", "per_day", "expected", "score", "detail")}
    assert trends.save({}, [keep], desk.clock.now) == 0
    other.close()


def test_a_digest_channel_hears_of_a_spike_with_its_digest(feed_server, webhook_server, make_settings) -> None:
    desk = Desk(feed_server, webhook_server, make_settings, spike={"channels": ["morning"]},
                channels={"morning": {"mode": "digest", "schedule": "0 13 * * *"}})
    steady_history(desk)
    desk.cycle()
    _surge(desk)
    desk.service.spikes()
    desk.service.dispatch()
    assert desk.spike_titles() == []  # 07:30: the digest is at 13:00
    desk.clock.now = desk.clock.now.replace(hour=13, minute=1)
    desk.service.dispatch()
    assert len(desk.spike_titles()) == 1


def test_storm_control_counts_spike_alerts(feed_server, webhook_server, make_settings) -> None:
    """A channel capped at one alert an hour: the watchlist's spike goes out, the entity's waits for room."""
    entities = {"cjng": {"names": ["CJNG"], "spike": {"enabled": True, "channels": ["capped"]}}}
    desk = Desk(feed_server, webhook_server, make_settings, entities=entities,
                watchlist={"entities": ["cjng"], "channels": [], "spike": {"channels": ["capped"]}},
                channels={"capped": {"max_per_hour": 1}})
    steady_history(desk)
    for days in (20, 13, 6):
        desk.story(T0 - timedelta(days=days, hours=3), lead="CJNG")
    desk.cycle()
    _surge(desk, lead="CJNG")
    desk.service.spikes()
    desk.service.dispatch()
    assert len(desk.spike_titles()) == 1
    desk.clock.now += timedelta(minutes=30)
    desk.service.dispatch()
    assert len(desk.spike_titles()) == 1  # the hour is still full
    desk.clock.now += timedelta(minutes=35)
    desk.service.dispatch()
    assert sorted(t.split("]")[0] for t in desk.spike_titles()) == ["[@cjng", "[cartels"]


def test_runs_between_hourly_ones_judge_only_the_series_new_hits_touched(
    feed_server, webhook_server, make_settings
) -> None:
    entities = {"cjng": {"names": ["CJNG"], "spike": {"enabled": True, "channels": ["desk"]}}}
    desk = Desk(feed_server, webhook_server, make_settings, entities=entities,
                watchlist={"entities": ["cjng"]})
    steady_history(desk)
    for days in (20, 13, 6):
        desk.story(T0 - timedelta(days=days, hours=3), lead="CJNG")
    desk.cycle()  # a full run: both series judged
    again = desk.service.spikes()
    assert again is not None and again.series == 0  # nothing new, nothing open
    desk.story(desk.clock.now + timedelta(minutes=1))  # a cartel story, no CJNG
    desk.clock.now += timedelta(minutes=10)
    desk.serve()
    desk.service.poll(all_feeds=True)
    touched = desk.service.spikes()
    assert touched is not None and touched.series == 1
    desk.clock.now += timedelta(minutes=55)
    full = desk.service.spikes()
    assert full is not None and full.series == 2
