"""News sitemaps (and plain sitemaps) as a source: `<urlset>` entries as articles.

Owns reading `<url>` entries: `<loc>` is the link and the guid; the title is
`<news:news><news:title>`; the time `<news:publication_date>`, else
`<lastmod>`; `<news:keywords>` (the publisher's own subject words) become
the summary, so that an entry whose page cannot be fetched can still match
on them. There is no article text: the full-text fetch reads the page.

A plain sitemap has no titles: an entry's title is then made from the last
meaningful segment of its URL's path ("/2026/12/04/border-talks-resume.html"
-> "Border talks resume"; segments of digits are skipped), so that alerts and
stories have words to show until the page is read. The feed's title is the
first `<news:publication><news:name>`.

Entries are ordered newest first (undated ones after, in document order),
then cut to `max_entries`; at most `MAX_URLS` (the sitemap protocol's own
limit) are read. A `<sitemapindex>` is not followed (that would be a fetch
per child, outside the feed's schedule): it is an error naming its first
child sitemaps, to be listed as feeds of their own.

The body goes through `sanitize_xml` (DTD internal subsets removed: no
entity expansion, no XXE) before ElementTree (expat) parses it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from urllib.parse import unquote, urlsplit

from monitor.errors import FetchError
from monitor.fetch.fields import (
    MAX_TEXT,
    MAX_TITLE,
    cap,
    collect,
    guid_of,
    http_link,
    lenient_date,
    one_line,
    plausible,
    tidy,
)
from monitor.fetch.sanitize import sanitize_xml
from monitor.models import ArticleData, ParsedFeed

MAX_URLS = 50_000
_NAMED_CHILDREN = 3


def parse_sitemap(body: bytes, url: str, max_entries: int | None, now: datetime) -> ParsedFeed:
    """The articles of a (news) sitemap body; FetchError if it is not a `<urlset>`."""
    cleaned = sanitize_xml(body)
    notes = list(cleaned.notes)
    try:
        root = ET.fromstring(cleaned.body)
    except ET.ParseError as exc:
        raise FetchError(url, f"not a sitemap: XML error ({one_line(exc)})") from None
    name = _local(root.tag)
    if name == "sitemapindex":
        raise FetchError(url, _index_message(root, url))
    if name != "urlset":
        raise FetchError(url, f"not a sitemap: the root element is <{cap(name, 40)}>, not <urlset>")
    entries: list[tuple[int, _Entry]] = []
    publication = ""
    for position, element in enumerate(el for el in root if _local(el.tag) == "url"):
        if position >= MAX_URLS:
            notes.append(f"only the first {MAX_URLS} URLs read")
            break
        entry = _entry(element, now)
        publication = publication or entry.publication
        entries.append((position, entry))
    # Newest first; undated entries after the dated ones, in document order.
    entries.sort(key=lambda pair: (pair[1].published is None, -_stamp(pair[1].published), pair[0]))
    articles = collect((e for _, e in entries), lambda e: e.article(url), max_entries, url, notes)
    return ParsedFeed(
        title=cap(tidy(publication), MAX_TITLE),
        articles=articles,
        warning="; ".join(dict.fromkeys(notes)) or None,
        kind="sitemap",
    )


class _Entry:
    """One `<url>` element's values, before it is checked and made an article."""

    __slots__ = ("keywords", "loc", "publication", "published", "title")

    def __init__(self) -> None:
        self.loc = self.title = self.keywords = self.publication = ""
        self.published: datetime | None = None

    def article(self, feed_url: str) -> ArticleData | None:
        link = http_link(self.loc, feed_url, feed_url)
        if link is None:
            return None  # a sitemap entry is its URL
        title = cap(tidy(self.title), MAX_TITLE) or title_from_url(link)
        return ArticleData(
            guid=guid_of(link),
            title=title,
            link=link,
            summary=cap(tidy(self.keywords), MAX_TEXT),
            content="",
            published=self.published,
        )


def _entry(element: ET.Element, now: datetime) -> _Entry:
    entry = _Entry()
    lastmod: datetime | None = None
    for child in element:
        name = _local(child.tag)
        if name == "loc":
            entry.loc = _text(child)
        elif name == "lastmod":
            lastmod = plausible(lenient_date(_text(child)), now)
        elif name == "news":
            for part in child:
                local = _local(part.tag)
                if local == "title":
                    entry.title = _text(part)
                elif local == "publication_date":
                    entry.published = plausible(lenient_date(_text(part)), now)
                elif local == "keywords":
                    entry.keywords = _text(part)
                elif local == "publication":
                    names = [_text(n) for n in part if _local(n.tag) == "name"]
                    entry.publication = names[0] if names else ""
    entry.published = entry.published or lastmod
    return entry


def _stamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _local(tag: object) -> str:
    """An element's name without its namespace ('' for comments and PIs)."""
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _text(element: ET.Element) -> str:
    return (element.text or "")[:MAX_TEXT].strip()


def _index_message(root: ET.Element, url: str) -> str:
    children: list[str] = []
    for sitemap in root:
        if _local(sitemap.tag) != "sitemap":
            continue
        loc = next((_text(c) for c in sitemap if _local(c.tag) == "loc"), "")
        link = http_link(loc, url, url)
        if link:
            children.append(cap(link, 200))
        if len(children) >= _NAMED_CHILDREN:
            break
    hint = f" (e.g. {', '.join(children)})" if children else ""
    return f"a sitemap index, not a news sitemap: list its child sitemaps as feeds{hint}"


_NUMBERS = re.compile(r"[\d_-]*")
_EXTENSION = re.compile(r"\.(?:s?html?|php|aspx?|jsp|cfm)$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_+.\s]+")
# An id at the end of a slug ("...-resume-1234567", "...-a1b2c3d4e5"): not words.
_TRAILING_ID = re.compile(r"(?:[-_](?:\d{5,}|(?=[0-9a-f]*\d)[0-9a-f]{8,}))+$", re.IGNORECASE)


def title_from_url(link: str) -> str:
    """A readable title from a URL's last wordy path segment, or '' (see the module docstring)."""
    segments = [unquote(s) for s in urlsplit(link).path.split("/") if s]
    for segment in reversed(segments[-8:]):
        words = _EXTENSION.sub("", segment)
        if _NUMBERS.fullmatch(words):
            continue
        words = _TRAILING_ID.sub("", words) or words
        words = tidy(_SEPARATORS.sub(" ", words))
        if any(ch.isalpha() for ch in words):
            return cap(words[:1].upper() + words[1:], MAX_TITLE)
    return ""
