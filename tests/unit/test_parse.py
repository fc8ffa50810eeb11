"""The feedparser adapter: plain text out, only http(s) links, never a local file read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FetchError
from monitor.fetch.parse import html_to_text, parse_feed

DATA = Path(__file__).resolve().parents[1] / "data"
RSS = {"content-type": "application/rss+xml; charset=utf-8"}


def fixture_feed() -> bytes:
    return (DATA / "us-mexico-security.xml").read_bytes()


def test_fixture_entries_become_plain_text_articles() -> None:
    parsed = parse_feed(fixture_feed(), RSS, "http://127.0.0.1/feed.xml")
    assert parsed.title == "Example World News (test fixture)"
    titles = [a.title for a in parsed.articles]
    assert titles == [
        "Trump Administration Torn Over Strategy to Combat Mexican Cartels",
        "Delegación mexicana llega a Washington para negociar acuerdo de seguridad",
        "OPEC+ keeps output steady as oil prices slide",
        "Cartelera de cine: estrenos del fin de semana",
    ]
    first = parsed.articles[0]
    assert first.guid == "news.example.test-2026-11-27-cartel-strategy"
    assert first.link == "http://news.example.test/world/2026/11/us-torn-over-cartel-strategy"
    assert first.published == datetime(2026, 11, 27, 14, 5, tzinfo=UTC)
    assert "<p>" not in first.content and "Sebastian Gorka" in first.content
    assert first.summary.startswith("Tensions between U.S. officials")
    spanish = parsed.articles[1]
    # -0600 is converted to UTC
    assert spanish.published == datetime(2026, 11, 27, 22, 40, tzinfo=UTC)
    assert "crimen organizado" in spanish.content


def test_javascript_links_are_dropped_and_relative_links_resolved() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <link>http://site.example/</link>
    <item><title>Evil</title><link>javascript:alert(1)</link><guid>1</guid></item>
    <item><title>Relative</title><link>/news/2</link><guid>2</guid></item>
    <item><title>Data</title><link>data:text/html,hi</link><guid>3</guid></item>
    </channel></rss>"""
    articles = parse_feed(body, RSS, "http://site.example/feed").articles
    assert [(a.title, a.link) for a in articles] == [
        ("Evil", None),
        ("Relative", "http://site.example/news/2"),
        ("Data", None),
    ]


def test_a_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>LEAKED</title>'
        "<item><title>LEAKED ITEM</title><link>http://x.example/</link></item></channel></rss>"
    )
    with pytest.raises(FetchError) as info:
        parse_feed(str(secret).encode(), {"content-type": "text/plain"}, "http://127.0.0.1/f")
    assert "not a feed" in info.value.reason


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(b"<!DOCTYPE html><html><body><p>Hello</p></body></html>", {"content-type": "text/html"}, "http://h/")
    assert (
        info.value.reason
        == "not a feed (an HTML page, text/html): for a listing page use `type: html` with an `items` selector"
    )


def test_empty_body_is_rejected() -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(b"  \n", RSS, "http://h/")
    assert info.value.reason == "empty response body"


def test_atom_with_html_entities_and_missing_dates() -> None:
    body = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title type="html">Cárteles &amp;amp; &lt;b&gt;armas&lt;/b&gt;</title>
<link href="https://a.example/1"/><id>urn:1</id>
<summary type="html">&lt;p&gt;Uno&lt;/p&gt;&lt;p&gt;Dos &amp;eacute;&lt;/p&gt;</summary></entry>
</feed>""".encode()
    (article,) = parse_feed(body, {"content-type": "application/atom+xml"}, "https://a.example/f").articles
    assert article.title == "Cárteles & armas"
    assert article.summary == "Uno\nDos é"
    assert article.published is None
    assert article.guid == "urn:1"


def test_entry_without_guid_uses_link_then_fingerprint() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>One</title><link>http://x.example/1</link></item>
    <item><title>Two</title><description>no link</description></item>
    </channel></rss>"""
    one, two = parse_feed(body, RSS, "http://x.example/f").articles
    assert one.guid == "http://x.example/1"
    assert two.guid.startswith("sha256:") and two.link is None


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\nb"),
        ("x<script>evil()</script>y", "xy"),
        ("caf&eacute; &amp; t&#233;", "café & té"),
        ("plain   text", "plain text"),
        ("", ""),
        ("tab\there\u00a0nbsp\x0bvt\rcr", "tab here nbsp vt cr"),
        ("bell\x07 and \ufffe gone\x7f", "bell and gone"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_tidy_scans_for_exactly_the_characters_it_changes() -> None:
    """`tidy` translates only texts `_UNTIDY` finds something in: the two must agree."""
    from monitor.fetch import fields

    changed = {chr(code) for code in fields._TIDY_TABLE}
    scanned = {chr(code) for code in range(0x110000) if fields._UNTIDY.match(chr(code))}
    assert scanned == changed
