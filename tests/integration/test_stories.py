"""One story, one alert: cross-feed de-duplication through the real pipeline.

Feeds are served from tests/data/stories/corpus.json (original fixture texts:
one wire story in five syndicated versions, two distinct CJNG stories of the
same day, URL variants of one article, ...) by a local feed server; alerts go
to a json:// webhook on loopback; SQLite and PostgreSQL. The clock is frozen.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import func, select

from monitor.cli import main
from monitor.service import Service
from monitor.store.schema import ArticleRow, ArticleSourceRow, DeliveryRow, StoryRow

CORPUS = json.loads((Path(__file__).resolve().parents[1] / "data" / "stories" / "corpus.json").read_text())
ITEMS = {item["id"]: item for item in CORPUS}
S1 = ["s1-wire", "s1-capital-post", "s1-latam-daily", "s1-borderwire", "s1-news-aggregator"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def rss(items: list[dict], title: str = "feed") -> bytes:
    """An RSS 2.0 document for fixture items (paragraphs as <p>, summary as description)."""
    entries = []
    for item in items:
        content = "".join(f"<p>{escape(p)}</p>" for p in item["content"].split("\n") if p)
        published = datetime.fromisoformat(item["published"].replace("Z", "+00:00"))
        entries.append(
            "<item>"
            f"<title>{escape(item['title'])}</title>"
            f"<link>{escape(item['link'])}</link>"
            f'<guid isPermaLink="false">{escape(item.get("guid", item["id"]))}</guid>'
            f"<pubDate>{published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{escape(item['summary'])}</description>"
            + (f"<content:encoded><![CDATA[{content}]]></content:encoded>" if content else "")
            + "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>http://example.test/</link><description>d</description>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode("utf-8")


def setup(feed_server, webhook_server, make_settings, outlets: list[str], watchlists: list[dict], **extra):
    feeds = [{"name": name, "url": feed_server.add(f"/{name}.xml", rss([], name))} for name in outlets]
    config = {
        # All feeds are on one loopback host: no politeness delay between them.
        "poll": {"interval": "15m", "timeout": "5s", "connect_timeout": "2s", "host_delay": 0, "per_host": 10},
        "feeds": feeds,
        "channels": {"desk": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}},
        "watchlists": [{**w, "channels": ["desk"]} for w in watchlists],
        **extra,
    }
    return make_settings(config)


def serve(feed_server, outlet: str, item_ids: list[str], **overrides) -> None:
    items = [{**ITEMS[i], **overrides.get(i, {})} for i in item_ids]
    feed_server.add(f"/{outlet}.xml", rss(items, outlet))


def alerts(webhook_server) -> list[str]:
    return [p.json["title"] for p in webhook_server.posts_to("/hook")]


SECURITY = {"name": "security", "query": "(security OR seguridad) AND (Mexico OR México OR Mexican)"}
CJNG = {"name": "cjng", "keywords": ["Jalisco New Generation Cartel", "CJNG", "Cártel Jalisco Nueva Generación"]}


def test_one_wire_story_in_five_outlets_is_one_alert_with_five_sources(
    feed_server, webhook_server, make_settings, capsys
) -> None:
    outlets = [ITEMS[i]["feed"] for i in S1]
    settings = setup(feed_server, webhook_server, make_settings, outlets, [SECURITY])
    clock = Clock()
    # The wire and two copies in one cycle ...
    for item in S1[:3]:
        serve(feed_server, ITEMS[item]["feed"], [item])
    first = Service(settings, clock=clock, echo=lambda _: None)
    assert first.poll(all_feeds=True).new_articles == 3
    first.dispatch()
    assert len(alerts(webhook_server)) == 1
    # ... the edited copy and the summary-only one later, in a restarted process:
    # the story index is in the database.
    clock.now += timedelta(minutes=40)
    for item in S1[3:]:
        serve(feed_server, ITEMS[item]["feed"], [item])
    second = Service(settings, clock=clock, echo=lambda _: None)
    summary = second.poll(all_feeds=True)
    assert summary.new_articles == 2 and summary.hits >= 1  # stored and matched ...
    second.dispatch()
    assert len(alerts(webhook_server)) == 1  # ... never alerted again

    with second.repo.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(StoryRow)) == 1
        assert conn.scalar(select(func.count()).select_from(ArticleRow)) == 5
    hits = second.repo.list_hits()
    assert len(hits) == 1
    assert hits[0].outlets == 5
    assert {s.feed for s in hits[0].sources} == set(outlets)
    assert hits[0].sources[0].feed == hits[0].feed  # its own outlet first
    copies = second.repo.list_hits(by_story=False)  # every copy that matched, one story
    assert len(copies) > 1 and {h.story_id for h in copies} == {hits[0].story_id}

    # The CLI shows one story with its sources.
    assert main(["hits", "--format", "json", "--config", settings.source]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["outlets"] == 5 and len(record["also_reported_by"]) == 4
    assert sorted(s["feed"] for s in record["sources"]) == sorted(outlets)
    assert main(["hits", "--config", settings.source]) == 0
    assert "+4: " in capsys.readouterr().out


def test_two_stories_about_the_same_cartel_on_the_same_day_are_two_alerts(
    feed_server, webhook_server, make_settings
) -> None:
    s2 = [i for i in ITEMS if ITEMS[i]["story"] == "s2"]
    s3 = [i for i in ITEMS if ITEMS[i]["story"] == "s3" and ITEMS[i]["kind"] != "url-variant"]
    by_outlet: dict[str, list[str]] = {}
    for item in s2 + s3:
        by_outlet.setdefault(ITEMS[item]["feed"], []).append(item)
    settings = setup(feed_server, webhook_server, make_settings, sorted(by_outlet), [CJNG])
    for outlet, items in by_outlet.items():
        serve(feed_server, outlet, items)
    service = Service(settings, clock=Clock(), echo=lambda _: None)
    assert service.poll(all_feeds=True).new_articles == len(s2) + len(s3)
    service.dispatch()
    titles = alerts(webhook_server)
    assert len(titles) == 2, titles
    hits = service.repo.list_hits()
    assert sorted(h.outlets for h in hits) == sorted([len(s2), len(s3)])
    assert len({h.story_id for h in hits}) == 2


def test_url_variants_of_one_article_are_one_article_with_both_sources(
    feed_server, webhook_server, make_settings
) -> None:
    variants = [i for i in ITEMS if ITEMS[i]["kind"] == "url-variant"]
    targets = [ITEMS[i]["same_as"] for i in variants]
    by_outlet: dict[str, list[str]] = {}
    for item in targets + variants:
        by_outlet.setdefault(ITEMS[item]["feed"], []).append(item)
    settings = setup(feed_server, webhook_server, make_settings, sorted(by_outlet), [SECURITY, CJNG])
    service = Service(settings, clock=Clock(), echo=lambda _: None)
    # The originals first, then the variants through another feed.
    for outlet, items in by_outlet.items():
        serve(feed_server, outlet, [i for i in items if i in targets])
    service.poll(all_feeds=True)
    for outlet, items in by_outlet.items():
        serve(feed_server, outlet, items)
    summary = service.poll(all_feeds=True)
    assert summary.new_articles == 0
    with service.repo.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ArticleRow)) == len(targets)
        sources = conn.execute(
            select(ArticleRow.link, func.count()).join(ArticleSourceRow).group_by(ArticleRow.link)
        ).all()
    assert sorted(count for _, count in sources) == [2] * len(targets)


def test_an_updated_entry_alerts_only_for_the_watchlist_it_newly_matches(
    feed_server, webhook_server, make_settings
) -> None:
    item = "s4-wire"
    extra = {"name": "fentanyl", "keywords": ["fentanilo", "carfentanil"]}
    settings = setup(feed_server, webhook_server, make_settings, [ITEMS[item]["feed"]], [SECURITY, extra])
    serve(feed_server, ITEMS[item]["feed"], [item])
    clock = Clock()
    service = Service(settings, clock=clock, echo=lambda _: None)
    assert service.poll(all_feeds=True).new_articles == 1
    service.dispatch()
    assert [t.startswith("[security]") for t in alerts(webhook_server)] == [True]

    # Same guid, a corrected text that now names carfentanil.
    changed = ITEMS[item]["content"] + "\nOfficials later said the seized shipment also contained carfentanil."
    clock.now += timedelta(minutes=20)
    serve(feed_server, ITEMS[item]["feed"], [item], **{item: {"content": changed}})
    summary = service.poll(all_feeds=True)
    assert summary.new_articles == 0 and summary.hits == 1
    service.dispatch()
    titles = alerts(webhook_server)
    assert len(titles) == 2 and titles[1].startswith("[fentanyl]")
    with service.repo.engine.connect() as conn:
        row = conn.execute(select(ArticleRow.content, ArticleRow.updated_at)).one()
    assert "carfentanil" in row.content and row.updated_at is not None

    # Polled again unchanged: nothing new, nothing sent.
    clock.now += timedelta(minutes=20)
    assert service.poll(all_feeds=True).hits == 0
    service.dispatch()
    assert len(alerts(webhook_server)) == 2


def copy_of_wire(n: int) -> dict:
    """The wire story as carried by outlet n (its own host and boilerplate)."""
    wire = ITEMS["s1-wire"]
    return {
        **wire,
        "id": f"outlet{n}-copy",
        "feed": f"outlet{n}",
        "title": f"Outlet {n}: {wire['title']}",
        "link": f"https://www.outlet{n}.example/world/us-mexico-security-{n}?utm_source=rss",
        "content": f"Read outlet {n} every morning for the region's news.\n{wire['content']}\n© Outlet {n}",
    }


def test_a_story_that_keeps_spreading_escalates_once(feed_server, webhook_server, make_settings) -> None:
    outlets = ["wire"] + [f"outlet{n}" for n in range(1, 9)]
    settings = setup(
        feed_server,
        webhook_server,
        make_settings,
        outlets,
        [SECURITY],
        dedup={"escalate_after": 5, "escalate_window": "1h"},
    )
    for n in range(1, 9):
        ITEMS[f"outlet{n}-copy"] = copy_of_wire(n)
    clock = Clock()
    service = Service(settings, clock=clock, echo=lambda _: None)
    serve(feed_server, "wire", ["s1-wire"])
    service.poll(all_feeds=True)
    service.dispatch()
    assert len(alerts(webhook_server)) == 1

    # Four more outlets: not yet.
    clock.now += timedelta(minutes=10)
    for n in range(1, 5):
        serve(feed_server, f"outlet{n}", [f"outlet{n}-copy"])
    service.poll(all_feeds=True)
    service.dispatch()
    assert len(alerts(webhook_server)) == 1
    # The fifth within the hour: one follow-up, naming the count.
    clock.now += timedelta(minutes=10)
    serve(feed_server, "outlet5", ["outlet5-copy"])
    service.poll(all_feeds=True)
    service.dispatch()
    titles = alerts(webhook_server)
    assert len(titles) == 2
    assert "Now reported by 6 outlets" in titles[1]
    # More outlets later: never a second follow-up.
    clock.now += timedelta(minutes=10)
    for n in range(6, 9):
        serve(feed_server, f"outlet{n}", [f"outlet{n}-copy"])
    service.poll(all_feeds=True)
    service.dispatch()
    assert len(alerts(webhook_server)) == 2
    with service.repo.engine.connect() as conn:
        kinds = conn.execute(select(DeliveryRow.kind, func.count()).group_by(DeliveryRow.kind)).all()
        story = conn.execute(select(StoryRow.escalated_outlets)).one()
    assert dict(kinds) == {"alert": 1, "escalation": 1}
    assert story.escalated_outlets == 6


def test_outlets_spread_over_more_than_the_window_do_not_escalate(feed_server, webhook_server, make_settings) -> None:
    outlets = ["wire"] + [f"outlet{n}" for n in range(1, 6)]
    settings = setup(feed_server, webhook_server, make_settings, outlets, [SECURITY], dedup={"escalate_window": "1h"})
    for n in range(1, 6):
        ITEMS[f"outlet{n}-copy"] = copy_of_wire(n)
    clock = Clock()
    service = Service(settings, clock=clock, echo=lambda _: None)
    serve(feed_server, "wire", ["s1-wire"])
    service.poll(all_feeds=True)
    service.dispatch()
    for n in range(1, 6):  # one outlet every 20 minutes: never five within an hour
        clock.now += timedelta(minutes=20)
        serve(feed_server, f"outlet{n}", [f"outlet{n}-copy"])
        service.poll(all_feeds=True)
        service.dispatch()
    assert len(alerts(webhook_server)) == 1
    assert service.repo.list_hits()[0].outlets == 6


def test_story_keys_past_the_window_are_pruned_and_a_late_copy_starts_a_new_story(
    feed_server, webhook_server, make_settings
) -> None:
    outlets = ["wire", "outlet1"]
    settings = setup(feed_server, webhook_server, make_settings, outlets, [SECURITY], dedup={"window": "1d"})
    ITEMS["outlet1-copy"] = copy_of_wire(1)
    clock = Clock()
    service = Service(settings, clock=clock, echo=lambda _: None)
    serve(feed_server, "wire", ["s1-wire"])
    service.poll(all_feeds=True)
    clock.now += timedelta(days=2)
    assert index_size(service) > 0
    service.housekeeping()
    assert index_size(service) == 0
    serve(feed_server, "outlet1", ["outlet1-copy"])
    service.poll(all_feeds=True)
    service.dispatch()
    assert len(alerts(webhook_server)) == 2  # two days later it is news again
    assert {h.outlets for h in service.repo.list_hits()} == {1}


def index_size(service: Service) -> int:
    """Keys in the story index: SQLite's in memory, PostgreSQL's table."""
    from monitor.store.schema import StoryKeyRow

    memory = service.repo.story_memory
    if memory is not None:
        return memory.count
    with service.repo.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(StoryKeyRow)) or 0)


def wire_story_stored(feed_server, webhook_server, make_settings) -> tuple[Service, Clock]:
    """A service that has stored the wire's story (a copy of it, s1-capital-post, is left to come)."""
    settings = setup(feed_server, webhook_server, make_settings, ["wire", "capital-post"], [SECURITY])
    clock = Clock()
    serve(feed_server, "wire", ["s1-wire"])
    service = Service(settings, clock=clock, echo=lambda _: None)
    service.poll(all_feeds=True)
    return service, clock


