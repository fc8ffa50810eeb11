"""HTML listing pages read with CSS selectors (`type: html`), and their bounds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FetchError
from monitor.fetch.fields import lenient_date
from monitor.fetch.parse import SourceSpec, parse_feed
from monitor.fetch.selectors import MAX_DEPTH, too_deep
from monitor.models import ParsedFeed

DATA = Path(__file__).resolve().parents[1] / "data" / "sources"
NOW = datetime(2026, 12, 5, tzinfo=UTC)
PAGE = "https://courier.example.test/news/"
HTML = {"content-type": "text/html; charset=utf-8"}


def listing(
    spec: SourceSpec, body: bytes | None = None, max_entries: int | None = None, headers: dict[str, str] = HTML
) -> ParsedFeed:
    body = (DATA / "listing.html").read_bytes() if body is None else body
    return parse_feed(body, headers, PAGE, max_entries, now=NOW, source=spec)


def test_teasers_become_articles_with_the_configured_selectors() -> None:
    spec = SourceSpec(
        type="html", items="article.teaser", title=".headline", link="h2 a", date="time, .date", summary=".standfirst"
    )
    parsed = listing(spec)
    assert parsed.kind == "html"
    assert parsed.title == "Latest news | The Riverside Courier"
    assert [(a.title, a.link, a.published) for a in parsed.articles] == [
        (
            "Flood barrier passes its first test",
            # relative to the page's <base href>
            "https://courier.example.test/news/2026/12/04/flood-barrier",
            datetime(2026, 12, 4, 7, 45, tzinfo=UTC),
        ),
        (
            "Council approves the 2027 budget",
            "https://courier.example.test/news/2026/12/03/council-budget",
            datetime(2026, 12, 3, 18, 30, tzinfo=UTC),  # "December 3, 2026 at 6:30 pm"
        ),
        (
            "School roof repairs finish early",
            "https://courier.example.test/news/2026/12/02/school-roof",
            datetime(2026, 12, 2, tzinfo=UTC),  # "2 Dec 2026"
        ),
    ]  # no link, a javascript: link and a repeated link are not articles
    first = parsed.articles[0]
    assert first.guid == first.link
    assert first.summary == "The river rose two metres overnight; the new barrier held."
    assert first.content == ""
    assert parsed.warning == "1 entries with a repeated guid dropped"


def test_defaults_link_is_the_first_anchor_title_its_text_date_the_first_time() -> None:
    parsed = listing(SourceSpec(type="html", items="article.teaser"))
    first = parsed.articles[0]
    # The first a[href] is the thumbnail link: its title falls back to the image's alt text.
    assert (first.title, first.published) == ("The new barrier", datetime(2026, 12, 4, 7, 45, tzinfo=UTC))
    assert [a.title for a in parsed.articles[1:]] == [
        "Council approves the 2027 budget",
        "School roof repairs finish early",
    ]
    assert [a.published for a in parsed.articles[1:]] == [None, None]
    assert all(a.summary == "" for a in parsed.articles)


def test_items_that_are_links_themselves() -> None:
    body = b"""<html><body><ul class="latest">
      <li><a class="story" href="/a/1">One</a></li><li><a class="story" href="/a/2" title="Two">  </a></li>
    </ul></body></html>"""
    parsed = listing(SourceSpec(type="html", items="a.story"), body)
    assert [(a.title, a.link) for a in parsed.articles] == [
        ("One", "https://courier.example.test/a/1"),
        ("Two", "https://courier.example.test/a/2"),
    ]


def test_max_entries_keeps_the_first_items_in_page_order() -> None:
    parsed = listing(SourceSpec(type="html", items="article.teaser", link="h2 a"), max_entries=2)
    assert [a.title for a in parsed.articles] == [
        "Flood barrier passes its first test",
        "Council approves the 2027 budget",
    ]


def test_an_items_selector_matching_nothing_says_so() -> None:
    with pytest.raises(FetchError) as info:
        listing(SourceSpec(type="html", items="article.story"))
    assert info.value.reason == "selector `article.story` matched nothing on the page"


def test_items_without_links_say_which_selector_found_none() -> None:
    with pytest.raises(FetchError) as info:
        listing(SourceSpec(type="html", items="article.teaser", link=".byline"))
    assert info.value.reason == "selector `article.teaser` matched 6 elements, none with an http(s) link in `.byline`"


def test_a_feed_given_as_html_says_what_it_is() -> None:
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    with pytest.raises(FetchError) as info:
        listing(SourceSpec(type="html", items="article"), rss)
    assert info.value.reason == (
        "selector `article` matched nothing on the page (the body is an RSS/Atom/RDF feed, not an HTML page: "
        "try `type: auto`)"
    )


def test_the_header_charset_and_the_meta_charset_are_honoured() -> None:
    page = (
        '<html><head><meta charset="windows-1251"></head><body><article><a href="/x">Привет</a></article></body></html>'
    )
    body = page.encode("cp1251")
    spec = SourceSpec(type="html", items="article")
    assert listing(spec, body, headers={"content-type": "text/html"}).articles[0].title == "Привет"
    latin = '<html><body><article><a href="/x">Café</a></article></body></html>'.encode("latin-1")
    assert listing(spec, latin, headers={"content-type": "text/html; charset=iso-8859-1"}).articles[0].title == "Café"


def test_texts_are_capped() -> None:
    words = "word " * 100_000
    body = f'<article><a href="/x">{words}</a><p>{words * 3}</p></article>'.encode()
    (article,) = listing(SourceSpec(type="html", items="article", summary="p"), body).articles
    assert len(article.title) <= 1000 and len(article.summary) <= 200_000


def test_50000_nested_divs_are_cut_not_parsed_for_seconds() -> None:
    deep = b"<html><body>" + b"<div>" * 50_000 + b"<article><a href='/deep'>Deep</a></article>" + b"</div>" * 50_000
    shallow = b"<article><a href='/top'>Top</a></article>"
    parsed = listing(SourceSpec(type="html", items="article"), b"<html><body>" + shallow + deep[12:])
    assert [a.title for a in parsed.articles] == ["Top"]
    assert parsed.warning is not None and f"nested deeper than {MAX_DEPTH} elements" in parsed.warning
    with pytest.raises(FetchError) as info:
        listing(SourceSpec(type="html", items="article"), deep)
    assert f"nested deeper than {MAX_DEPTH} elements" in info.value.reason


def test_a_10_mb_page_is_read_and_bounded() -> None:
    teaser = b'<article class="t"><h2><a href="/n/%d">Headline %d</a></h2><p>Summary %d</p></article>\n'
    body = b"<!DOCTYPE html><html><body>" + b"".join(teaser % (i, i, i) for i in range(120_000)) + b"</body></html>"
    assert len(body) > 10_000_000
    parsed = listing(SourceSpec(type="html", items="article.t", summary="p"), body, max_entries=50)
    assert len(parsed.articles) == 50 and parsed.articles[-1].title == "Headline 49"
    assert parsed.warning == "only the first 5000 of 120000 items read"


def test_depth_scan_ignores_void_optional_self_closed_and_raw_text() -> None:
    sloppy = "<ul>" + "<li><p>item<br><img src=x>" * 5000 + "</ul>" + "<svg>" + "<path d='M0'/>" * 5000 + "</svg>"
    script = "<script>" + "<div>" * 5000 + "</script><!-- " + "<div>" * 5000 + " -->"
    assert too_deep(sloppy) is None and too_deep(script) is None
    assert too_deep("<div>" * (MAX_DEPTH + 1)) == 5 * MAX_DEPTH
    assert too_deep(b"<span>" * 10, limit=3) == 18


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04T07:45:00+01:00", datetime(2026, 12, 4, 6, 45, tzinfo=UTC)),
        ("2026-12-04T07:45:00Z", datetime(2026, 12, 4, 7, 45, tzinfo=UTC)),
        ("2026-12-04", datetime(2026, 12, 4)),
        ("Fri, 04 Dec 2026 07:45:00 GMT", datetime(2026, 12, 4, 7, 45, tzinfo=UTC)),
        ("4 December 2026", datetime(2026, 12, 4, tzinfo=UTC)),
        ("Published December 4th, 2026 at 10:05 am", datetime(2026, 12, 4, 10, 5, tzinfo=UTC)),
        ("Dec. 4, 2026, 12:30 p.m.", datetime(2026, 12, 4, 12, 30, tzinfo=UTC)),
        ("4 de diciembre de 2026 18:20", datetime(2026, 12, 4, 18, 20, tzinfo=UTC)),
        ("31 February 2026", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_lenient_dates(text: str, expected: datetime | None) -> None:
    got = lenient_date(text)
    assert got == expected
