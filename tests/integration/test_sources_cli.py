"""`monitor test --url` reads sources without a feed and says which kind a source is."""

from __future__ import annotations

from pathlib import Path

from monitor.cli import main

SOURCES = Path(__file__).resolve().parents[1] / "data" / "sources"


def test_url_shows_the_kind_of_a_json_feed_served_as_text_plain(feed_server, capsys) -> None:
    url = feed_server.add("/feed.json", (SOURCES / "jsonfeed-1.1.json").read_bytes(), "text/plain")
    assert main(["test", "fentanyl", "--url", url]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == f"{url}: jsonfeed, 4 entries"
    assert "Border security talks resume in Washington" in captured.out


def test_url_reads_a_listing_with_the_configured_feeds_selectors(feed_server, write_config, capsys) -> None:
    url = feed_server.add("/news/", (SOURCES / "listing.html").read_bytes(), "text/html; charset=utf-8")
    feed = {"name": "Courier", "url": url, "type": "html", "items": "article.teaser", "link": "h2 a"}
    path = write_config({"feeds": [feed]})
    assert main(["--config", str(path), "test", "budget", "--url", url, "--feed", "Courier"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == f"{url}: html, 3 entries"
    assert "Council approves the 2027 budget" in captured.out


def test_url_of_an_html_page_says_why_it_is_not_a_source(feed_server, capsys) -> None:
    url = feed_server.add("/", (SOURCES / "page-with-alternate.html").read_bytes(), "text/html")
    assert main(["test", "welcome", "--url", url]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{url}: not a source (not a feed (an HTML page, text/html): the page names its feed ")
    assert err.endswith("; testing the page's text")