def copy_joins_the_wire_story(service: Service, feed_server, webhook_server) -> None:
    serve(feed_server, "capital-post", ["s1-capital-post"])
    service.poll(all_feeds=True)
    service.dispatch()
    assert len(alerts(webhook_server)) == 1 and service.repo.list_hits()[0].outlets == 2


def test_a_restart_finds_the_stories_stored_before_it(feed_server, webhook_server, make_settings) -> None:
    """The index outlives the process: SQLite's is rebuilt in memory from
    the keys stored with each article, PostgreSQL's is a table."""
    first, clock = wire_story_stored(feed_server, webhook_server, make_settings)
    keys = index_size(first)
    first.close()
    assert keys > 0
    restarted = Service(first.settings, clock=clock, echo=lambda _: None)
    assert index_size(restarted) == keys
    copy_joins_the_wire_story(restarted, feed_server, webhook_server)


def test_articles_stored_without_keys_are_indexed_at_start(feed_server, webhook_server, make_settings) -> None:
    """Recent articles whose keys are missing (PostgreSQL: rows lost; SQLite:
    stored before keys were kept with articles, migration 0012) get them at
    the next start, and copies find them."""
    from monitor.store.schema import StoryKeyRow

    first, clock = wire_story_stored(feed_server, webhook_server, make_settings)
    keys = index_size(first)
    sqlite = first.repo.story_memory is not None
    with first.repo.engine.begin() as conn:
        if sqlite:
            stored = conn.execute(select(ArticleRow.id, ArticleRow.story_keys)).all()
            conn.execute(ArticleRow.__table__.update().values(story_keys=None))
        else:
            conn.execute(StoryKeyRow.__table__.delete())
    first.close()
    assert keys > 0
    restarted = Service(first.settings, clock=clock, echo=lambda _: None)
    assert index_size(restarted) == keys
    if sqlite:  # the same keys computed again and stored
        with restarted.repo.engine.connect() as conn:
            assert conn.execute(select(ArticleRow.id, ArticleRow.story_keys)).all() == stored
    copy_joins_the_wire_story(restarted, feed_server, webhook_server)


