"""Turning a fetched body into articles: the dispatch by source kind, and feedparser.

`parse_feed` decides what the body is (the feed's `type`, or with `type:
auto` the content itself, `detect.sniff`, whatever the Content-Type says)
and hands it to its reader: RSS/Atom/RDF to feedparser (below), JSON Feed to
`jsonfeed`, a news sitemap to `sitemap`, an HTML listing page with the
feed's CSS selectors to `listing`. Every reader keeps entries with the same
rules (`fields`: caps, plain text, http(s) links, guids, plausible dates)
and says which kind it read in `ParsedFeed.kind`. An HTML page given to
`type: auto` is an error that names the feed the page advertises in its
`<link rel="alternate">`, if any, or suggests `type: html`.

Owns the feedparser call and what we keep of an entry: plain-text title,
summary and content (HTML stripped, entities decoded), an http(s) link, a
stable guid, and a UTC publication time. feedparser is handed a file object
and the response headers, never `bytes` or `str`: given a string, feedparser
6 first tries it as a local path or a URL, and a body naming a local file
would be read.

Hostile and broken bodies: the body is decoded with feedparser's own charset
rules, then `sanitize` removes DTD internal subsets (entity expansion, XXE)
and forbidden control characters before feedparser parses the UTF-8 result.
Every field is capped, duplicate guids keep their first entry, implausible
dates (before 1990, or more than a day ahead) become unknown, and nothing but
`FetchError` leaves `parse_feed`.
"""

from __future__ import annotations

import calendar
import codecs
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.core.identity import unique_paragraphs
from monitor.errors import FetchError
from monitor.fetch.detect import Sniffed, advertised_feeds, sniff
from monitor.fetch.fastparse import fast_parse
from monitor.fetch.fields import (
    MAX_FRAGMENT,
    MAX_GUID,
    MAX_LINK,
    MAX_TEXT,
    MAX_TITLE,
    as_str,
    cap,
    collect,
    fingerprint,
    guid_of,
    html_to_text,
    http_link,
    one_line,
    page_title,
    plausible,
    tidy,
)
from monitor.fetch.jsonfeed import load_json, parse_jsonfeed
from monitor.fetch.listing import parse_listing
from monitor.fetch.sanitize import sanitize_xml
from monitor.fetch.sitemap import parse_sitemap
from monitor.models import ArticleData, ParsedFeed

try:  # feedparser's charset detection, run once before sanitising (6.0.x API)
    from feedparser.encodings import convert_to_utf8 as _convert_to_utf8
except ImportError:  # pragma: no cover - another feedparser layout
    _convert_to_utf8 = None

__all__ = [
    "MAX_GUID",
    "MAX_LINK",
    "MAX_TEXT",
    "MAX_TITLE",
    "SOURCE_TYPES",
    "SourceSpec",
    "html_to_text",
    "page_title",
    "parse_feed",
    "source_spec",
]

log = logging.getLogger(__name__)

# Whether `_run_feedparser` may use `fastparse` (tests compare both paths).
_fast_path = True

SOURCE_TYPES = ("auto", "rss", "jsonfeed", "sitemap", "html")


@dataclass(frozen=True)
class SourceSpec:
    """How to read a feed's body: its `type` and, for `type: html`, its CSS selectors.

    Plain strings, so it pickles into the parse pool. `SourceSpec()` is
    `type: auto`.
    """

    type: str = "auto"
    items: str | None = None
    title: str | None = None
    link: str | None = None
    date: str | None = None
    summary: str | None = None

    @classmethod
    def of(cls, feed: object) -> SourceSpec:
        """The spec of a configured feed (`FeedConfig`: its type, items, title, link, date, summary)."""

        def attr(name: str) -> str | None:
            value = getattr(feed, name, None)
            return value if isinstance(value, str) else None

        return cls(
            type=attr("type") or "auto",
            items=attr("items"),
            title=attr("title"),
            link=attr("link"),
            date=attr("date"),
            summary=attr("summary"),
        )


def source_spec(feed: object) -> SourceSpec:
    """`SourceSpec.of(feed)`."""
    return SourceSpec.of(feed)


