"""The web app through uvicorn on loopback: API, Atom, /healthz, /metrics, auth and CSRF.

Every test seeds a real database (SQLite, and PostgreSQL when configured),
starts the real ASGI app under uvicorn on a free port and talks HTTP to it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import Engine

from monitor.cli.main import main
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.runtime import RuntimeStatus
from monitor.store.engine import make_engine
from monitor.store.schema import ArticleRow, ArticleSourceRow, DeliveryRow, FeedRow, HitRow, StoryRow
from monitor.web.server import WebThread, make_server
from tests.snippets import marked

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-token-for-tests"

FEEDS = [("Reforma", "https://reforma.example/rss"), ("El Universal", "https://universal.example/rss"),
         ("Wire", "https://wire.example/rss")]


def config(database_url: str, **web: Any) -> dict[str, Any]:
    return {
        "database": database_url,
        "feeds": [{"name": n, "url": u, "tags": ["mexico"]} for n, u in FEEDS],
        "watchlists": [
            {"name": "cartels", "query": "cartel* OR CJNG"},
            {"name": "security", "keywords": ["security agreement"]},
        ],
        "web": web,
    }


def seed(engine: Engine, *, articles: int = 30, now: datetime = NOW) -> dict[str, Any]:
    """Feeds, articles (one story carried by two feeds), hits and deliveries in every state."""
    with engine.begin() as conn:
        feed_ids = [
            conn.execute(
                insert(FeedRow).returning(FeedRow.id),
                {"name": n, "url": u, "config_url": u, "active": True, "created_at": now - timedelta(days=40),
                 "last_polled_at": now - timedelta(minutes=3), "last_success_at": now - timedelta(minutes=3),
                 "next_poll_at": now + timedelta(minutes=12), "consecutive_failures": 0,
                 "last_new_article_at": now - timedelta(hours=1)},
            ).scalar_one()
            for n, u in FEEDS
        ]
        conn.execute(
            FeedRow.__table__.update().where(FeedRow.id == feed_ids[2]).values(
                last_error="HTTP 503 Service Unavailable", last_error_at=now - timedelta(minutes=1),
                consecutive_failures=2, failing_since=now - timedelta(hours=1)))
        story = conn.execute(
            insert(StoryRow).returning(StoryRow.id),
            {"title": "CJNG leader captured", "first_seen_at": now - timedelta(hours=2), "last_seen_at": now - timedelta(hours=1)},
        ).scalar_one()
        hit_ids: list[int] = []
        for i in range(articles):
            feed_id = feed_ids[i % 3]
            in_story = i in (0, 1)
            title = "CJNG leader captured in Jalisco" if in_story else f"Cartel violence report number {i}"
            if i == 5:
                title = "Security agreement signed <script>alert('x')</script>"
            link = f"https://{('reforma', 'universal')[i]}.example/{i}" if in_story else f"https://news.example/{i}"
            article_id = conn.execute(
                insert(ArticleRow).returning(ArticleRow.id),
                {"feed_id": feed_id, "guid": f"g{i}", "link": link, "title": title,
                 "summary": f"Summary {i} about the cártel and México.", "content": "Body text " * 5 + ("zanzibar" if i == 7 else ""),
                 "published_at": now - timedelta(hours=i + 1), "first_seen_at": now - timedelta(hours=i),
                 "story_id": story if in_story else None},
            ).scalar_one()
            conn.execute(insert(ArticleSourceRow), {"article_id": article_id, "feed_id": feed_id, "guid": f"g{i}",
                                                     "link": link, "title": title,
                                                     "first_seen_at": now - timedelta(hours=i)})
            watchlist = "security" if i == 5 else "cartels"
            term = "security agreement" if i == 5 else "cartel"
            hit_id = conn.execute(
                insert(HitRow).returning(HitRow.id),
                {"article_id": article_id, "watchlist": watchlist, "terms": [term], "snippet": f"the **{term}** story {i}",
                 "score": 2.0 + i / 10, "spans": [["title", 0, 6]], "snippets": [marked(f"the **{term}** story <b>{i}</b>")],
                 "found_at": now - timedelta(hours=i), "story_id": story if in_story else None},
            ).scalar_one()
            hit_ids.append(hit_id)
        conn.execute(insert(ArticleSourceRow), {"article_id": hit_ids[0] and 1, "feed_id": feed_ids[2], "guid": "wire-copy",
                                                 "link": "https://wire.example/copy", "title": "copy", "first_seen_at": now})
        base = {"attempts": 0, "done_targets": [], "next_attempt_at": now, "created_at": now - timedelta(minutes=5)}
        failed = conn.execute(insert(DeliveryRow).returning(DeliveryRow.id), {
            **base, "hit_id": hit_ids[2], "channel": "desk", "status": "failed", "attempts": 5,
            "last_error": "mailtos://desk:****@smtp.example.org: 550 mailbox unavailable"}).scalar_one()
        conn.execute(insert(DeliveryRow), {**base, "hit_id": hit_ids[3], "channel": "desk", "status": "pending"})
        conn.execute(insert(DeliveryRow), {**base, "hit_id": hit_ids[4], "channel": "slack", "status": "sent", "sent_at": now})
    return {"feeds": feed_ids, "story": story, "hits": hit_ids, "failed_delivery": failed}


@contextmanager
def running(settings: Settings, engine: Engine | None = None, status: RuntimeStatus | None = None,
            clock: Callable[[], datetime] | None = None) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    server = make_server(settings, engine=engine, status=status, listen="127.0.0.1:0")
    if clock is not None:
        server.config.app.state.web.clock = clock  # type: ignore[union-attr]
    web = WebThread(server).start()
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        web.stop()


@pytest.fixture
def seeded(database_url: str, make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, Engine, dict[str, Any]]]:
    settings = make_settings({k: v for k, v in config(database_url).items() if k != "database"})
    engine = make_engine(settings.database)
    ids = seed(engine)
    yield settings, engine, ids
    engine.dispose()


@contextmanager
def serving(settings: Settings, engine: Engine, **kwargs: Any) -> Iterator[httpx.Client]:
    with running(settings, engine, clock=lambda: NOW, **kwargs) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


# --- API ------------------------------------------------------------------------------


def test_api_hits_pages_with_a_cursor_and_filters(seeded: Any) -> None:
    settings, engine, ids = seeded
    with serving(settings, engine) as client:
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
            body = client.get("/api/hits", params={**params, "copies": "1"}).raise_for_status().json()
            seen += [item["id"] for item in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert pages == 5 and len(seen) == 30 == len(set(seen))
        assert seen == ids["hits"]  # newest first (found_at, id): hit i was found i hours ago
        security = client.get("/api/hits", params={"watchlist": "security"}).json()["items"]
        assert [h["title"] for h in security] == ["Security agreement signed <script>alert('x')</script>"]
        feed = client.get("/api/hits", params={"feed": "Wire"}).json()["items"]
        assert {h["feed"] for h in feed} == {"Wire"} and len(feed) == 10
        recent = client.get("/api/hits", params={"since": "270m"}).json()["items"]
        assert len(recent) == 4  # found 0..4 hours ago; the two hits of one story are one
        # Full-text search: accents folded on SQLite, word prefix, AND of words.
        found = client.get("/api/hits", params={"q": "zanzibar"}).json()
        assert len(client.get("/api/hits").json()["items"]) == 29  # one per story and watchlist by default
        assert [h["id"] for h in found["items"]] == [ids["hits"][7]] and found["note"] is None
        assert len(client.get("/api/hits", params={"q": "jalisco captured", "copies": "1"}).json()["items"]) == 2
        assert len(client.get("/api/hits", params={"q": "zanzi*"}).json()["items"]) == 1
        assert client.get("/api/hits", params={"q": '"OR) NEAR( *'}).status_code == 200  # any input is safe
        assert client.get("/api/hits", params={"cursor": "nonsense!"}).status_code == 400
        assert client.get("/api/hits", params={"since": "yesterday-ish"}).status_code == 400


def add_found_together(engine: Engine, feed_ids: list[int]) -> tuple[list[int], int]:
    """Hits found at one moment, as one poll finds them, stored newest-published first (so the
    order stored is not publication order): a second story of three copies (one per feed),
    each a hit of both watchlists, then an article of no story. Returns the story's hit ids
    in the order stored, and the lone hit's id."""
    found = NOW - timedelta(minutes=30)
    pact = []
    with engine.begin() as conn:
        story = conn.execute(
            insert(StoryRow).returning(StoryRow.id),
            {"title": "Border security pact", "first_seen_at": found, "last_seen_at": found},
        ).scalar_one()

        def article(feed_id: int, guid: str, link: str, published: datetime, story_id: int | None) -> int:
            article_id = conn.execute(
                insert(ArticleRow).returning(ArticleRow.id),
                {"feed_id": feed_id, "guid": guid, "link": link, "title": "Cartel truce and security agreement",
                 "summary": "s", "content": "c", "published_at": published, "first_seen_at": found, "story_id": story_id},
            ).scalar_one()
            conn.execute(insert(ArticleSourceRow), {"article_id": article_id, "feed_id": feed_id, "guid": guid,
                                                     "link": link, "title": "pact", "first_seen_at": found})
            return int(article_id)

        def hit(article_id: int, watchlist: str, story_id: int | None) -> int:
            return int(conn.execute(
                insert(HitRow).returning(HitRow.id),
                {"article_id": article_id, "watchlist": watchlist, "terms": [watchlist], "snippet": watchlist,
                 "score": 1.0, "spans": [], "snippets": [], "found_at": found, "story_id": story_id},
            ).scalar_one())

        for n, feed_id in enumerate(feed_ids):
            copy = article(feed_id, f"pact{n}", f"https://{('reforma', 'universal', 'wire')[n]}.example/pact",
                           found - timedelta(hours=n), story)
            pact += [hit(copy, "cartels", story), hit(copy, "security", story)]
        lone = hit(article(feed_ids[2], "lone", "https://wire.example/lone", found - timedelta(hours=5), None), "cartels", None)
    return pact, lone


