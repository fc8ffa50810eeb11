"""Full text on a loopback news site: a summary-only feed whose article pages
carry the story, with menus, related links, comments and a cookie banner
around it, and hostile pages beside them. Every entry is stored and matched;
a page's failure is recorded on its article and retried once; a page slower
than `fulltext.max_wait` re-matches the article when it arrives."""

from __future__ import annotations

import functools
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text

from monitor.fetch.http import Fetcher
from monitor.service import Service
from tests.servers import FakeInternet, wait_for

PUBLIC = "93.184.216.34"  # routed by FakeInternet to the loopback feed server

PARAGRAPHS = [
    "Officials from Washington and Mexico City met on Tuesday to review the security agreement signed last spring.",
    "The talks, held behind closed doors at the foreign ministry, lasted more than six hours, according to two people present.",
    "Both delegations described the meeting as productive, though neither side released a joint statement afterwards.",
    "Mexican negotiators pressed for faster extradition reviews and more intelligence sharing on weapons trafficking.",
    "American officials, for their part, asked for broader access to border inspection data and port records.",
    "A senior official said the delegations also discussed the Tren de Aragua network and its growing role in extortion.",
    "Analysts in both capitals expect a second round of talks before the end of the year, possibly in Monterrey.",
    "The agreement, which replaced an older framework, has been criticised by rights groups for its lack of oversight.",
]


def article_page(title: str, paragraphs: list[str]) -> bytes:
    """A news page as publishers make them: the story inside much that is not the story."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} | The Border Ledger</title>
<script>window.dataLayer = [{{"section": "politics"}}];</script></head>
<body>
<div id="cookie-consent" class="cookie-banner"><p>We use cookies from Cookiebot partners to personalise ads.
<button>Accept all</button></p></div>
<header><nav class="main-menu"><ul>
<li><a href="/politics">Politics</a></li><li><a href="/zetas">Los Zetas archive</a></li>
<li><a href="/world">World</a></li><li><a href="/opinion">Opinion</a></li></ul></nav></header>
<main><article class="story">
<h1>{escape(title)}</h1>
<p class="byline">By Ana Torres · 4 December 2026</p>
{body}
</article>
<aside class="related"><h2>Related stories</h2><ul>
<li><a href="/r/1">Huachicol thefts rise again in Hidalgo</a></li>
<li><a href="/r/2">Port of Manzanillo expands inspections</a></li></ul></aside>
<section id="comments" class="comments"><h2>Comments</h2>
<div class="comment"><p>Nobody remembers the Culiacanazo anymore, it seems.</p></div>
<div class="comment"><p>Another round of talks, another round of nothing.</p></div></section>
</main>
<footer><p>© 2026 The Border Ledger · <a href="/about">About</a> · <a href="/privacy">Privacy</a></p></footer>
</body></html>""".encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """A summary-only feed: (title, link, teaser) per item."""
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<pubDate>Fri, 04 Dec 2026 10:00:00 +0000</pubDate><description>{escape(teaser)}</description></item>"
        for t, link, teaser in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Border Ledger</title>{entries}</channel></rss>'.encode()


@functools.cache
def gzip_bomb() -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as bomb:
        block = b" " * (8 * 1024 * 1024)
        for _ in range(32):
            bomb.write(block)
    return out.getvalue()


WATCHLISTS = [
    {"name": "deep", "keywords": ["Tren de Aragua"]},  # paragraph six only
    {"name": "menu", "keywords": ["Zetas"]},
    {"name": "related", "keywords": ["Huachicol"]},
    {"name": "comments", "keywords": ["Culiacanazo"]},
    {"name": "banner", "keywords": ["Cookiebot"]},
    {"name": "talks", "keywords": ["security agreement"]},  # in every teaser
]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def settings_for(make_settings: Any, feed_url: str, **fulltext: Any) -> Any:
    return make_settings(
        {
            "poll": {
                "interval": "15m",
                "timeout": "3s",
                "connect_timeout": "2s",
                "deadline": "3s",
                "per_host": 10,
                "host_delay": 0,
                "parse_workers": 1,
                "fulltext": "auto",
            },
            "fulltext": {"max_bytes": 1024 * 1024, **fulltext},
            "feeds": [{"name": "Ledger", "url": feed_url}],
            "watchlists": WATCHLISTS,
        }
    )


