"""Turning a fetched body into articles, with feedparser.

Owns the feedparser call and what we keep of an entry: plain-text title,
summary and content (HTML stripped, entities decoded), an http(s) link, a
stable guid, and a UTC publication time. feedparser is handed a file object
and the response headers, never `bytes` or `str`: given a string, feedparser
6 first tries it as a local path or a URL, and a body naming a local file
would be read.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.errors import FetchError
from monitor.models import ArticleData, ParsedFeed

MAX_TITLE = 1000
_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article "
    "header footer figure figcaption dd dt hr".split()
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_NEWLINES = re.compile(r"\s*\n\s*")


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment, one line per block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(self._skip - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, spaces tidied."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _tidy(fragment)
    extractor = _TextExtractor()
    try:
        extractor.feed(fragment)
        extractor.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; be safe anyway
        return _tidy(html.unescape(re.sub(r"<[^>]*>", " ", fragment)))
    return _tidy("".join(extractor.parts))


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def page_title(page: str) -> str:
    """The <title> of an HTML page, as plain text ('' if none)."""
    m = _TITLE_RE.search(page)
    return html_to_text(m.group(1)) if m else ""


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def parse_feed(body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
    """Parse one fetched body. Raises FetchError when nothing can be read as a feed."""
    if not body.strip():
        raise FetchError(url, "empty response body")
    response_headers = {k.lower(): v for k, v in headers.items()}
    response_headers.setdefault("content-location", url)
    # Compressed bodies were already decoded by the HTTP client.
    response_headers.pop("content-encoding", None)
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = parsed.get("version", "")
    entries = parsed.get("entries", [])
    warning = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        warning = f"{type(exc).__name__}: {exc}" if exc else "malformed feed"
    if not version and not entries:
        raise FetchError(url, f"not a feed ({_content_kind(body, response_headers)})")
    base = parsed.get("feed", {}).get("link") or url
    articles = []
    for entry in entries:
        article = _article(entry, base, url)
        if article is not None:
            articles.append(article)
    title = html_to_text(parsed.get("feed", {}).get("title", "") or "")
    return ParsedFeed(title=title[:MAX_TITLE], articles=tuple(articles), warning=warning)


def _content_kind(body: bytes, headers: Mapping[str, str]) -> str:
    ctype = headers.get("content-type", "").split(";")[0].strip() or "no content type"
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page, {ctype}"
    return ctype


def _article(entry: Mapping[str, Any], base: str, feed_url: str) -> ArticleData | None:
    title = html_to_text(entry.get("title", "") or "")[:MAX_TITLE]
    summary = html_to_text(entry.get("summary", "") or "")
    content = _content(entry)
    if content == summary:
        content = ""
    link = _http_link(entry.get("link"), base, feed_url)
    if not link:
        for candidate in entry.get("links", []) or []:
            if candidate.get("rel", "alternate") == "alternate":
                link = _http_link(candidate.get("href"), base, feed_url)
                if link:
                    break
    if not (title or summary or content or link):
        return None
    guid = (entry.get("id") or "").strip() or link or _fingerprint(title, summary, content)
    return ArticleData(
        guid=guid,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_published(entry),
        author=(entry.get("author") or None),
    )


def _content(entry: Mapping[str, Any]) -> str:
    parts = []
    for item in entry.get("content", []) or []:
        value = item.get("value", "") or ""
        text = html_to_text(value) if "html" in (item.get("type") or "html") else _tidy(value)
        if text and text not in parts:
            parts.append(text)
    return "\n\n".join(parts)


def _http_link(value: object, base: str, feed_url: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    link = value.strip()
    if not urlsplit(link).scheme:
        link = urljoin(base if urlsplit(base).scheme in ("http", "https") else feed_url, link)
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return link


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _fingerprint(*fields: str) -> str:
    digest = hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()
    return f"sha256:{digest[:40]}"