def test_console_watchlists_print_a_story_once(feed_server, webhook_server, make_settings) -> None:
    outlets = [ITEMS[i]["feed"] for i in S1]
    settings = setup(feed_server, webhook_server, make_settings, outlets, [SECURITY])
    settings = settings.model_copy(
        update={"watchlists": tuple(w.model_copy(update={"channels": ()}) for w in settings.watchlists)}
    )
    for item in S1:
        serve(feed_server, ITEMS[item]["feed"], [item])
    printed: list[str] = []
    service = Service(settings, clock=Clock(), echo=printed.append)
    summary = service.poll(all_feeds=True)
    assert summary.hits == 5  # every copy matched and stored ...
    assert len([line for line in printed if line.startswith("HIT")]) == 1  # ... printed once


def test_stories_found_to_be_one_are_merged_whatever_the_arrival_order(
    feed_server, webhook_server, make_settings
) -> None:
    """The summary-only and the edited copy share no index key; the full copy
    arriving last links them, and the two stories become one."""
    s6 = {ITEMS[i]["kind"]: i for i in ITEMS if ITEMS[i]["story"] == "s6"}
    order = [s6["summary"], s6["edited"], s6["copy"]]
    settings = setup(feed_server, webhook_server, make_settings, [ITEMS[i]["feed"] for i in order], [SECURITY, CJNG])
    clock = Clock()
    service = Service(settings, clock=clock, echo=lambda _: None)
    for item in order:
        clock.now += timedelta(minutes=5)
        serve(feed_server, ITEMS[item]["feed"], [item])
        service.poll(all_feeds=True)
    with service.repo.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(StoryRow)) == 1
    hits = service.repo.list_hits()
    assert {h.outlets for h in hits} == {3}
    assert len({h.story_id for h in service.repo.list_hits(by_story=False)}) == 1
