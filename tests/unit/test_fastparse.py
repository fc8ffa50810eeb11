"""The ElementTree fast path gives exactly the ParsedFeed the feedparser path gives.

Every case is parsed twice, with `parse._fast_path` on and off, and the two
results must be equal; `fast` says whether the fast path must (True) or must
not (False) have taken the body, so fallbacks are checked too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import FetchError
from monitor.fetch import parse
from monitor.fetch.parse import parse_feed

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2026, 11, 29, tzinfo=UTC)
URL = "http://feeds.example.test/dir/feed.xml"
XML = {"content-type": "application/xml"}
NS = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
)


def both(body: bytes, headers: dict[str, str] | None = None, url: str = URL) -> tuple[Any, bool]:
    """(result, whether the fast path took it); asserts both paths agree."""
    taken: list[bool] = []
    real = parse.fast_parse

    def spy(*args: object) -> object:
        result = real(*args)  # type: ignore[arg-type]
        taken.append(result is not None)
        return result

    results = []
    for fast in (True, False):
        saved = parse._fast_path, parse.fast_parse
        parse._fast_path, parse.fast_parse = fast, spy
        try:
            results.append(parse_feed(body, headers or XML, url, now=NOW))
        except FetchError as exc:
            results.append(("FetchError", str(exc)))
        finally:
            parse._fast_path, parse.fast_parse = saved
    assert results[0] == results[1]
    return results[0], bool(taken and taken[0])


def rss(items: str, channel: str = "<title>T</title>", *, head: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{head}<rss version="2.0" {NS}><channel>{channel}{items}</channel></rss>'
    ).encode()


def atom(entries: str, feed: str = "<title>T</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:media="http://search.yahoo.com/mrss/">{feed}{entries}</feed>'
    ).encode()


FULL_ITEM = (
    "<item><title>A &amp; B &lt;b&gt;bold&lt;/b&gt;</title><link>https://ex.test/a?x=1&amp;y=2</link>"
    '<guid isPermaLink="false">id-1</guid><pubDate>Tue, 26 Nov 2024 10:00:00 +0100</pubDate>'
    "<dc:creator>Ana López</dc:creator><category>World</category>"
    "<description>&lt;p&gt;Summary &amp;amp; more&lt;/p&gt;</description>"
    "<content:encoded><![CDATA[<p>Body <b>text</b></p><script>x()</script>]]></content:encoded></item>"
)

CASES_FAST = {
    "full rss item": rss(FULL_ITEM),
    "content only": rss(
        "<item><title>t</title><link>http://ex.test/1</link><content:encoded>&lt;p&gt;c&lt;/p&gt;</content:encoded></item>"
    ),
    "description after content": rss(
        "<item><link>http://ex.test/1</link><content:encoded>full</content:encoded><description>short</description></item>"
    ),
    "permalink guid is the link": rss("<item><title>t</title><guid>https://ex.test/p/1</guid></item>"),
    "link beats permalink guid": rss(
        "<item><guid>https://ex.test/g</guid><title>t</title><link>https://ex.test/l</link></item>"
    ),
    "isPermaLink False is not a link": rss(
        '<item><title>t</title><guid isPermaLink="False">https://ex.test/g</guid></item>'
    ),
    "no guid, no link": rss("<item><title>only a title</title><description>d</description></item>"),
    # A permalink guid is joined to the feed URL by feedparser: an absolute link.
    "non-url permalink guid": rss("<item><title>t</title><guid>12345</guid></item>"),
    "relative link": rss("<item><title>t</title><link>/news/1</link></item>"),
    "dot segments": rss("<item><title>t</title><link>https://ex.test/a/../b/./c</link></item>"),
    "dates": rss(
        "".join(
            f"<item><title>{i}</title><link>http://ex.test/{i}</link><pubDate>{d}</pubDate></item>"
            for i, d in enumerate(
                [
                    "Tue, 26 Nov 2024 10:00:00 GMT",
                    "26 Nov 2024 10:00 -0500",
                    "Wed, 1 Jan 2025 00:00:00 -0000",
                    "Mon, 01 Jan 1979 00:00:00 GMT",
                    "Mon, 01 Jan 2035 00:00:00 GMT",
                    "Fri, 27 Nov 2026 23:59:59 UT",
                    "Sat, 28 Nov 2026 10:00:00 Z",
                    "",
                ]
            )
        )
    ),
    "mojibake and cp1252": rss(
        "<item><title>cafÃ© &#150; dash &#x93;q&#x94;</title><link>http://ex.test/m</link>"
        "<description>naïve Ã© mixed</description><dc:creator>José Ã©</dc:creator></item>"
    ),
    "duplicate guids and empty items": rss(
        "<item><guid>https://ex.test/1</guid><title>a</title></item><item><guid>https://ex.test/1</guid><title>b</title></item>"
        "<item><description>   </description></item>"
    ),
    "channel hints and image": rss(
        "<item><title>x</title><link>http://ex.test/x</link></item>",
        "<image><title>img</title><url>http://ex.test/i.png</url><link>http://ex.test/</link></image>"
        "<title> Feed &amp; Co </title><link>http://ex.test/</link><ttl> 30 </ttl>"
        "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"
        '<atom:link href="http://ex.test/feed" rel="self" type="application/rss+xml"/>',
    ),
    "media and source": rss(
        '<item><title>m</title><link>http://ex.test/m</link><source url="http://src.test/">Src</source>'
        '<media:content url="http://ex.test/v.mp4"><media:thumbnail url="http://ex.test/t.jpg"/></media:content>'
        '<enclosure url="http://ex.test/a.mp3" type="audio/mpeg" length="1"/></item>'
    ),
    "author with email": rss(
        "<item><title>t</title><link>http://ex.test/1</link><author>jo@ex.test (Jo)</author></item>"
    ),
    "atom basic": atom(
        '<entry><title type="html">A &amp;amp; &lt;b&gt;B&lt;/b&gt;</title><id>tag:ex.test,2024:1</id>'
        '<link href="https://ex.test/1"/><link rel="replies" href="https://ex.test/1/c"/>'
        "<published>2024-11-26T10:00:00Z</published><updated>2024-11-27T10:00:00.123+02:00</updated>"
        "<author><name>Ann</name><email>ann@ex.test</email></author>"
        '<summary>plain &lt;b&gt; text</summary><content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry>'
    ),
    "atom id is the link": atom("<entry><title>t</title><id>https://ex.test/by-id</id></entry>"),
    "atom tag id, other alternate": atom(
        '<entry><id>urn:uuid:1</id><title>t</title><link rel="alternate" type="application/pdf" href="https://ex.test/x.pdf"/></entry>'
    ),
    "atom text content": atom('<entry><id>x1</id><title>t</title><content type="text">a &lt;b&gt; c</content></entry>'),
    "atom two alternates": atom(
        '<entry><id>x2</id><link href="https://ex.test/a"/><title>t</title><link rel="alternate" href="https://ex.test/b"/></entry>'
    ),
    "atom empty link type and rel": atom(
        '<entry><id>https://ex.test/id</id><title>t</title><link type="" href="https://ex.test/l"/>'
        '<link rel="" href="https://ex.test/r"/><link rel="self" href="https://ex.test/s"/></entry>'
    ),
    "atom updated only, feed author": atom(
        "<entry><id>x3</id><title>t</title><updated>2024-01-02T03:04:05-05:00</updated></entry>",
        "<title>T</title><author><name>F</name></author><link href='http://ex.test/'/><id>urn:f</id>",
    ),
}

CASES_FALLBACK = {
    "undefined entity": rss("<item><title>a&nbsp;b</title><link>http://ex.test/1</link></item>"),
    "doctype": rss("<item><title>t</title><link>http://ex.test/1</link></item>", head='<!DOCTYPE rss SYSTEM "x.dtd">'),
    "rss 1.0": (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="http://ex.test/"><title>T</title></channel>'
        b'<item rdf:about="http://ex.test/1"><title>t</title><link>http://ex.test/1</link></item></rdf:RDF>'
    ),
    "unknown namespace": rss(
        '<item><title>t</title><link>http://ex.test/1</link><x:title xmlns:x="urn:x">other</x:title></item>'
    ),
    "dc title": rss("<item><title>t</title><link>http://ex.test/1</link><dc:title>other</dc:title></item>"),
    "media title": rss(
        '<item><link>http://ex.test/1</link><media:content url="http://ex.test/v"><media:title>m</media:title></media:content></item>'
    ),
    "xhtml atom": atom(
        '<entry><id>x</id><title>t</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        "<p>hi</p></div></content></entry>"
    ),
    "odd date": rss("<item><title>t</title><link>http://ex.test/1</link><pubDate>2024-11-26 10:00</pubDate></item>"),
    "tag permalink guid, no link": rss("<item><title>t</title><guid>tag:ex.test,2024:1</guid></item>"),
    "two descriptions": rss("<item><title>t</title><description>a</description><description>b</description></item>"),
    "markup in description": rss("<item><title>t</title><description><p>raw</p></description></item>"),
    "xml base": atom('<entry xml:base="http://other.test/"><id>x</id><link href="a"/></entry>'),
    # Declarations and base attributes are found whatever their case.
    "doctype, mixed case": rss("<item><title>t</title><link>http://ex.test/1</link></item>", head="<!DocType rss>"),
    "entity, lower case": rss(
        "<item><title>t</title><link>http://ex.test/1</link></item>", head='<!doctype rss [<!entity x "y">]>'
    ),
    "xml base, upper case": atom('<entry XML:BASE="http://other.test/"><id>x</id><link href="a"/></entry>'),
    "plain base attribute, spaced": atom('<entry\tBase = "http://other.test/"><id>x</id><link href="a"/></entry>'),
    "html served": rss("<item><title>t</title><link>http://ex.test/1</link></item>"),
}


@pytest.mark.parametrize("name", sorted(CASES_FAST))
def test_fast_path_matches_feedparser(name: str) -> None:
    result, fast = both(CASES_FAST[name])
    assert fast, f"{name}: the fast path should have taken this body"
    assert not isinstance(result, tuple) and result.articles


@pytest.mark.parametrize("name", sorted(CASES_FALLBACK))
def test_doubtful_bodies_fall_back_to_feedparser(name: str) -> None:
    headers = {"content-type": "text/html"} if name == "html served" else None
    _, fast = both(CASES_FALLBACK[name], headers)
    assert not fast, f"{name}: the fast path should have left this body to feedparser"


def test_max_entries_and_other_url_agree() -> None:
    body = CASES_FAST["duplicate guids and empty items"]
    for fast in (True, False):
        parse._fast_path = fast
        try:
            got = parse_feed(body, XML, "https://other.test/x", max_entries=1, now=NOW)
        finally:
            parse._fast_path = True
        assert len(got.articles) == 1


def test_benchmark_feed_takes_the_fast_path() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from poll_server import make_feed

    result, fast = both(make_feed(3, 1), {"content-type": "application/rss+xml; charset=utf-8"})
    assert fast and len(result.articles) == 50


@pytest.mark.parametrize(
    "path", sorted(p for p in [*DATA.glob("*.xml"), *(DATA / "hostile").iterdir()] if p.is_file()), ids=lambda p: p.name
)
def test_project_fixtures_agree(path: Path) -> None:
    content_type = {".html": "text/html", ".atom": "application/atom+xml", ".rss": "application/rss+xml"}
    both(path.read_bytes(), {"content-type": content_type.get(path.suffix, "application/xml")})


def test_us_mexico_fixture_takes_the_fast_path() -> None:
    _, fast = both((DATA / "us-mexico-security.xml").read_bytes(), {"content-type": "application/rss+xml"})
    assert fast
