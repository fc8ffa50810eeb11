"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/), which feedparser does not read.

Owns reading a JSON Feed body into articles with the shared field rules of
`fields`: `id` is the guid (numbers coerced to strings as the spec asks;
else the link, else a fingerprint), `url` (else `external_url`) the link,
resolved against `home_page_url` and http(s) only; `summary`, and
`content_html` as text (else `content_text`) the content; `date_published`
(else `date_modified`) the time; `authors` (1.1) or `author` (1.0) the author.

Bounded: the body is at most what the fetcher let through; JSON nested
deeper than Python's recursion limit is reported as a FetchError (the
decoder's RecursionError, never a crash); items beyond `max_entries` are not
looked at. Not a JSON Feed (no `items` list; with `type: auto`, no
jsonfeed.org `version`) is a FetchError saying which.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.core.identity import unique_paragraphs
from monitor.errors import FetchError
from monitor.fetch.fields import (
    MAX_FRAGMENT,
    MAX_TEXT,
    MAX_TITLE,
    as_str,
    cap,
    collect,
    fingerprint,
    guid_of,
    html_to_text,
    http_link,
    lenient_date,
    one_line,
    plausible,
    tidy,
)
from monitor.models import ArticleData, ParsedFeed

VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")


def load_json(body: bytes, url: str) -> Any:
    """The JSON document in `body` (UTF-8, a BOM allowed); FetchError if it is not one."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FetchError(url, f"not a JSON Feed: not UTF-8 ({one_line(exc)})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise FetchError(url, "not a JSON Feed: JSON nested too deeply") from None
    except ValueError as exc:
        raise FetchError(url, f"not a JSON Feed: invalid JSON ({one_line(exc)})") from None


def parse_jsonfeed(
    document: Any, url: str, max_entries: int | None, now: datetime, *, require_version: bool
) -> ParsedFeed:
    """The articles of a loaded JSON Feed document.

    `require_version`: with `type: auto` a JSON body is a feed only if it
    says so; with `type: jsonfeed` a missing version is a warning.
    """
    if not isinstance(document, dict):
        raise FetchError(url, f"not a JSON Feed: the document is a JSON {_json_kind(document)}, not an object")
    notes: list[str] = []
    version = as_str(document.get("version"))
    if not version.startswith(VERSION_PREFIXES):
        if require_version:
            said = f"version {cap(tidy(version), 80)!r}" if version else "no version"
            raise FetchError(url, f"not a feed (JSON with {said}, not a JSON Feed)")
        notes.append("no JSON Feed version")
    items = document.get("items")
    if items is None:
        raise FetchError(url, "not a JSON Feed: missing items")
    if not isinstance(items, list):
        raise FetchError(url, f"not a JSON Feed: items is a JSON {_json_kind(items)}, not an array")
    base = http_link(document.get("home_page_url"), url, url) or url
    articles = collect(items, lambda item: _article(item, base, url, now), max_entries, url, notes)
    return ParsedFeed(
        title=cap(html_to_text(as_str(document.get("title"))), MAX_TITLE),
        articles=articles,
        warning="; ".join(dict.fromkeys(notes)) or None,
        kind="jsonfeed",
    )


def _article(item: object, base: str, feed_url: str, now: datetime) -> ArticleData | None:
    if not isinstance(item, Mapping):
        raise ValueError("an item that is not an object")
    title = cap(html_to_text(as_str(item.get("title"))), MAX_TITLE)
    summary = unique_paragraphs(cap(html_to_text(as_str(item.get("summary"))), MAX_TEXT))
    content_html = as_str(item.get("content_html"))
    text = html_to_text(content_html) if content_html else tidy(as_str(item.get("content_text"))[:MAX_FRAGMENT])
    content = unique_paragraphs(cap(text, MAX_TEXT))
    if content == summary:
        content = ""
    link = http_link(item.get("url"), base, feed_url) or http_link(item.get("external_url"), base, feed_url)
    if not (title or summary or content or link):
        return None
    guid = guid_of(_id(item.get("id"))) or link or fingerprint(title, summary, content)
    published = None
    for key in ("date_published", "date_modified"):
        published = plausible(lenient_date(as_str(item.get(key))), now)
        if published is not None:
            break
    author = cap(_authors(item), MAX_TITLE)
    return ArticleData(
        guid=guid,
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=published,
        author=author or None,
    )


def _id(value: object) -> str:
    """The spec: an id that is a number (or other scalar) is coerced to a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _authors(item: Mapping[str, Any]) -> str:
    people = item.get("authors")
    if not isinstance(people, list):
        people = [item.get("author")]
    names = [tidy(as_str(p.get("name"))) for p in people[:20] if isinstance(p, Mapping)]
    return ", ".join(dict.fromkeys(name for name in names if name))


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    if isinstance(value, (int, float)):
        return "number"
    return "object"
