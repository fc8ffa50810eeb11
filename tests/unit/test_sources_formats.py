"""Sources without a feed: JSON Feed 1.0/1.1 and news/plain sitemaps read into articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FetchError
from monitor.fetch.parse import SourceSpec, parse_feed
from monitor.fetch.sitemap import title_from_url
from monitor.models import ParsedFeed

DATA = Path(__file__).resolve().parents[1] / "data" / "sources"
NOW = datetime(2026, 12, 5, tzinfo=UTC)
JSONFEED = SourceSpec(type="jsonfeed")
SITEMAP = SourceSpec(type="sitemap")


def parse(
    name: str,
    headers: dict[str, str] | None = None,
    url: str = "https://site.example.test/f",
    max_entries: int | None = None,
    source: SourceSpec | None = None,
) -> ParsedFeed:
    return parse_feed((DATA / name).read_bytes(), headers or {}, url, max_entries, now=NOW, source=source)


# -- JSON Feed -------------------------------------------------------------------


def test_json_feed_1_1_items_become_articles_with_the_shared_field_rules() -> None:
    parsed = parse("jsonfeed-1.1.json", {"content-type": "application/feed+json"}, "https://ledger.example.test/f.json")
    assert parsed.kind == "jsonfeed"
    assert parsed.title == "Northwind Ledger \u2014 Security"
    first, second, no_link, scripted = parsed.articles
    assert first.guid == "https://ledger.example.test/2026/12/04/border-talks"
    assert first.link == "https://ledger.example.test/2026/12/04/border-talks"  # relative url resolved
    assert first.title == "Border security talks resume in Washington"
    assert first.summary == "Delegations meet for a second round."
    assert first.content == (
        "Delegations from both countries met on Thursday.\nThe talks cover fentanyl trafficking & arms smuggling."
    )
    assert first.published == datetime(2026, 12, 4, 14, 30, tzinfo=UTC)  # date_published wins, in UTC
    assert first.author == "Ana Ruiz, Tom Hale"
    # A numeric id is coerced to a string; external_url is the link; date_modified the fallback.
    assert (second.guid, second.link) == ("48213", "https://wire.example.test/story/48213")
    assert second.content == "Dock workers kept the port closed.\nNegotiations are set for Monday."
    assert second.published == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    assert (no_link.link, no_link.title, no_link.content) == (None, "", "A short note with no title and no link.")
    # javascript: links dropped; a 1970 date is implausible, so unknown.
    assert (scripted.link, scripted.published) == (None, None)
    assert parsed.warning == "1 unreadable entries skipped; 1 entries with a repeated guid dropped"


def test_json_feed_1_0_author_object_and_unreadable_date() -> None:
    parsed = parse("jsonfeed-1.0.json", {}, "http://gazette.example.test/feed.json")
    assert parsed.kind == "jsonfeed"
    water, library = parsed.articles
    assert water.author == "Lee Park"
    assert water.content == ""  # the same as the summary: kept once
    assert water.published == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert library.published is None
    assert parsed.warning is None


def test_json_feed_max_entries_keeps_the_first_items() -> None:
    parsed = parse("jsonfeed-1.1.json", max_entries=1)
    assert [a.guid for a in parsed.articles] == ["https://ledger.example.test/2026/12/04/border-talks"]


@pytest.mark.parametrize(
    ("body", "spec", "reason"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1"}', None, "not a JSON Feed: missing items"),
        (
            b'{"version": "https://jsonfeed.org/version/1", "items": {}}',
            None,
            "not a JSON Feed: items is a JSON object, not an array",
        ),
        (b"[1, 2]", None, "not a JSON Feed: the document is a JSON array, not an object"),
        (b'{"title": "x", "items": []}', None, "not a feed (JSON with no version, not a JSON Feed)"),
        (b'{"version": 2, "items": []}', None, "not a feed (JSON with no version, not a JSON Feed)"),
        (b'{"items": [}', JSONFEED, "not a JSON Feed: invalid JSON (Expecting value: line 1 column 12 (char 11))"),
        (b'{"items": ["\xe9"]}', JSONFEED, "not a JSON Feed: not UTF-8"),
    ],
)
def test_not_a_json_feed_is_a_specific_error(body: bytes, spec: SourceSpec | None, reason: str) -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(body, {"content-type": "application/json"}, "https://x.test/f", now=NOW, source=spec)
    assert info.value.reason.startswith(reason)


def test_explicit_jsonfeed_without_a_version_is_read_with_a_warning() -> None:
    body = b'{"items": [{"id": "1", "url": "https://x.test/a", "title": "A"}]}'
    parsed = parse_feed(body, {}, "https://x.test/f", now=NOW, source=JSONFEED)
    assert [a.title for a in parsed.articles] == ["A"]
    assert parsed.warning == "no JSON Feed version"


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_deeply_nested_json_is_a_fetch_error_not_a_crash(depth: int) -> None:
    nested = b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b"[" * depth + b"]" * depth + b"]}"
    with pytest.raises(FetchError) as info:
        parse_feed(nested, {}, "https://x.test/f", now=NOW)
    assert info.value.reason == "not a JSON Feed: JSON nested too deeply"
    with pytest.raises(FetchError):
        parse_feed(b"[" * depth, {}, "https://x.test/f", now=NOW)


def test_json_feed_fields_are_capped() -> None:
    huge = "word " * 100_000
    item = {"id": "i" * 5000, "title": huge, "content_text": huge * 3}
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [item]}).encode()
    (article,) = parse_feed(body, {}, "https://x.test/f", now=NOW).articles
    assert len(article.title) <= 1000 and len(article.content) <= 200_000
    assert article.guid.startswith("sha256:")


# -- sitemaps --------------------------------------------------------------------


def test_news_sitemap_entries_newest_first_with_titles_dates_and_keywords() -> None:
    parsed = parse("news-sitemap.xml", {"content-type": "text/xml"}, "https://diario.example.test/sitemap-news.xml")
    assert parsed.kind == "sitemap"
    assert parsed.title == "Diario Ejemplo"
    assert [(a.title, a.published) for a in parsed.articles] == [
        ("Cumbre de seguridad en Washington & Ottawa", datetime(2026, 12, 4, 10, 0, tzinfo=UTC)),
        ("Senado aprueba la reforma judicial", datetime(2026, 12, 4, 2, 15, tzinfo=UTC)),
        ("La final se jugará en Monterrey", datetime(2026, 12, 4, 0, 0, tzinfo=UTC)),
    ]  # the ftp:// entry is not an article; image titles are not article titles
    senado = parsed.articles[1]
    assert senado.guid == senado.link == "https://diario.example.test/mexico/2026/12/03/reforma-judicial"
    assert senado.summary == "Senado, reforma judicial, México"  # news:keywords
    assert all(a.content == "" for a in parsed.articles)  # the text is the page's, fetched later


def test_news_sitemap_max_entries_keeps_the_newest() -> None:
    parsed = parse("news-sitemap.xml", max_entries=1)
    assert [a.title for a in parsed.articles] == ["Cumbre de seguridad en Washington & Ottawa"]


def test_plain_sitemap_titles_come_from_the_url() -> None:
    parsed = parse("plain-sitemap.xml", {"content-type": "application/xml"}, "https://blog.example.test/sitemap.xml")
    assert parsed.kind == "sitemap"
    assert [(a.title, a.published and a.published.date().isoformat()) for a in parsed.articles] == [
        ("City budget vote", "2026-12-02"),
        ("", "2026-12-01"),  # only dates in the path: no words to show
        ("Harbour bridge reopens", "2026-11-28"),
        ("About", None),  # undated entries last
    ]


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("https://x.test/2026/12/04/border-talks-resume.html", "Border talks resume"),
        ("https://x.test/world/us_mexico_summit-20261204123/", "Us mexico summit"),
        ("https://x.test/news/a1b2c3d4e5f6/floods%20in%20valencia", "Floods in valencia"),
        ("https://x.test/story/1234567", "Story"),
        ("https://x.test/", ""),
    ],
)
def test_title_from_url(url: str, title: str) -> None:
    assert title_from_url(url) == title


def test_sitemap_index_is_an_error_naming_its_children() -> None:
    with pytest.raises(FetchError) as info:
        parse("sitemap-index.xml", {"content-type": "application/xml"})
    assert info.value.reason == (
        "a sitemap index, not a news sitemap: list its child sitemaps as feeds (e.g. "
        "https://diario.example.test/sitemap-news.xml, https://diario.example.test/sitemap-2026-12.xml, "
        "https://diario.example.test/sitemap-2026-11.xml)"
    )


@pytest.mark.parametrize("spec", [None, SITEMAP])
def test_sitemap_entities_are_not_expanded_nor_files_read(spec: SourceSpec | None) -> None:
    parsed = parse("hostile-sitemap-entities.xml", source=spec)
    (article,) = parsed.articles
    assert "aaaa" not in article.title and "root:" not in article.title
    assert article.link == "https://evil.example.test/2026/12/04/laughs"
    assert parsed.warning is not None and "DTD internal subset removed" in parsed.warning


def test_broken_and_wrong_sitemaps_are_specific_errors() -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(b"<urlset><url><loc>https://x.test/a</loc></url>", {}, "https://x.test/s", now=NOW)
    assert info.value.reason.startswith("not a sitemap: XML error (")
    with pytest.raises(FetchError) as info:
        parse_feed(b"<doc><url/></doc>", {}, "https://x.test/s", now=NOW, source=SITEMAP)
    assert info.value.reason == "not a sitemap: the root element is <doc>, not <urlset>"


def test_sitemap_url_count_is_bounded() -> None:
    urls = b"".join(b"<url><loc>https://x.test/p/%d-title</loc></url>" % i for i in range(50_010))
    body = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + urls + b"</urlset>"
    parsed = parse_feed(body, {}, "https://x.test/s", 20, now=NOW)
    assert len(parsed.articles) == 20
    assert parsed.warning == "only the first 50000 URLs read"


def test_deep_xml_in_a_sitemap_is_harmless() -> None:
    body = b"<urlset><url><loc>https://x.test/a</loc></url>" + b"<x>" * 100_000 + b"</x>" * 100_000 + b"</urlset>"
    parsed = parse_feed(body, {}, "https://x.test/s", now=NOW)
    assert [a.link for a in parsed.articles] == ["https://x.test/a"]
