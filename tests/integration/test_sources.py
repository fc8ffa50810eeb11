"""Sources without a feed, through the real daemon side: a JSON Feed, a news
sitemap and an HTML listing page beside a summary-only RSS feed, on one
loopback news site. One article reached through all four is one article,
one story, one page fetch and one alert; each feed's kind is recorded."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text

from monitor.service import Service
from tests.integration.test_fulltext import PARAGRAPHS, TEASER, article_page, rss

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


def json_feed(items: list[tuple[str, str, str]]) -> bytes:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Ledger (JSON)",
            "items": [
                {"id": link, "url": link, "title": title, "content_text": teaser,
                 "date_published": "2026-12-04T10:00:00Z"}
                for title, link, teaser in items
            ],
        }
    ).encode()


def news_sitemap(items: list[tuple[str, str]]) -> bytes:
    urls = "".join(
        f"<url><loc>{escape(link)}</loc><news:news><news:publication><news:name>Ledger</news:name>"
        f"<news:language>en</news:language></news:publication>"
        f"<news:publication_date>2026-12-04T10:00:00Z</news:publication_date>"
        f"<news:title>{escape(title)}</news:title></news:news></url>"
        for title, link in items
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">{urls}</urlset>'.encode()


def listing(items: list[tuple[str, str]]) -> bytes:
    teasers = "".join(
        f'<article class="teaser"><h2><a href="{escape(path)}">{escape(title)}</a></h2>'
        f'<time datetime="2026-12-04T10:00:00Z">4 December 2026</time><p class="dek">{escape(TEASER)}</p></article>'
        for title, path in items
    )
    return f"""<!doctype html><html><head><title>Latest | Ledger</title></head><body>
<nav><a href="/">Home</a><a href="/politics">Politics</a></nav>
<main><h1>Latest news</h1>{teasers}</main><footer><a href="/about">About</a></footer></body></html>""".encode()


def rows(database_url: str, sql: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_one_story_through_four_kinds_of_source_is_one_article_one_page_fetch_one_alert(
    feed_server: Any, webhook_server: Any, make_settings: Any, database_url: str
) -> None:
    talks = feed_server.url("/a/talks.html")
    other = feed_server.url("/a/port.html")
    feed_server.add("/robots.txt", b"User-agent: *\nAllow: /\n", content_type="text/plain")
    feed_server.add("/a/talks.html", article_page("Security talks resume", PARAGRAPHS), content_type="text/html")
    feed_server.add("/a/port.html", article_page("Port inspections", PARAGRAPHS[:3]), content_type="text/html")
    feed_server.add("/rss.xml", rss([("Security talks resume", talks, TEASER)]))
    # Served as plain text: told apart by content.
    feed_server.add("/feed.json", json_feed([("Security talks resume", talks, TEASER)]), content_type="text/plain")
    feed_server.add("/news-sitemap.xml", news_sitemap([("Security talks resume", talks), ("Port inspections", other)]),
                    content_type="application/xml")
    feed_server.add("/latest", listing([("Security talks resume", "/a/talks.html")]), content_type="text/html")
    data = {
        "poll": {"interval": "15m", "timeout": "5s", "connect_timeout": "2s", "per_host": 4, "host_delay": 0,
                 "parse_workers": 1, "fulltext": "auto"},
        "feeds": [
            {"name": "Ledger RSS", "url": feed_server.url("/rss.xml")},
            {"name": "Ledger JSON", "url": feed_server.url("/feed.json")},
            {"name": "Ledger sitemap", "url": feed_server.url("/news-sitemap.xml")},
            {"name": "Ledger latest", "url": feed_server.url("/latest"), "type": "html",
             "items": "article.teaser", "title": "h2", "link": "h2 a", "date": "time", "summary": "p.dek"},
        ],
        "channels": {"desk": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}},
        "watchlists": [{"name": "deep", "keywords": ["Tren de Aragua"], "channels": ["desk"]}],
    }
    service = Service(make_settings(data), echo=lambda _line: None)
    try:
        summary = service.poll()
        service.dispatch()
    finally:
        service.close()

    assert summary.feeds_ok == 4, summary
    kinds = dict(rows(database_url, "SELECT name, kind FROM feeds"))
    assert kinds == {"Ledger RSS": "rss", "Ledger JSON": "jsonfeed", "Ledger sitemap": "sitemap",
                     "Ledger latest": "html"}
    articles = rows(database_url, "SELECT link, page_state, story_id FROM articles ORDER BY link")
    assert [(link, state) for link, state, _ in articles] == [(other, "done"), (talks, "done")]
    sources = rows(database_url, "SELECT count(*) FROM article_sources s JOIN articles a ON a.id = s.article_id "
                                 f"WHERE a.link = '{talks}'")
    assert sources == [(4,)]  # one article, carried by the four sources
    assert feed_server.count("/a/talks.html") == 1  # one page fetch, whichever feeds carry it
    hits = rows(database_url, "SELECT watchlist, matched_in FROM hits")
    assert hits == [("deep", "page")]
    posts = webhook_server.posts_to("/hook")
    assert len(posts) == 1 and "Security talks resume" in json.dumps(posts[0].json)