_AUTO = SourceSpec()
# A feed's root element anywhere in a body (a linear scan).
_FEED_ELEMENT = re.compile(rb"<(?:[\w.-]+:)?(?:rss|feed|rdf|channel)[\s>]", re.IGNORECASE)
# What `sniff` saw, as said in "not a ..." messages.
_SNIFFED_AS = {
    "json": "JSON",
    "sitemap": "a sitemap",
    "sitemapindex": "a sitemap index",
    "feed": "an RSS/Atom/RDF feed",
    "html": "an HTML page",
}
# The type that reads what `sniff` saw.
_TYPE_FOR: dict[str, str] = {"json": "jsonfeed", "sitemap": "sitemap", "sitemapindex": "sitemap", "feed": "rss"}


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    max_entries: int | None = None,
    *,
    now: datetime | None = None,
    source: SourceSpec | None = None,
) -> ParsedFeed:
    """Parse one fetched body. Raises FetchError when nothing can be read as a source of `source`'s type.

    `max_entries` keeps at most that many articles: the first in document
    order (for a sitemap, the newest), after dropping unusable entries and
    repeated guids. `now` (UTC, default the clock) bounds plausible
    publication times. `source` (default `type: auto`) says how to read it.
    """
    if not body.strip():
        raise FetchError(url, "empty response body")
    spec = source or _AUTO
    moment = now or datetime.now(UTC)
    sniffed = sniff(body)
    kind = spec.type
    if kind == "auto":
        kind = _TYPE_FOR.get(sniffed, "rss")
    if kind == "jsonfeed":
        if sniffed != "json":
            raise FetchError(url, f"not a JSON Feed: {_seen_as(sniffed, body, headers)}")
        document = load_json(body, url)
        return parse_jsonfeed(document, url, max_entries, moment, require_version=spec.type == "auto")
    if kind == "sitemap":
        if sniffed not in ("sitemap", "sitemapindex", "xml", "unknown"):
            raise FetchError(url, f"not a sitemap: {_seen_as(sniffed, body, headers)}")
        return parse_sitemap(body, url, max_entries, moment)
    if kind == "html":
        return parse_listing(body, headers, url, spec, max_entries, moment)
    if kind != "rss":
        raise FetchError(url, f"unknown source type {kind!r}")
    if sniffed == "html" and spec.type == "auto" and not _FEED_ELEMENT.search(body):
        # An HTML page with no feed inside (feedparser reads a feed wrapped in
        # XHTML): feedparser would only say it is not a feed, slowly.
        raise FetchError(url, _not_a_feed(body, headers, url, [], sniffed, explicit=False))
    return _parse_rss(body, headers, url, max_entries, moment, sniffed, explicit=spec.type == "rss")


def _seen_as(sniffed: Sniffed, body: bytes, headers: Mapping[str, str]) -> str:
    """What the body is instead, for a "not a ..." message, with the type that would read it."""
    name = _SNIFFED_AS.get(sniffed) or _content_kind(body, headers)
    better = _TYPE_FOR.get(sniffed)
    if better:
        return f"the body is {name} (`type: {better}` or `type: auto` reads it)"
    if sniffed == "html":
        return f"the body is {name} (`type: html` with an `items` selector reads a listing page)"
    return f"the body is {name}"


def _parse_rss(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    max_entries: int | None,
    now: datetime,
    sniffed: Sniffed,
    *,
    explicit: bool,
) -> ParsedFeed:
    """RSS, Atom or RDF, read by feedparser (or its fast path)."""
    response_headers = {k.lower(): v for k, v in headers.items()}
    response_headers.setdefault("content-location", url)
    # Compressed bodies were already decoded by the HTTP client.
    response_headers.pop("content-encoding", None)
    try:
        parsed, notes = _run_feedparser(body, response_headers)
    except Exception as exc:
        raise FetchError(url, f"parser failed: {type(exc).__name__}: {one_line(exc)}") from exc
    version = parsed.get("version", "")
    entries = parsed.get("entries", []) or []
    if parsed.get("bozo"):
        error = parsed.get("bozo_exception")
        notes.append(f"{type(error).__name__}: {one_line(error)}" if error else "malformed feed")
    if not version and not entries:
        raise FetchError(url, _not_a_feed(body, response_headers, url, notes, sniffed, explicit))
    feed = parsed.get("feed", {}) or {}
    base = as_str(feed.get("link")) or url
    articles = collect(entries, lambda entry: _article(entry, base, url, now), max_entries, url, notes)
    title = cap(html_to_text(as_str(feed.get("title"))), MAX_TITLE)
    warning = "; ".join(dict.fromkeys(notes)) or None
    return ParsedFeed(
        title=title,
        articles=articles,
        warning=warning,
        ttl=_hint(feed.get("ttl")),
        update_period=_hint(feed.get("sy_updateperiod")),
        update_frequency=_hint(feed.get("sy_updatefrequency")),
        kind=_kind_of(version),
    )


def _kind_of(version: str) -> str:
    """feedparser's `version` as a source kind: atom, rdf (RSS 0.90 and 1.0), else rss."""
    if version.startswith("atom"):
        return "atom"
    if version in ("rss090", "rss10"):
        return "rdf"
    return "rss"


