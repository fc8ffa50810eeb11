"""The whole cycle against real parts on loopback: feed server, SMTP, Slack and
json:// webhooks, SQLite and PostgreSQL. Clocks are frozen where retries are timed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.service import Service
from tests.servers import SLACK_TOKENS, WebhookServer

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = (DATA / "us-mexico-security.xml").read_bytes()
CARTELS = ["cartel", "cartels", "cártel", "cárteles", "CJNG", "crimen organizado"]
SLACK_PATH = "/slack/" + "/".join(SLACK_TOKENS)

ARTICLE = "Trump Administration Torn Over Strategy to Combat Mexican Cartels"
SPANISH = "Delegación mexicana llega a Washington para negociar acuerdo de seguridad"
OPEC = "OPEC+ keeps output steady as oil prices slide"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def base_config(feed_url: str, channels: dict, watch_channels: list[str]) -> dict:
    return {
        "poll": {"interval": "15m", "timeout": "5s", "connect_timeout": "2s"},
        "delivery": {"max_attempts": 5, "retry_delay": "1m"},
        "feeds": [{"name": "Example World News", "url": feed_url, "tags": ["mexico", "en"]}],
        "channels": channels,
        "watchlists": [{"name": "cartels", "keywords": CARTELS, "tags": ["mexico"], "channels": watch_channels}],
    }


@pytest.fixture
def full_setup(feed_server, smtp_server, slack_webhook, webhook_server, make_settings):
    feed_url = feed_server.add("/world/rss.xml", FIXTURE)
    channels = {
        "team-email": {"urls": [smtp_server.mailto_url(to="desk@example.org")]},
        "team-slack": {"urls": [slack_webhook]},
    }
    return make_settings(base_config(feed_url, channels, ["team-email", "team-slack"]))


def new_service(settings, clock=None, echo=None) -> Service:
    printed: list[str] = []
    service = Service(settings, clock=clock or Clock(), echo=echo or printed.append)
    service.printed = printed  # type: ignore[attr-defined]
    return service


def test_full_cycle_alerts_each_hit_once_by_email_and_slack(full_setup, smtp_server, webhook_server) -> None:
    service = new_service(full_setup)
    summary = service.poll(all_feeds=True)
    assert (summary.feeds_ok, summary.new_articles, summary.hits) == (1, 4, 3)
    hit_titles = {h.hit.title for h in summary.new_hits}
    assert hit_titles == {ARTICLE, SPANISH, OPEC}  # never the cartelera item

    sent = service.dispatch()
    assert (sent.sent, sent.failed) == (6, 0)

    mails = smtp_server.messages
    assert len(mails) == 3
    subjects = sorted(m.subject for m in mails)
    assert subjects == sorted(f"[cartels] {t}" for t in (ARTICLE, SPANISH, OPEC))
    assert all(m.rcpt_tos == ["desk@example.org"] for m in mails)
    article_mail = next(m for m in mails if ARTICLE in m.subject)
    body = article_mail.text("plain")
    assert "http://news.example.test/world/2026/11/us-torn-over-cartel-strategy" in body
    assert "Source: Example World News" in body
    assert "Matched: cartels" in body

    posts = webhook_server.posts_to(SLACK_PATH)
    assert len(posts) == 3
    texts = [json.dumps(p.json, ensure_ascii=False) for p in posts]
    assert sum(ARTICLE in t for t in texts) == 1
    assert any("cárteles" in t and "crimen organizado" in t for t in texts)

    # A second cycle finds nothing new and sends nothing.
    assert service.poll(all_feeds=True).new_articles == 0
    assert service.dispatch().sent == 0
    # A restarted process on the same database neither.
    again = new_service(full_setup)
    assert again.poll(all_feeds=True).hits == 0
    assert again.dispatch().sent == 0
    assert len(smtp_server.messages) == 3
    assert len(webhook_server.posts_to(SLACK_PATH)) == 3


def test_second_poll_uses_conditional_get_and_304(feed_server, make_settings) -> None:
    url = feed_server.add("/feed.xml", FIXTURE, last_modified="Fri, 27 Nov 2026 18:00:00 GMT")
    service = new_service(make_settings(base_config(url, {}, [])))
    assert service.poll(all_feeds=True).new_articles == 4
    second = service.poll(all_feeds=True)
    assert (second.not_modified, second.feeds_ok, second.new_articles) == (1, 0, 0)
    assert feed_server.statuses("/feed.xml") == [200, 304]
    conditional = feed_server.requests_to("/feed.xml")[1].headers
    assert conditional["if-none-match"] == feed_server.etag("/feed.xml")
    assert conditional["if-modified-since"] == "Fri, 27 Nov 2026 18:00:00 GMT"
    assert "monitor/" in conditional["user-agent"]


def test_console_output_when_a_watchlist_has_no_channel(feed_server, make_settings) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    service = new_service(make_settings(base_config(url, {}, [])))
    service.poll(all_feeds=True)
    lines = service.printed  # type: ignore[attr-defined]
    assert len(lines) == 3
    assert any(line.startswith(f"HIT [cartels] {ARTICLE}") for line in lines)


def test_broken_feeds_beside_a_good_one(feed_server, make_settings) -> None:
    good = feed_server.add("/good.xml", FIXTURE)
    html = feed_server.add("/page.html", b"<html><body>Not a feed</body></html>", content_type="text/html")
    gone = feed_server.set_status("/gone.xml", 500, b"boom")
    config = base_config(good, {}, [])
    config["feeds"] += [
        {"name": "HTML page", "url": html, "tags": ["mexico"]},
        {"name": "Server error", "url": gone, "tags": ["mexico"]},
        {"name": "Refused", "url": "http://127.0.0.1:9/rss.xml", "tags": ["mexico"]},
    ]
    service = new_service(make_settings(config))
    summary = service.poll(all_feeds=True)
    assert (summary.feeds_ok, summary.feeds_failed, summary.hits) == (1, 3, 3)
    health = {h.name: h for h in service.repo.feed_health()}
    assert health["Example World News"].consecutive_failures == 0
    assert health["Example World News"].articles == 4
    assert health["HTML page"].last_error == (
        "not a feed (an HTML page, text/html): for a listing page use `type: html` with an `items` selector"
    )
    assert health["Server error"].last_error == "HTTP 500 Internal Server Error"
    assert health["Refused"].last_error == "connection refused"
    service.poll(all_feeds=True)
    assert {h.name: h.consecutive_failures for h in service.repo.feed_health()} == {
        "Example World News": 0,
        "HTML page": 2,
        "Server error": 2,
        "Refused": 2,
    }
    # Recovery clears the failure count.
    feed_server.set("/gone.xml", FIXTURE.replace(b'<guid isPermaLink="false">', b'<guid isPermaLink="false">x-'))
    service.poll(all_feeds=True)
    recovered = {h.name: h for h in service.repo.feed_health()}["Server error"]
    assert (recovered.consecutive_failures, recovered.last_error) == (0, None)


def test_a_hung_feed_is_cut_off_by_the_deadline(feed_server, make_settings) -> None:
    good = feed_server.add("/good.xml", FIXTURE)
    slow = feed_server.hang("/slow.xml", 30)
    config = base_config(good, {}, [])
    config["poll"] = {"timeout": "1s", "connect_timeout": "1s"}
    config["feeds"].append({"name": "Slow", "url": slow})
    service = new_service(make_settings(config))
    summary = service.poll(all_feeds=True)
    assert (summary.feeds_ok, summary.feeds_failed) == (1, 1)
    slow_health = {h.name: h for h in service.repo.feed_health()}["Slow"]
    assert "timed out" in slow_health.last_error


def test_endpoint_down_then_up_is_delivered_exactly_once(feed_server, webhook_server, make_settings) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    hook = f"json://127.0.0.1:{webhook_server.port}/hook"
    settings = make_settings(base_config(url, {"hook": {"urls": [hook]}}, ["hook"]))
    clock = Clock()
    service = new_service(settings, clock)
    webhook_server.stop()
    service.poll(all_feeds=True)
    first = service.dispatch()
    assert (first.sent, first.failed) == (0, 3)
    counts = service.outbox.counts()
    assert counts == {"pending": 3}
    # Not due yet: nothing is attempted.
    webhook_server.start()
    assert service.dispatch().sent == 0
    assert webhook_server.posts == []
    clock.advance(120)
    assert service.dispatch().sent == 3
    assert service.dispatch().sent == 0
    clock.advance(3600)
    assert service.dispatch().sent == 0
    assert len(webhook_server.posts_to("/hook")) == 3
    assert service.outbox.counts() == {"sent": 3}


def test_failed_send_is_given_up_after_max_attempts(feed_server, webhook_server, make_settings) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    hook = f"json://127.0.0.1:{webhook_server.port}/hook"
    config = base_config(url, {"hook": {"urls": [hook]}}, ["hook"])
    config["delivery"] = {"max_attempts": 2, "retry_delay": "1m"}
    clock = Clock()
    service = new_service(make_settings(config), clock)
    webhook_server.fail_next(100, status=503)
    service.poll(all_feeds=True)
    assert service.dispatch().failed == 3
    clock.advance(3600)
    result = service.dispatch()
    assert (result.failed, result.gave_up) == (3, 3)
    clock.advance(86400)
    assert service.dispatch().failed == 0
    assert service.outbox.counts() == {"failed": 3}
    assert len(webhook_server.attempts) == 6


def test_partial_channel_failure_does_not_resend_to_the_url_that_worked(
    feed_server, webhook_server, make_settings
) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    with WebhookServer() as other:
        ok = f"json://127.0.0.1:{webhook_server.port}/ok"
        bad = f"json://127.0.0.1:{other.port}/bad"
        clock = Clock()
        settings = make_settings(base_config(url, {"both": {"urls": [ok, bad]}}, ["both"]))
        service = new_service(settings, clock)
        service.poll(all_feeds=True)
        other.stop()
        assert service.dispatch().failed == 3
        assert len(webhook_server.posts_to("/ok")) == 3
        other.start()
        clock.advance(3600)
        assert service.dispatch().sent == 3
        assert len(webhook_server.posts_to("/ok")) == 3
        assert len(other.posts_to("/bad")) == 3


def test_cli_poll_once_then_hits_json(feed_server, smtp_server, write_config, capsys) -> None:
    url = feed_server.add("/feed.xml", FIXTURE)
    config = write_config(base_config(url, {"team-email": {"urls": [smtp_server.mailto_url()]}}, ["team-email"]))
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert len(smtp_server.messages) == 3
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert len(smtp_server.messages) == 3
    capsys.readouterr()
    assert main(["hits", "--format", "json", "--config", str(config)]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert {h["title"] for h in hits} == {ARTICLE, SPANISH, OPEC}
    for hit in hits:
        assert set(hit) >= {"watchlist", "title", "link", "feed", "terms", "snippet", "published", "found_at"}
        assert hit["watchlist"] == "cartels" and hit["feed"] == "Example World News"
    spanish = next(h for h in hits if h["title"] == SPANISH)
    assert spanish["terms"] == ["cárteles", "crimen organizado"]
    assert spanish["published"] == "2026-11-27T22:40:00Z"
    assert "cárteles" in spanish["snippet"] or "crimen organizado" in spanish["snippet"]

    assert main(["hits", "--format", "csv", "--watchlist", "cartels", "--since", "1h", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("id,watchlist,title,link,feed,terms")
    assert len(lines) == 4

    assert main(["feeds", "--format", "json", "--config", str(config)]) == 0
    (feed,) = json.loads(capsys.readouterr().out)
    assert (feed["name"], feed["articles"], feed["consecutive_failures"], feed["state"]) == (
        "Example World News",
        4,
        0,
        "ok",
    )
    assert feed["last_success_at"] and feed["next_poll_at"]


EVIL = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Evil</title>
<item><title>&lt;!channel&gt; Cartel &lt;@U123&gt; &lt;http://evil.example|click&gt; &lt;!here&gt; [x](http://evil.example/md)</title>
<link>http://news.example.test/real-article</link><guid>evil-1</guid>
<description>The cartel &amp; friends &lt;!everyone&gt; say &lt;https://evil.example/2|hi&gt;</description></item>
</channel></rss>"""


