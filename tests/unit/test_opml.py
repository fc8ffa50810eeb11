"""OPML import/export: real-world quirks, hostile documents, a large list, round trips."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import FeedConfig
from monitor.errors import MonitorError
from monitor.fetch.opml import (
    OpmlError,
    OpmlFeed,
    OpmlSkipped,
    merge_feeds,
    normalise_url,
    read_opml,
    write_opml,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "opml"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- quirks -----------------------------------------------------------------


def test_quirks_feeds_names_urls_and_tags() -> None:
    result = read_opml(read("quirks.opml"), "quirks.opml")
    assert result.title == "Quirks & Corners"
    assert result.warnings == ()
    assert [(f.name, f.url, f.tags) for f in result.feeds] == [
        # text wins over title; three folder levels become tags, outermost first
        ("Le Monde – International", "https://www.lemonde.fr/international/rss_full.xml", ("News", "World", "Europe")),
        ("Only a title", "https://atom.example.test/feed.atom", ("News", "World", "Europe")),
        # xmlURL spelling, whitespace in name and URL
        ("Spaced out name", "http://spaced.example.test/rss", ("News", "World")),
        ("Query & Co", "http://q.example.test/rss?a=1&b=2", ("News",)),
        # double-escaped by the exporter, xmlurl spelling
        ("Tom & Jerry's", "http://tj.example.test/feed", ("News",)),
        # category attribute: comma and slash separated, deduplicated case-insensitively
        ("Tagged", "https://tagged.example.test/rss", ("Politics", "Mexico", "Security")),
        # empty text and title: host and path
        ("www.nameless.example.test/seccion/1671/rss.xml", "https://www.nameless.example.test/seccion/1671/rss.xml", ()),
        ("Feed scheme", "http://feedscheme.example.test/rss", ()),
        ("Feed https", "https://feedhttps.example.test/rss", ()),
        ("Ünïcödé 日本語 Ελληνικά", "https://unicode.example.test/rss", ()),
    ]
    assert result.feeds[0].html_url == "https://www.lemonde.fr/"
    assert result.feeds[1].html_url is None


def test_quirks_skipped_with_reasons_and_lines() -> None:
    skipped = read_opml(read("quirks.opml")).skipped
    assert skipped == (
        OpmlSkipped(25, "Local file", "not an http(s) URL: file:///etc/passwd"),
        OpmlSkipped(26, "Script", "not an http(s) URL: javascript:alert(1)"),
        OpmlSkipped(27, "No host", "not an http(s) URL: http:///rss"),
        OpmlSkipped(28, "Just a website", "no xmlUrl (only htmlUrl https://site.example.test/)"),
        OpmlSkipped(29, "Blogroll", "OPML include not followed: https://other.example.test/blogroll.opml"),
        OpmlSkipped(30, "Empty folder", "no xmlUrl"),
        OpmlSkipped(31, "Le Monde again", "duplicate of Le Monde – International"),
    )


def test_every_feed_read_is_valid_config() -> None:
    for name in ("quirks.opml", "broken_exporter.opml", "latin1.opml"):
        for feed in read_opml(read(name)).feeds:
            FeedConfig(name=feed.name, url=feed.url, tags=feed.tags)


@pytest.mark.parametrize(
    ("fixture", "title", "names"),
    [
        ("latin1.opml", "Português", ["UOL Notícias – São Paulo", "França & Espanha"]),
        ("cp1251.opml", "Новости", ["Коммерсантъ"]),
        ("bom.opml", "BOM", ["Café"]),
        ("leading_newline.opml", "BOM", ["Café"]),
    ],
)
def test_encodings_bom_and_leading_whitespace(fixture: str, title: str, names: list[str]) -> None:
    result = read_opml(read(fixture))
    assert result.title == title
    assert [f.name for f in result.feeds] == names


def test_utf16_with_bom() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?><opml><body><outline text="Ünï" xmlUrl="http://a.test/"/></body></opml>'
    assert read_opml(doc.encode("utf-16")).feeds == (OpmlFeed("Ünï", "http://a.test/"),)


def test_latin1_bytes_under_a_utf8_declaration_are_read_as_windows_1252() -> None:
    doc = '<?xml version="1.0" encoding="UTF-8"?><opml><body><outline text="Noticias de México" xmlUrl="http://mx.test/rss"/></body></opml>'
    assert read_opml(doc.encode("cp1252")).feeds[0].name == "Noticias de México"


def test_broken_exporter_output_is_repaired_with_a_warning() -> None:
    result = read_opml(read("broken_exporter.opml"))
    assert len(result.warnings) == 1 and "not well-formed" in result.warnings[0]
    assert [(f.name, f.url, f.tags) for f in result.feeds] == [
        ("Газета \"Коммерсантъ\". Главное", "https://ru.example.test/RSS/main.xml", ("Business & Economy",)),
        ("Science News", "https://science.example.test/rss?x=1&y=2", ("Business & Economy",)),
        ("Plain", "https://plain.example.test/feed/", ("Business & Economy",)),
    ]


def test_outlines_outside_body_and_feeds_nested_in_feeds() -> None:
    doc = b"""<opml version="2.0"><head><title>t</title><outline text="in head" xmlUrl="http://head.test/"/></head>
    <body><outline text="Folder"><outline text="Parent" xmlUrl="http://parent.test/">
    <outline text="Child" xmlUrl="http://child.test/"/></outline></outline></body></opml>"""
    feeds = read_opml(doc).feeds
    # a feed is not a folder: its children get the enclosing folders only
    assert [(f.name, f.tags) for f in feeds] == [("Parent", ("Folder",)), ("Child", ("Folder",))]


def test_url_with_spaces_is_skipped() -> None:
    doc = b'<opml><body><outline text="x" xmlUrl="http://a.test/my feed.xml"/></body></opml>'
    (skip,) = read_opml(doc).skipped
    assert skip.reason.startswith("not a valid URL (contains spaces")


# --- hostile and unreadable documents -----------------------------------------------


@pytest.mark.parametrize("fixture", ["billion_laughs.opml", "xxe.opml"])
def test_dtds_are_refused(fixture: str) -> None:
    with pytest.raises(OpmlError, match="DTD") as info:
        read_opml(read(fixture), fixture)
    assert info.value.source == fixture
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaked


def test_undeclared_entity_is_kept_as_text_never_resolved() -> None:
    doc = b'<opml><body><outline text="&secret;" xmlUrl="http://a.test/"/></body></opml>'
    result = read_opml(doc)
    assert result.feeds[0].name == "&secret;"
    assert result.warnings


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b"<opml><body><outline text='x'></body></opml>", "not well-formed"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "root element is <rss>"),
        (b"<opml><head><title>x</title></head></opml>", "no <body>"),
        (b'<?xml version="1.0" encoding="x-nonsense"?><opml/>', "cannot read"),
    ],
)
def test_unreadable_documents_raise_opml_error(data: bytes, reason: str) -> None:
    with pytest.raises(OpmlError, match=reason) as info:
        read_opml(data, "upload.opml")
    assert isinstance(info.value, MonitorError)
    assert str(info.value).startswith("upload.opml: ")


# --- a large list -------------------------------------------------------------------


def make_large_opml() -> tuple[bytes, Counter[str]]:
    """1,500 feed outlines in 5 x 6 x 5 nested folders, with the usual mess.

    Returns the document and the expected tally: feeds and skip reasons.
    """
    tally: Counter[str] = Counter()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0"><head><title>Big &amp; Messy</title></head><body>']
    i = 0
    for a in range(5):
        lines.append(f'<outline text="Región {a} &amp; más" title="ignored">')
        for b in range(6):
            lines.append(f'<outline title="Sub {a}.{b}">')
            for c in range(5):
                lines.append(f'<outline text="Leaf {a}.{b}.{c}">')
                for _ in range(10):
                    i += 1
                    kind = ("", ' type="rss"', ' type="atom"')[i % 3]
                    label = f'text="Feed №{i} &lt;Ω&gt;"' if i % 4 else f'title="Feed №{i} &lt;Ω&gt;"'
                    if i % 50 == 0:  # same URL as feed i-1, spelt differently
                        url, what = f"HTTP://Host{i - 1}.Example.TEST:80/rss/", "duplicate"
                    elif i % 37 == 1:
                        lines.append(f'<outline {label}{kind} htmlUrl="https://site{i}.test/"/>')
                        tally["no xmlUrl"] += 1
                        continue
                    elif i % 41 == 2:
                        url, what = f"file:///feeds/{i}.xml", "not an http(s) URL"
                    elif i % 43 == 3:
                        url, what = f"feed://host{i}.example.test/rss", "feed"
                    else:
                        url, what = f"http://host{i}.example.test/rss", "feed"
                    if i % 50 == 0 and ((i - 1) % 37 == 1 or (i - 1) % 41 == 2):
                        what = "feed"  # the original was skipped, so this is no duplicate
                    tally[what] += 1
                    lines.append(f'<outline {label}{kind} xmlUrl="{url}" category="bulk"/>')
                lines.append("</outline>")
            lines.append("</outline>")
        lines.append("</outline>")
    lines.append("</body></opml>")
    assert i == 1500
    return "\n".join(lines).encode(), tally


def test_large_real_world_shaped_list() -> None:
    data, tally = make_large_opml()
    result = read_opml(data)
    assert result.title == "Big & Messy"
    reasons = Counter(s.reason.split(":")[0].split(" (")[0].split(" of ")[0] for s in result.skipped)
    assert len(result.feeds) == tally["feed"]
    assert reasons == {"no xmlUrl": tally["no xmlUrl"], "not an http(s) URL": tally["not an http(s) URL"], "duplicate": tally["duplicate"]}
    first = result.feeds[0]  # №1 has only an htmlUrl, №2 a file: URL
    assert first.name == "Feed №3 <Ω>"
    assert first.tags == ("Región 0 & más", "Sub 0.0", "Leaf 0.0.0", "bulk")
    assert sum(f.url.lower().startswith("http://host") for f in result.feeds) == len(result.feeds)
    assert len({normalise_url(f.url) for f in result.feeds}) == len(result.feeds)


# --- writing and round trips -------------------------------------------------------------


FEEDS = [
    ("El Universal", "https://www.eluniversal.com.mx/rss.xml", ["Mexico", "News"]),
    ("Le Monde – <International> & \"more\"", "https://www.lemonde.fr/rss?a=1&b=2", ["World"]),
    ("Untagged", "http://untagged.test/feed", []),
    ("Reforma", "https://www.reforma.com/rss/portada.xml", ["Mexico"]),
]


def test_write_produces_opml_2_with_folders_and_categories() -> None:
    data = write_opml(FEEDS, title="Mine")
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "Mine"
    body = root.find("body")
    assert body is not None
    assert [o.get("text") for o in body] == ["Mexico", "World", "Untagged"]
    mexico = body[0]
    assert [(o.get("text"), o.get("category")) for o in mexico] == [
        ("El Universal", "Mexico,News"),
        ("Reforma", "Mexico"),
    ]
    assert mexico[0].get("xmlUrl") == FEEDS[0][1] and mexico[0].get("type") == "rss"


def test_write_read_round_trip() -> None:
    result = read_opml(write_opml(FEEDS, title="Mine"))
    assert result.title == "Mine" and result.skipped == () and result.warnings == ()
    assert sorted((f.name, f.url, list(f.tags)) for f in result.feeds) == sorted(FEEDS)


_name = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30).map(
    lambda s: " ".join(s.split())
).filter(lambda s: bool(s) and html.unescape(s) == s)
_tag = _name.filter(lambda s: "," not in s and "/" not in s)
_feed = st.tuples(
    _name,
    st.from_regex(r"https?://[a-z0-9]{1,10}\.test/[a-z0-9/]{0,10}\?q=[a-z&=]{0,8}", fullmatch=True),
    st.lists(_tag, max_size=3, unique_by=str.casefold),
)


@given(st.lists(_feed, max_size=8, unique_by=lambda f: normalise_url(f[1])))
def test_round_trip_property(feeds: list[tuple[str, str, list[str]]]) -> None:
    result = read_opml(write_opml(feeds))
    assert result.warnings == () and result.skipped == ()
    assert sorted((f.name, f.url, list(f.tags)) for f in result.feeds) == sorted(feeds)


def test_write_drops_characters_xml_cannot_hold() -> None:
    data = write_opml([("Bell\x07 name", "http://a.test/", ["t\x00ag"])])
    assert read_opml(data).feeds == (OpmlFeed("Bell name", "http://a.test/", ("tag",)),)


# --- merging and URL normalisation --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTP://Example.COM:80/Feed/", "http://example.com/Feed"),
        ("https://example.com:443", "https://example.com"),
        ("https://example.com:8443/rss#top", "https://example.com:8443/rss"),
        ("feed://example.com/rss", "http://example.com/rss"),
        ("http://user@Example.com/x/?b=1&a=2", "http://user@example.com/x?b=1&a=2"),
        ("http://[::1]:80/", "http://[::1]"),
    ],
)
def test_normalise_url(url: str, normal: str) -> None:
    assert normalise_url(url) == normal


def test_merge_skips_known_urls_and_renames_name_clashes() -> None:
    existing = [("BBC", "http://feeds.bbci.co.uk/news/rss.xml"), ("Reuters", "https://reuters.test/rss")]
    incoming = [
        OpmlFeed("BBC News", "HTTP://FEEDS.BBCI.CO.UK/news/rss.xml/"),  # same URL: skipped
        OpmlFeed("bbc", "https://bbc.test/other", ("uk",)),  # name taken: renamed
        OpmlFeed("BBC", "https://bbc.test/third"),
        OpmlFeed("New", "https://new.test/rss"),
        OpmlFeed("New again", "https://new.test/rss/"),  # duplicate within the import
    ]
    added, skipped = merge_feeds(existing, incoming)
    assert [(f.name, f.url, f.tags) for f in added] == [
        ("bbc (2)", "https://bbc.test/other", ("uk",)),
        ("BBC (3)", "https://bbc.test/third", ()),
        ("New", "https://new.test/rss", ()),
    ]
    assert skipped == [
        OpmlSkipped(None, "BBC News", "duplicate of BBC"),
        OpmlSkipped(None, "New again", "duplicate of New"),
    ]


def test_merge_into_nothing_keeps_everything_unique() -> None:
    feeds = read_opml(read("quirks.opml")).feeds
    added, skipped = merge_feeds([], feeds)
    assert added == list(feeds) and skipped == []
