"""Feed text that looks like a highlight is shown as text everywhere.

A publisher's title and text hold `**freed**`, `__today__` and `<mark>`; the
watchlist matches "cartel". The article goes through the real poll cycle and
store (SQLite, and PostgreSQL when configured), then out through every
consumer: email (HTML and text parts, via SMTP), Slack, Discord (markdown)
and Matrix (chat text) via apprise to loopback servers, the dashboard, the
API, the Atom feed and `monitor hits --format json`. Only "cartel" is ever
highlighted; the look-alikes arrive as literal (escaped) text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import unescape
from xml.etree import ElementTree as ET

import httpx
import pytest

from monitor.cli import main
from monitor.service import Service
from monitor.web.server import WebThread, make_server
from tests.servers import SLACK_TOKENS

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
TITLE = "Cartel boss **freed** __today__ <mark>fake</mark>"
TEXT = "The **fake** cartel talks __under__ way <mark>also fake</mark> in Sinaloa."
FEED = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link><description>d</description>
<item><title>{TITLE.replace("<", "&amp;lt;").replace(">", "&amp;gt;")}</title><link>https://wire.example/a/1</link>
<guid>w1</guid><pubDate>Fri, 27 Nov 2026 14:05:00 GMT</pubDate>
<description>{TEXT.replace("<", "&amp;lt;").replace(">", "&amp;gt;")}</description></item>
</channel></rss>""".encode()


@pytest.fixture
def delivered(feed_server, smtp_server, slack_webhook, webhook_server, make_settings, monkeypatch):
    from apprise.plugins.discord import NotifyDiscord

    monkeypatch.setattr(NotifyDiscord, "notify_url", webhook_server.url("/discord"))
    channels = {
        "mail": {"urls": [smtp_server.mailto_url(to="desk@example.org")]},
        "slack": {"urls": [slack_webhook]},
        "discord": {"urls": ["discord://1234/abcdefgh"]},
        "matrix": {"urls": [f"matrix://bot:hooktoken@127.0.0.1:{webhook_server.port}/?mode=matrix"]},
    }
    settings = make_settings({
        "feeds": [{"name": "Wire", "url": feed_server.add("/rss.xml", FEED)}],
        "channels": channels,
        "watchlists": [{"name": "cartels", "keywords": ["cartel"], "channels": list(channels)}],
    })
    service = Service(settings, clock=lambda: NOW, echo=lambda line: None)
    assert service.poll(all_feeds=True).hits == 1
    assert service.dispatch().sent == 4
    return settings


def test_stored_hit_marks_only_the_match(delivered, capsys) -> None:
    assert main(["hits", "--format", "json", "--config", str(delivered.source)]) == 0
    (hit,) = json.loads(capsys.readouterr().out)
    assert hit["title"] == TITLE
    assert hit["highlights"] == [TEXT, TITLE]  # plain text, no markers added
    for parts, text in zip(hit["highlight_parts"], hit["highlights"], strict=True):
        assert "".join(p["text"] for p in parts) == text
        assert [p["text"].casefold() for p in parts if p["match"]] == ["cartel"]


def test_email_html_and_text_show_the_feed_text_literally(delivered, smtp_server) -> None:
    (mail,) = smtp_server.messages
    html = mail.text("html")
    assert [m.casefold() for m in re.findall(r"<mark>(.*?)</mark>", html)] == ["cartel"]
    assert "**freed** __today__ &lt;mark&gt;fake&lt;/mark&gt;" in html
    assert "The **fake**" in html and "&lt;mark&gt;also fake&lt;/mark&gt;" in html
    text = mail.text("plain")
    assert "**fake**" in text and "__under__" in text and "<mark>also fake</mark>" in text
    assert "**freed** __today__" in mail.subject


def test_slack_and_discord_bold_only_the_match(delivered, webhook_server) -> None:
    (slack,) = webhook_server.posts_to("/slack/" + "/".join(SLACK_TOKENS))
    body = slack.json["attachments"][0]["text"]
    (discord,) = webhook_server.posts_to("/discord/1234/abcdefgh")
    content = discord.json["content"]
    for text in (body, content):
        # Our bold (Slack: *x*, Discord: **x**) is only around the match; the
        # feed's asterisks, underscores and brackets are look-alikes.
        assert re.findall(r"\*+([^*]+?)\*+", text) == ["cartels", "cartel"]  # the watchlist, the match
        assert not re.search(r"\*\*?(freed|fake)", text) and "__" not in text and "<mark" not in text
        assert "∗∗fake∗∗" in text and "＿＿under＿＿" in text and "‹mark›also fake‹/mark›" in text


def test_matrix_text_has_no_highlight_markers(delivered, webhook_server) -> None:
    (post,) = webhook_server.posts_to("/api/v1/matrix/hook/hooktoken")
    text = post.json["text"]
    assert "The **fake** cartel talks __under__ way ‹mark›also fake‹/mark›" in text


def test_dashboard_api_and_atom_highlight_only_the_match(delivered) -> None:
    server = make_server(delivered, listen="127.0.0.1:0")
    web = WebThread(server).start()
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            page = client.get("/hits").raise_for_status().text
            api = client.get("/api/hits").raise_for_status().json()
            atom = client.get("/feeds/all.atom").raise_for_status().content
    finally:
        web.stop()
    assert [m.casefold() for m in re.findall(r"<mark>(.*?)</mark>", page)] == ["cartel", "cartel"]
    assert "The **fake** cartel" not in page  # the match is marked…
    assert "The **fake** <mark>cartel</mark> talks __under__ way &lt;mark&gt;also fake&lt;/mark&gt;" in page
    assert "**freed** __today__ &lt;mark&gt;fake&lt;/mark&gt;" in page  # …the look-alikes are text
    (hit,) = api["items"] if isinstance(api, dict) else api
    assert hit["highlights"][0] == TEXT
    summary = ET.fromstring(atom).find(".//{http://www.w3.org/2005/Atom}summary")
    assert summary is not None and summary.text is not None
    html = summary.text  # HTML carried as text in the XML
    assert [m.casefold() for m in re.findall(r"<mark>(.*?)</mark>", html)] == ["cartel", "cartel"]
    assert unescape(re.sub(r"</?mark>", "", html)).replace("<br/>", "\n") == TEXT + "\n" + TITLE