def test_feed_text_cannot_ping_or_smuggle_links_into_slack(
    feed_server, slack_webhook, webhook_server, make_settings
) -> None:
    url = feed_server.add("/evil.xml", EVIL)
    config = base_config(url, {"slack": {"urls": [slack_webhook]}}, ["slack"])
    config["watchlists"][0]["tags"] = []
    service = new_service(make_settings(config))
    service.poll(all_feeds=True)
    assert service.dispatch().sent == 1
    (post,) = webhook_server.posts_to(SLACK_PATH)
    payload = json.dumps(post.json, ensure_ascii=False)
    for control in ("<!channel", "<!here", "<!everyone", "<@U123", "http://evil", "https://evil"):
        assert control not in payload
    links = re.findall(r"<(https?://[^|>]+)", payload)
    assert links == ["http://news.example.test/real-article"]
    assert "Cartel" in payload


def test_new_entries_matched_in_the_parse_workers_give_the_same_hits(
    full_setup, make_settings, feed_server, tmp_path, monkeypatch
) -> None:
    """New entries are matched ahead (`core.feedplan.prepare`): the store
    then matches none of them itself, and the hits are the ones it would
    have found — on a first poll and on a later one."""
    import monitor.ingest
    import monitor.poller

    calls: list[str] = []
    real = monitor.ingest.match_article

    def counted(matcher, title, *args, **kwargs):
        calls.append(title)
        return real(matcher, title, *args, **kwargs)

    monkeypatch.setattr(monitor.ingest, "match_article", counted)

    later = FIXTURE.replace(
        b"<item>",
        b"<item><title>CJNG cartel cell dismantled in Jalisco</title><link>https://news.example/cjng</link>"
        b"<guid>cjng-cell</guid><description>Federal forces said the cartel cell ran a lab.</description>"
        b"</item><item>",
        1,
    )

    def hits(settings) -> list[tuple]:
        service = new_service(settings)
        try:
            summary = service.poll(all_feeds=True)
            feed_server.add("/world/rss.xml", later)
            again = service.poll(all_feeds=True)
        finally:
            feed_server.add("/world/rss.xml", FIXTURE)
            service.close()
        assert again.new_articles == 1
        return sorted(
            (h.hit.title, h.hit.watchlist, h.hit.terms, h.hit.snippet, h.hit.snippets)
            for h in [*summary.new_hits, *again.new_hits]
        )

    ahead = hits(full_setup)
    assert calls == [] and len(ahead) == 4
    monkeypatch.setattr(monitor.poller, "PREMATCH_MAX_BYTES", 0)  # watchlists "too big" to send
    config = base_config(feed_server.url("/world/rss.xml"), {}, [])
    in_store = hits(make_settings({**config, "database": f"sqlite:///{tmp_path}/other.db"}))
    assert len(calls) == 5 and in_store == ahead
