"""Format detection by content (`type: auto`), whatever the Content-Type says, and explicit types."""

from __future__ import annotations

import codecs
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FetchError
from monitor.fetch.detect import advertised_feeds, sniff
from monitor.fetch.parse import SourceSpec, parse_feed

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2026, 12, 5, tzinfo=UTC)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>A</title><link>http://a.test/1</link></item></channel></rss>'
ATOM = (
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:x</id>'
    b'<entry><title>A</title><id>urn:a</id><link href="http://a.test/1"/><updated>2026-12-01T00:00:00Z</updated></entry></feed>'
)
RDF = (
    b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
    b'<channel rdf:about="http://a.test/"><title>T</title><link>http://a.test/</link></channel>'
    b'<item rdf:about="http://a.test/1"><title>A</title><link>http://a.test/1</link></item></rdf:RDF>'
)


def body(name: str) -> bytes:
    return (DATA / "sources" / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        ("jsonfeed-1.1.json", "text/plain", "jsonfeed"),
        ("jsonfeed-1.0.json", "text/html; charset=utf-8", "jsonfeed"),
        ("jsonfeed-1.1.json", "application/octet-stream", "jsonfeed"),
        ("news-sitemap.xml", "text/html", "sitemap"),
        ("plain-sitemap.xml", "text/plain", "sitemap"),
        ("news-sitemap.xml", "application/rss+xml", "sitemap"),
    ],
)
def test_files_are_told_apart_by_content_not_content_type(name: str, content_type: str, kind: str) -> None:
    parsed = parse_feed(body(name), {"content-type": content_type}, "https://x.test/f", now=NOW)
    assert parsed.kind == kind and parsed.articles


@pytest.mark.parametrize(
    ("document", "content_type", "kind"),
    [
        (RSS, "text/html", "rss"),
        (RSS, "application/json", "rss"),
        (ATOM, "text/plain", "atom"),
        (RDF, "application/octet-stream", "rdf"),
        (codecs.BOM_UTF8 + b"\n  " + RSS, "", "rss"),
    ],
)
def test_feeds_served_with_wrong_types_still_read_and_say_their_kind(
    document: bytes, content_type: str, kind: str
) -> None:
    parsed = parse_feed(document, {"content-type": content_type}, "http://a.test/feed", now=NOW)
    assert parsed.kind == kind
    assert [a.link for a in parsed.articles] == ["http://a.test/1"]


def test_the_fixture_feed_keeps_its_kind_and_articles() -> None:
    parsed = parse_feed((DATA / "us-mexico-security.xml").read_bytes(), {}, "http://a.test/feed", now=NOW)
    assert parsed.kind == "rss" and len(parsed.articles) == 4


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b'  {"version": "https://jsonfeed.org/version/1.1"}', "json"),
        (codecs.BOM_UTF8 + b"[]", "json"),
        (b'<?xml version="1.0"?>\n<!-- c --><?xml-stylesheet href="s.xsl"?><urlset xmlns="x">', "sitemap"),
        (b"<sm:urlset xmlns:sm='http://www.sitemaps.org/schemas/sitemap/0.9'>", "sitemap"),
        (b'<?xml version="1.0"?><sitemapindex>', "sitemapindex"),
        (b"<!DOCTYPE urlset [<!ENTITY a 'b'>]><urlset>", "sitemap"),
        (b"<rss version='2.0'>", "feed"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'>", "feed"),
        (b"<rdf:RDF>", "feed"),
        (b"<!doctype HTML><html>", "html"),
        (b"<!-- x --><html lang=en>", "html"),
        (b"<opml>", "xml"),
        (b"plain text", "unknown"),
        (codecs.BOM_UTF16_LE + "<rss>".encode("utf-16-le"), "unknown"),
    ],
)
def test_sniff(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    ("spec", "document", "reason"),
    [
        (
            "jsonfeed",
            RSS,
            "not a JSON Feed: the body is an RSS/Atom/RDF feed (`type: rss` or `type: auto` reads it)",
        ),
        (
            "sitemap",
            RSS,
            "not a sitemap: the body is an RSS/Atom/RDF feed (`type: rss` or `type: auto` reads it)",
        ),
        (
            "rss",
            b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
            "not a feed (application/json): the body is JSON (`type: jsonfeed` or `type: auto` reads it)",
        ),
        (
            "rss",
            b'<?xml version="1.0"?><urlset><url><loc>https://x.test/a</loc></url></urlset>',
            "not a feed (application/json): the body is a sitemap (`type: sitemap` or `type: auto` reads it)",
        ),
        (
            "sitemap",
            b"<!DOCTYPE html><html><body></body></html>",
            "not a sitemap: the body is an HTML page (`type: html` with an `items` selector reads a listing page)",
        ),
    ],
)
def test_explicit_types_say_when_the_body_is_something_else(spec: str, document: bytes, reason: str) -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(document, {"content-type": "application/json"}, "https://x.test/f", now=NOW, source=SourceSpec(spec))
    assert info.value.reason == reason