def _not_a_feed(
    body: bytes, headers: Mapping[str, str], url: str, notes: list[str], sniffed: Sniffed, explicit: bool
) -> str:
    if any(note.startswith("unterminated DOCTYPE") for note in notes):
        return "not a feed (unterminated DOCTYPE)"
    content = _content_kind(body, headers)
    reason = f"not a feed ({content})"
    if explicit and sniffed in ("json", "sitemap", "sitemapindex"):
        return f"{reason}: {_seen_as(sniffed, body, headers)}"
    if not content.startswith("an HTML page"):
        return reason
    try:
        feeds = advertised_feeds(body, url)
    except Exception:  # a hint only: never worse than the plain reason
        log.debug("could not look for advertised feeds in %s", url, exc_info=True)
        feeds = []
    if feeds:
        more = f" (and {len(feeds) - 1} more)" if len(feeds) > 1 else ""
        return f"{reason}: the page names its feed {feeds[0]}{more}; use that URL, or `type: html` with selectors"
    return f"{reason}: for a listing page use `type: html` with an `items` selector"


def _hint(value: object) -> str | None:
    """A publisher timing hint as short plain text (the poller validates it)."""
    text = tidy(as_str(value))[:32]
    return text or None


def _run_feedparser(body: bytes, headers: dict[str, str]) -> tuple[Any, list[str]]:
    """feedparser's result for the sanitised body, and notes on what was changed."""
    notes: list[str] = []
    data, parse_headers = body, headers
    if _convert_to_utf8 is not None:
        detected: dict[str, Any] = {}
        utf8 = _convert_to_utf8(_bom_wins(body, headers), body, detected)
        if detected.get("encoding"):
            # Hand feedparser UTF-8 it can only read as UTF-8, keeping the media type.
            data, parse_headers = utf8, dict(headers)
            media = headers.get("content-type", "").split(";")[0].strip()
            if media:
                parse_headers["content-type"] = f"{media}; charset=utf-8"
            error = detected.get("bozo_exception")
            if error is not None and not _is_content_type_note(error):
                notes.append(f"{type(error).__name__}: {one_line(error)}")
    cleaned = sanitize_xml(data, ascii_compatible=data is not body)
    notes.extend(cleaned.notes)
    if _fast_path:
        # Plain RSS 2.0 / Atom 1.0 read with ElementTree; None: anything it is unsure of.
        fast = fast_parse(cleaned.body, parse_headers)
        if fast is not None:
            return fast, notes
    parsed = feedparser.parse(
        io.BytesIO(cleaned.body),
        response_headers=parse_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    return parsed, notes


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
)


def _bom_wins(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """Headers for charset detection in which a byte order mark beats the rest.

    feedparser otherwise decodes a BOM'd UTF-16 body served as plain
    `application/xml` as UTF-8 (NUL-interleaved text that happens to be valid).
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            media = headers.get("content-type", "").split(";")[0].strip() or "application/xml"
            return {**headers, "content-type": f"{media}; charset={codec}"}
    return headers


def _is_content_type_note(error: object) -> bool:
    # Reported again by the second pass; keep it once.
    return type(error).__name__ == "NonXMLContentType"


def _content_kind(body: bytes, headers: Mapping[str, str]) -> str:
    ctype = headers.get("content-type", "").split(";")[0].strip() or "no content type"
    head = body[:512].removeprefix(codecs.BOM_UTF8).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page, {ctype}"
    return ctype


def _article(entry: Mapping[str, Any], base: str, feed_url: str, now: datetime) -> ArticleData | None:
    title = cap(html_to_text(as_str(entry.get("title"))), MAX_TITLE)
    # Syndication often doubles paragraphs: kept once, they neither inflate
    # a match's score nor the story similarity.
    summary = unique_paragraphs(cap(html_to_text(as_str(entry.get("summary"))), MAX_TEXT))
    content = unique_paragraphs(_content(entry))
    if content == summary:
        content = ""
    link = http_link(entry.get("link"), base, feed_url)
    if not link:
        for candidate in entry.get("links", []) or []:
            if candidate.get("rel", "alternate") == "alternate":
                link = http_link(candidate.get("href"), base, feed_url)
                if link:
                    break
    if not (title or summary or content or link):
        return None
    guid = guid_of(as_str(entry.get("id"))) or link or fingerprint(title, summary, content)
    author = cap(tidy(as_str(entry.get("author"))), MAX_TITLE)
    return ArticleData(
        guid=guid,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_published(entry, now),
        author=author or None,
    )


def _content(entry: Mapping[str, Any]) -> str:
    parts = []
    for item in entry.get("content", []) or []:
        value = item.get("value", "") or ""
        text = html_to_text(value) if "html" in (item.get("type") or "html") else tidy(value[:MAX_FRAGMENT])
        if text and text not in parts:
            parts.append(text)
    return cap("\n\n".join(parts), MAX_TEXT)


def _published(entry: Mapping[str, Any], now: datetime) -> datetime | None:
    """The first plausible of published/updated/created; None if none is.

    Dates before 1990 (epoch zeros) or more than a day ahead (clock or time
    zone bugs) would misplace the article, so the store's first-seen time is
    used instead.
    """
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                moment = plausible(datetime.fromtimestamp(calendar.timegm(value), tz=UTC), now)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
            if moment is not None:
                return moment
    return None