def test_cli_api_and_dashboard_list_the_same_hits_in_the_same_order(
    seeded: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, engine, ids = seeded
    pact, lone = add_found_together(engine, ids["feeds"])

    def cli(*extra: str) -> list[dict[str, Any]]:
        assert main(["hits", "--config", settings.source, "--format", "json", *extra]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    with serving(settings, engine) as client:
        for cli_args, params in (((), {}), (("--copies",), {"copies": "1"}), (("--watchlist", "security"), {"watchlist": "security"}),
                                 (("--watchlist", "cartels", "--copies"), {"watchlist": "cartels", "copies": "1"})):
            api = client.get("/api/hits", params={"limit": "200", **params}).json()["items"]
            listed = cli(*cli_args)
            assert api == listed, cli_args  # the same records in the same order
            if "copies" not in params:
                page = client.get("/hits", params=params).text
                assert [int(i) for i in re.findall(r'<article class="hit" id="hit-(\d+)"', page)] == [h["id"] for h in api]
    grouped = cli()
    # One hit per story and watchlist, its first stored; hits found together: the last stored first.
    assert [h["id"] for h in grouped][1:4] == [lone, pact[1], pact[0]]  # after hit 0, found at NOW
    assert [h["id"] for h in cli("--copies")][1:8] == [lone, *pact[::-1]]
    assert {h["watchlist"]: h["also_reported_by"] for h in grouped if h["id"] in pact} == {
        "cartels": ["El Universal", "Wire"], "security": ["El Universal", "Wire"]}


def test_api_stories_feeds_watchlists_deliveries(seeded: Any) -> None:
    settings, engine, ids = seeded
    with serving(settings, engine) as client:
        stories = client.get("/api/stories", params={"limit": "200"}).json()["items"]
        assert len(stories) == 29  # two hits of one story are one entry
        story = next(s for s in stories if s["story_id"] == ids["story"])
        assert story["hits"] == 2 and story["hit"]["id"] == ids["hits"][0]
        assert set(story["sources"]) == {"Reforma", "El Universal", "Wire"}
        feeds = {f["name"]: f for f in client.get("/api/feeds").json()["items"]}
        assert feeds["Wire"]["state"] == "failing" and "HTTP 503" in feeds["Wire"]["reason"]
        assert feeds["Reforma"]["state"] == "ok" and feeds["Reforma"]["articles"] == 10
        watchlists = {w["name"]: w for w in client.get("/api/watchlists").json()["items"]}
        assert watchlists["cartels"]["hits_total"] == 29 and len(watchlists["cartels"]["hits_per_day"]) == 30
        assert sum(watchlists["cartels"]["hits_per_day"]) == 29
        unsent = client.get("/api/deliveries").json()["items"]
        assert {(d["status"], d["channel"]) for d in unsent} == {("failed", "desk"), ("pending", "desk")}
        failed = client.get("/api/deliveries", params={"status": "failed"}).json()["items"]
        assert failed[0]["last_error"].endswith("550 mailbox unavailable")
        assert len(client.get("/api/deliveries", params={"status": "all"}).json()["items"]) == 3
        document = client.get("/api/openapi.json").json()
    from openapi_spec_validator import validate

    validate(document)
    assert {"/api/hits", "/api/stories", "/api/feeds", "/api/watchlists", "/api/deliveries"} <= set(document["paths"])


# --- Atom -----------------------------------------------------------------------------


def test_atom_feeds_parse_cleanly(seeded: Any) -> None:
    settings, engine, ids = seeded
    with serving(settings, engine) as client:
        everything = client.get("/feeds/all.atom")
        assert everything.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(everything.content)
        assert parsed.bozo == 0 and parsed.version == "atom10"
        assert len(parsed.entries) == 30
        first = parsed.entries[0]
        assert first.id == f"tag:monitor.localhost,2024:hit:{ids['hits'][0]}"
        assert first.link == "https://reforma.example/0" and "cartel" in first.summary
        assert b"the &lt;mark&gt;cartel&lt;/mark&gt; story &amp;lt;b&amp;gt;0" in everything.content  # escaped twice: HTML in XML
        security = feedparser.parse(client.get("/feeds/security.atom").content)
        assert security.bozo == 0 and [e.title for e in security.entries] == [
            "Security agreement signed <script>alert('x')</script>"
        ]
        again = feedparser.parse(client.get("/feeds/all.atom").content)
        assert [e.id for e in again.entries] == [e.id for e in parsed.entries]  # stable ids
        assert client.get("/feeds/nobody.atom").status_code == 404


# --- HTML pages -----------------------------------------------------------------------


def test_html_pages_escape_feed_text_and_highlight_matches(seeded: Any) -> None:
    settings, engine, ids = seeded
    with serving(settings, engine) as client:
        page = client.get("/hits", params={"watchlist": "security"}).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
        assert "<mark>security agreement</mark> story &lt;b&gt;5&lt;/b&gt;" in page
        hits = client.get("/hits").text
        assert "also reported by: El Universal, Wire" in hits and "2 hits in this story" in hits
        assert "desk: failed" in hits
        for path in ("/feeds", "/feeds?sort=-articles_per_day", "/feeds/Wire", "/watchlists", "/deliveries",
                     f"/hits/{ids['hits'][7]}"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "<svg" in client.get("/watchlists").text
        assert client.get("/feeds?sort=bogus").status_code == 400


def test_try_it_and_retry_need_csrf(seeded: Any) -> None:
    settings, engine, ids = seeded
    with serving(settings, engine) as client:
        page = client.get("/watchlists")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert client.cookies.get("monitor_csrf") == token
        assert "httponly" in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()
        # Without the form token (or with a wrong one): 403, nothing done.
        assert client.post("/watchlists/try", data={"query": "zanzibar"}).status_code == 403
        assert client.post(f"/deliveries/{ids['failed_delivery']}/retry", data={"csrf": "wrong"}).status_code == 403
        tried = client.post("/watchlists/try", data={"query": "zanzibar", "recent": "100", "csrf": token})
        assert tried.status_code == 200 and "1 of 30 articles match" in tried.text
        bad = client.post("/watchlists/try", data={"query": "(cartel", "csrf": token})
        assert "Query error: column" in bad.text
        retried = client.post(f"/deliveries/{ids['failed_delivery']}/retry", data={"csrf": token}, follow_redirects=True)
        assert retried.status_code == 200 and "1 delivery re-queued" in retried.text
        statuses = {d["id"]: d["status"] for d in client.get("/api/deliveries", params={"status": "all"}).json()["items"]}
        assert statuses[ids["failed_delivery"]] == "pending"


# --- security -------------------------------------------------------------------------


def test_non_loopback_without_token_refuses_to_start(database_url: str, make_settings: Callable[..., Settings],
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings({"feeds": [], "watchlists": []})
    with pytest.raises(ConfigError, match=r"web\.token: required"):
        make_server(settings, listen="0.0.0.0:8080")
    assert main(["serve", "--config", settings.source, "--listen", "0.0.0.0:8080"]) == 2
    assert "web.token: required when web.listen is not a loopback address" in capsys.readouterr().err
    path = Path(settings.source)
    path.write_text(path.read_text() + "web:\n  listen: 0.0.0.0:8080\n")
    assert main(["check", "--config", str(path)]) == 2
    assert "web.token: required when web.listen is not a loopback address" in capsys.readouterr().err


def test_token_is_required_when_set(database_url: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({k: v for k, v in config(database_url, token=TOKEN).items() if k != "database"})
    engine = make_engine(settings.database)
    seed(engine)
    with serving(settings, engine) as client:
        for path in ("/api/hits", "/feeds/all.atom", "/metrics"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert TOKEN not in response.text
        assert client.get("/api/hits", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/hits", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/healthz").status_code in (200, 503)  # public
        redirect = client.get("/hits")
        assert redirect.status_code == 303 and redirect.headers["location"].startswith("/login?next=")
        login = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        assert client.post("/login", data={"token": TOKEN}).status_code == 403  # no CSRF token
        assert client.post("/login", data={"token": "nope", "csrf": csrf}).status_code == 401
        signed_in = client.post("/login?next=/feeds", data={"token": TOKEN, "csrf": csrf})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/feeds"
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and TOKEN.lower() not in cookie
        assert client.get("/hits").status_code == 200
        assert client.get("/api/hits").status_code == 200  # the session cookie works for the API too
    engine.dispose()


# --- health and metrics ---------------------------------------------------------------


def test_healthz_follows_the_scheduler_and_the_database(seeded: Any) -> None:
    settings, engine, _ = seeded
    status = RuntimeStatus(poll_tick_seconds=5)
    clock = {"now": NOW}
    with (
        running(settings, engine, status=status, clock=lambda: clock["now"]) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        down = client.get("/healthz")
        assert down.status_code == 503 and "scheduler: not running" in down.json()["reasons"]
        status.scheduler_started(NOW)
        status.poll_ticked(NOW)
        ok = client.get("/healthz")
        assert ok.status_code == 200 and ok.json()["status"] == "ok" and ok.json()["scheduler"] == "running"
        clock["now"] = NOW + timedelta(seconds=3 * 5 + 40 + 1)  # no tick for too long
        stale = client.get("/healthz")
        assert stale.status_code == 503 and stale.json()["reasons"][0].startswith("poll: last tick")
        clock["now"] = NOW
        status.scheduler_stopped()
        assert client.get("/healthz").status_code == 503


def test_healthz_503_when_the_database_is_unreachable(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({"feeds": [], "watchlists": []})
    # A PostgreSQL that is not there: port 9 on loopback refuses connections.
    dead = create_engine("postgresql+psycopg://monitor@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    with running(settings, dead) as base, httpx.Client(base_url=base, timeout=10) as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["database"] == "unreachable" and body["reasons"][0].startswith("database:")


def test_healthz_under_serve_reports_the_last_poll(seeded: Any) -> None:
    settings, engine, _ = seeded
    with serving(settings, engine) as client:
        body = client.get("/healthz").json()
        assert body["status"] == "ok" and body["mode"] == "serve"
        assert body["last_poll_age_seconds"] == pytest.approx(180, abs=1)


def test_daemon_with_web_enabled_serves_health_and_metrics(
    database_url: str, make_settings: Callable[..., Settings], feed_server: Any, wait_for: Any
) -> None:
    import socket

    from monitor.scheduler import run_daemon
    from monitor.service import Service

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = feed_server.add("/rss", (Path(__file__).parents[1] / "data" / "us-mexico-security.xml").read_bytes())
    settings = make_settings({
        "feeds": [{"name": "Fixture", "url": url}],
        "watchlists": [{"name": "cartels", "keywords": ["cartel", "Mexico"]}],
        "web": {"enabled": True, "listen": f"127.0.0.1:{port}"},
    })
    service = Service(settings, echo=lambda _line: None)
    stop = threading.Event()
    thread = threading.Thread(target=run_daemon, args=(service, stop), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=20)

        def polled() -> str | None:
            text = httpx.get(base + "/metrics", timeout=5).text
            return text if re.search(r'monitor_polls_total\{outcome="ok"\} [1-9]', text) else None

        metrics = wait_for(polled, timeout=45)
        assert "monitor_polls_total{outcome=" in metrics
        assert "monitor_outbox_pending" in metrics and "monitor_scheduler_lag_seconds_bucket" in metrics
        assert re.search(r'monitor_hits_total\{watchlist="cartels"\} [1-9]', metrics)
        assert re.search(r"monitor_articles_stored_total [1-9]", metrics)
    finally:
        stop.set()
        thread.join(timeout=30)
        service.close()
    assert not thread.is_alive()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