def test_explicit_rss_reads_rss() -> None:
    parsed = parse_feed(RSS, {}, "http://a.test/feed", now=NOW, source=SourceSpec("rss"))
    assert parsed.kind == "rss" and len(parsed.articles) == 1


def test_an_html_page_names_the_feed_it_advertises() -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(
            body("page-with-alternate.html"), {"content-type": "text/html"}, "https://courier.example.test/", now=NOW
        )
    assert info.value.reason == (
        "not a feed (an HTML page, text/html): the page names its feed https://courier.example.test/feeds/latest.xml"
        " (and 1 more); use that URL, or `type: html` with selectors"
    )
    assert advertised_feeds(body("page-with-alternate.html"), "https://courier.example.test/") == [
        "https://courier.example.test/feeds/latest.xml",
        "https://courier.example.test/feeds/latest.json",
    ]  # not the text/html alternate, not the javascript: one


def test_an_html_page_without_a_feed_suggests_type_html() -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(body("listing.html"), {"content-type": "text/plain"}, "https://courier.example.test/", now=NOW)
    assert info.value.reason == (
        "not a feed (an HTML page, text/plain): for a listing page use `type: html` with an `items` selector"
    )


def test_the_alternate_scan_is_bounded_on_a_hostile_page() -> None:
    page = b"<html><head>" + b"<div>" * 200_000 + b'<link rel="alternate" type="application/rss+xml" href="/late.xml">'
    assert advertised_feeds(page, "https://x.test/") == []  # beyond the first 256 KB: not looked at
    many = b"<head>" + b"".join(
        b'<link rel="alternate" type="application/rss+xml" href="/f%d.xml">' % i for i in range(100)
    )
    assert len(advertised_feeds(many, "https://x.test/")) == 8


def test_source_spec_of_a_configured_feed() -> None:
    from monitor.config import parse_config

    settings = parse_config(
        """
feeds:
  - name: Listing
    url: https://courier.example.test/news/
    type: html
    items: article.teaser
    link: h2 a
  - name: Plain
    url: https://a.test/feed
""",
        source="test",
    )
    listing, plain = (SourceSpec.of(feed) for feed in settings.feeds)
    assert listing == SourceSpec(type="html", items="article.teaser", link="h2 a")
    assert plain == SourceSpec()

    assert pickle.loads(pickle.dumps(listing)) == listing


def test_a_feed_wrapped_in_an_xhtml_page_is_still_read() -> None:
    page = (
        b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "x.dtd">'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body>'
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>A</title><id>urn:a</id>'
        b'<link rel="alternate" href="http://a.test/1"/></entry></feed></body></html>'
    )
    parsed = parse_feed(page, {"content-type": "text/html"}, "http://a.test/", now=NOW)
    assert [a.link for a in parsed.articles] == ["http://a.test/1"]
