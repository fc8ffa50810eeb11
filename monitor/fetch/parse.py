"""Turning a fetched body into articles, with feedparser.

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
import hashlib
import html
import io
import logging
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.core.identity import unique_paragraphs
from monitor.errors import FetchError
from monitor.fetch.fastparse import fast_parse
from monitor.fetch.sanitize import sanitize_xml
from monitor.models import ArticleData, ParsedFeed

try:  # feedparser's charset detection, run once before sanitising (6.0.x API)
    from feedparser.encodings import convert_to_utf8 as _convert_to_utf8
except ImportError:  # pragma: no cover - another feedparser layout
    _convert_to_utf8 = None

log = logging.getLogger(__name__)

# Whether `_run_feedparser` may use `fastparse` (tests compare both paths).
_fast_path = True

MAX_TITLE = 1000
MAX_TEXT = 200_000  # summary and content, each
MAX_GUID = 2000
MAX_LINK = 8192
# HTML beyond this many characters is not even looked at (its text is capped anyway).
_MAX_FRAGMENT = 4 * MAX_TEXT
# Publication times outside [_EARLIEST, now + _FUTURE_SLACK] are treated as unknown.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article header footer figure figcaption"
    " dd dt hr".split()
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})
# Control characters (as _CONTROL) deleted; tab, CR, form feed, vertical tab and
# no-break space made plain spaces.
_TIDY_TABLE: dict[int, str | None] = {
    **{code: None for code in (*range(9), 11, 12, *range(14, 32), 0x7F, 0xFFFE, 0xFFFF)},
    **{code: " " for code in (0x09, 0x0B, 0x0C, 0x0D, 0xA0)},
}
_MULTI_SPACE = re.compile(" {2,}")


_TAG_NAMES = "|".join(sorted(_BLOCK_TAGS))
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_SKIPPED_RE = re.compile(
    r"<(script|style|noscript|template|head|title)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL
)
_BLOCK_RE = re.compile(rf"</?(?:{_TAG_NAMES})\b[^>]*>", re.IGNORECASE)
# A tag starts with a letter (or /, !, ?): "a < b" in text is not a tag.
_TAG_RE = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>")


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, spaces tidied.

    Regular expressions rather than an HTML parser: an order of magnitude
    faster on feed-sized fragments, and we only need the words, one line
    per block (script, style and comments dropped).
    """
    if not fragment:
        return ""
    fragment = fragment[:_MAX_FRAGMENT]
    if "<" not in fragment and "&" not in fragment:
        return _tidy(fragment)
    text = _COMMENT_RE.sub("", fragment)
    text = _SKIPPED_RE.sub("", text)
    text = _BLOCK_RE.sub("\n", text)
    text = _TAG_RE.sub("", text)
    return _tidy(html.unescape(text))


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def page_title(page: str) -> str:
    """The <title> of an HTML page, as plain text ('' if none)."""
    m = _TITLE_RE.search(page)
    return html_to_text(m.group(1)) if m else ""