def on_fake_internet(service: Service, internet: FakeInternet) -> Service:
    """The poller's fetcher (feeds and pages) with fake DNS and routes."""
    poller = service.poller
    poller.fetcher.close()
    poller.fetcher = Fetcher(poller.fetcher.settings, resolve=internet.resolve, network=internet.network)
    poller.pages.fetcher = poller.fetcher
    return service


def rows(database_url: str, sql: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


TEASER = "Officials met to review the security agreement."


def test_full_text_matches_deep_terms_never_boilerplate_and_hostile_pages_lose_nothing(
    feed_server: Any, make_settings: Any, database_url: str
) -> None:
    internet = FakeInternet()
    internet.dns("ledger.example", [PUBLIC])
    internet.route(PUBLIC, feed_server)
    port = feed_server.port
    base = f"http://ledger.example:{port}"
    nested = b"<html><body>" + b"<div>" * 50_000 + b"<p>deep</p>" + b"</div>" * 50_000 + b"</body></html>"
    feed_server.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    feed_server.add("/a/talks.html", article_page("Security talks resume", PARAGRAPHS), content_type="text/html")
    feed_server.add("/a/trickle.html", b"", content_type="text/html")
    feed_server.trickle("/a/trickle.html", article_page("Slow", PARAGRAPHS), 1.0)
    feed_server.add("/a/huge.html", b"<html><body><p>" + b"word " * 400_000 + b"</p></body></html>",
                    content_type="text/html", etag=False)
    feed_server.add("/a/bomb.html", gzip_bomb(), content_type="text/html", etag=False,
                    headers={"Content-Encoding": "gzip"})
    feed_server.redirect("/a/loop-1.html", f"{base}/a/loop-2.html", 302)
    feed_server.redirect("/a/loop-2.html", f"{base}/a/loop-1.html", 302)
    feed_server.add("/inside.html", article_page("Inside", PARAGRAPHS), content_type="text/html")
    feed_server.redirect("/a/sneaky.html", feed_server.url("/inside.html"), 302)  # into 127.0.0.1
    feed_server.add("/a/nested.html", nested, content_type="text/html", etag=False)
    feed_server.add("/a/report.pdf", b"%PDF-1.7\n" + b"0" * 5000, content_type="application/pdf")
    feed_server.add("/a/photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 5000, content_type="image/png")
    feed_server.add("/private/memo.html", article_page("Memo", PARAGRAPHS), content_type="text/html")
    hostile = {
        "/a/trickle.html": "timed out",
        "/a/huge.html": "larger than",
        "/a/bomb.html": "larger than",
        "/a/loop-1.html": "redirects",
        "/a/sneaky.html": "private address 127.0.0.1",
        "/a/nested.html": "",  # any recorded outcome; never a stall or a crash
        "/a/report.pdf": "not an HTML page (application/pdf)",
        "/a/photo.png": "not an HTML page (image/png)",
        "/private/memo.html": "disallowed by robots.txt",
    }
    paths = ["/a/talks.html", *hostile]
    feed_server.add("/feed.xml", rss([(f"Story {i}", base + path, TEASER) for i, path in enumerate(paths)]))
    settings = settings_for(make_settings, f"{base}/feed.xml", retry_after="10m")
    clock = Clock()
    service = on_fake_internet(Service(settings, clock=clock, echo=lambda _line: None), internet)
    try:
        first = service.poll()
        assert (first.feeds_ok, first.new_articles) == (1, len(paths))

        pages = {link.removeprefix(base): (state, reason, page_text, attempts) for link, state, reason, page_text, attempts in rows(
            database_url, "SELECT link, page_state, page_reason, page_text, page_attempts FROM articles")}
        state, reason, page_text, _ = pages["/a/talks.html"]
        assert (state, reason) == ("done", None)
        assert "Tren de Aragua" in page_text and "Monterrey" in page_text
        for boilerplate in ("Zetas", "Huachicol", "Culiacanazo", "Cookiebot", "Accept all", "Privacy"):
            assert boilerplate not in page_text
        for path, expected in hostile.items():
            state, reason, page_text, attempts = pages[path]
            if path == "/a/nested.html" and state == "done":
                continue  # the extractor may read it; what matters is that the poll went on
            assert state == "retry" and attempts == 1, (path, state, reason)
            assert expected in (reason or ""), (path, reason)
            assert page_text == ""

        hits = rows(database_url, "SELECT a.link, h.watchlist, h.matched_in, h.snippet FROM hits h "
                                  "JOIN articles a ON a.id = h.article_id")
        by_watchlist: dict[str, list[tuple[str, str, str]]] = {}
        for link, watchlist, matched_in, snippet in hits:
            by_watchlist.setdefault(watchlist, []).append((link.removeprefix(base), matched_in, snippet))
        assert set(by_watchlist) == {"deep", "talks"}  # never the menu, related links, comments or banner
        assert [(p, m) for p, m, _ in by_watchlist["deep"]] == [("/a/talks.html", "page")]
        assert "Tren de Aragua" in by_watchlist["deep"][0][2]
        assert sorted(p for p, _, _ in by_watchlist["talks"]) == sorted(paths)  # every entry matched on its teaser
        assert all(m == "feed" for _, m, _ in by_watchlist["talks"])
        assert rows(database_url, "SELECT pages_ok, pages_failed FROM feeds") == [(1, 0)]

        # Retried once, after retry_after: failing again ends them `failed`, counted on the feed.
        clock.now += timedelta(minutes=11)

        def retried() -> bool:
            service.poll()  # a slow page is recorded by a later poll than the one that leased it
            states = dict(rows(database_url, "SELECT link, page_state FROM articles"))
            return all(states[base + p] in ("failed", "done") for p in hostile)

        wait_for(retried, timeout=60, interval=0.1, message="every hostile page retried")
        states = dict(rows(database_url, "SELECT link, page_state FROM articles"))
        failed = [p for p in hostile if states[base + p] == "failed"]
        assert set(hostile) - set(failed) <= {"/a/nested.html"}
        assert rows(database_url, "SELECT pages_ok, pages_failed FROM feeds") == [(1, len(failed))]
        assert len(rows(database_url, "SELECT id FROM hits")) == len(hits)  # nothing matched twice
    finally:
        service.close()


def test_a_page_slower_than_max_wait_is_matched_when_it_arrives_and_only_new_watchlists_alert(
    feed_server: Any, make_settings: Any, database_url: str, webhook_server: Any
) -> None:
    feed_server.add("/robots.txt", b"User-agent: *\nAllow: /\n", content_type="text/plain")
    feed_server.add("/a/talks.html", article_page("Security talks resume", PARAGRAPHS), content_type="text/html")
    feed_server.add("/feed.xml", rss([("Security talks resume", feed_server.url("/a/talks.html"), TEASER)]))
    data = {
        "poll": {"interval": "15m", "timeout": "5s", "connect_timeout": "2s", "deadline": "6s",
                 "per_host": 4, "host_delay": 0, "parse_workers": 1, "fulltext": "auto"},
        "fulltext": {"max_wait": "1s"},
        "feeds": [{"name": "Ledger", "url": feed_server.url("/feed.xml")}],
        "channels": {"desk": {"urls": [f"json://127.0.0.1:{webhook_server.port}/hook"]}},
        "watchlists": [{**w, "channels": ["desk"]} for w in WATCHLISTS],
    }
    service = Service(make_settings(data), echo=lambda _line: None)
    feed_server.delay = 1.5  # each answer: robots.txt then the page take longer than max_wait
    found = 0

    def page_in() -> bool:
        nonlocal found
        found += service.poll().hits  # the poll after the one that stored the entry records the page
        return rows(database_url, "SELECT page_state FROM articles") == [("done",)]

    try:
        wait_for(page_in, timeout=30, interval=0.1, message="the late page recorded")
        service.dispatch()
    finally:
        service.close()
    stored = rows(database_url, "SELECT page_state, page_attempts, page_text FROM articles")
    assert [(s, n) for s, n, _ in stored] == [("done", 1)]  # pending after the wait, fetched after the feed was stored
    assert "Tren de Aragua" in stored[0][2]
    hits = rows(database_url, "SELECT watchlist, matched_in FROM hits ORDER BY id")
    assert hits == [("talks", "feed"), ("deep", "page")]  # the teaser's hit first; the page's later
    assert found == 2
    posts = [json.dumps(post.json, ensure_ascii=False) for post in webhook_server.posts_to("/hook")]
    assert len(posts) == 2  # one alert per watchlist, each sent once
    assert sum("[deep]" in p for p in posts) == 1 and sum("[talks]" in p for p in posts) == 1