def _tidy(text: str) -> str:
    """Control characters out, blanks to one space, one line per block (str.translate: C speed)."""
    text = text.translate(_TIDY_TABLE)
    if "  " in text:
        text = _MULTI_SPACE.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in (part.strip() for part in text.split("\n")) if line)


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    max_entries: int | None = None,
    *,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse one fetched body. Raises FetchError when nothing can be read as a feed.

    `max_entries` keeps at most that many articles, the first in document
    order (after dropping unusable entries and repeated guids). `now` (UTC,
    default the clock) bounds plausible publication times.
    """
    if not body.strip():
        raise FetchError(url, "empty response body")
    response_headers = {k.lower(): v for k, v in headers.items()}
    response_headers.setdefault("content-location", url)
    # Compressed bodies were already decoded by the HTTP client.
    response_headers.pop("content-encoding", None)
    try:
        parsed, notes = _run_feedparser(body, response_headers)
    except Exception as exc:
        raise FetchError(url, f"parser failed: {type(exc).__name__}: {_one_line(exc)}") from exc
    version = parsed.get("version", "")
    entries = parsed.get("entries", []) or []
    if parsed.get("bozo"):
        error = parsed.get("bozo_exception")
        notes.append(f"{type(error).__name__}: {_one_line(error)}" if error else "malformed feed")
    if not version and not entries:
        if any(note.startswith("unterminated DOCTYPE") for note in notes):
            raise FetchError(url, "not a feed (unterminated DOCTYPE)")
        raise FetchError(url, f"not a feed ({_content_kind(body, response_headers)})")
    feed = parsed.get("feed", {}) or {}
    base = _str(feed.get("link")) or url
    moment = now or datetime.now(UTC)
    limit = None if max_entries is None else max(max_entries, 0)
    articles: list[ArticleData] = []
    seen: set[str] = set()
    broken = duplicates = 0
    for entry in entries:
        if limit is not None and len(articles) >= limit:
            break
        try:
            article = _article(entry, base, url, moment)
        except Exception:
            log.debug("skipping an unreadable entry of %s", url, exc_info=True)
            broken += 1
            continue
        if article is None:
            continue
        if article.guid in seen:
            duplicates += 1
            continue
        seen.add(article.guid)
        articles.append(article)
    if broken:
        notes.append(f"{broken} unreadable entries skipped")
    if duplicates:
        notes.append(f"{duplicates} entries with a repeated guid dropped")
    title = _cap(html_to_text(_str(feed.get("title"))), MAX_TITLE)
    warning = "; ".join(dict.fromkeys(notes)) or None
    return ParsedFeed(
        title=title,
        articles=tuple(articles),
        warning=warning,
        ttl=_hint(feed.get("ttl")),
        update_period=_hint(feed.get("sy_updateperiod")),
        update_frequency=_hint(feed.get("sy_updatefrequency")),
    )


def _hint(value: object) -> str | None:
    """A publisher timing hint as short plain text (the poller validates it)."""
    text = _tidy(_str(value))[:32]
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
                notes.append(f"{type(error).__name__}: {_one_line(error)}")
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
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page, {ctype}"
    return ctype


def _article(
    entry: Mapping[str, Any], base: str, feed_url: str, now: datetime
) -> ArticleData | None:
    title = _cap(html_to_text(_str(entry.get("title"))), MAX_TITLE)
    # Syndication often doubles paragraphs: kept once, they neither inflate
    # a match's score nor the story similarity.
    summary = unique_paragraphs(_cap(html_to_text(_str(entry.get("summary"))), MAX_TEXT))
    content = unique_paragraphs(_content(entry))
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
    guid = _guid(_str(entry.get("id"))) or link or _fingerprint(title, summary, content)
    author = _cap(_tidy(_str(entry.get("author"))), MAX_TITLE)
    return ArticleData(
        guid=guid,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_published(entry, now),
        author=author or None,
    )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _guid(value: str) -> str:
    value = _CONTROL.sub("", value).strip()
    if len(value) > MAX_GUID:
        return _fingerprint(value)
    return value


def _cap(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters without splitting a character.

    A base letter is not separated from its combining marks, nor a joined or
    variation-selected emoji from its tail (a bounded back-off).
    """
    if len(text) <= limit:
        return text
    cut = limit
    floor = max(limit - 32, 0)
    while cut > floor and _continues(text, cut):
        cut -= 1
    if cut == floor:
        cut = limit
    return text[:cut].rstrip()


def _continues(text: str, index: int) -> bool:
    """Whether the character at `index` belongs with the one before it."""
    char, before = text[index], text[index - 1]
    if char in "\u200d\ufe0e\ufe0f" or before == "\u200d":
        return True
    if unicodedata.category(char) in ("Mn", "Mc", "Me", "Cs"):
        return True
    return 0x1F3FB <= ord(char) <= 0x1F3FF  # skin-tone modifiers


def _content(entry: Mapping[str, Any]) -> str:
    parts = []
    for item in entry.get("content", []) or []:
        value = item.get("value", "") or ""
        text = html_to_text(value) if "html" in (item.get("type") or "html") else _tidy(value[:_MAX_FRAGMENT])
        if text and text not in parts:
            parts.append(text)
    return _cap("\n\n".join(parts), MAX_TEXT)


def _http_link(value: object, base: str, feed_url: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    link = value.strip()
    if len(link) > MAX_LINK or _CONTROL.search(link):
        return None
    if not urlsplit(link).scheme:
        link = urljoin(base if urlsplit(base).scheme in ("http", "https") else feed_url, link)
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return link


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
                moment = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
            if _EARLIEST <= moment <= now + _FUTURE_SLACK:
                return moment
    return None


def _one_line(exc: object) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300] if text.strip() else type(exc).__name__


def _fingerprint(*fields: str) -> str:
    digest = hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()
    return f"sha256:{digest[:40]}"
