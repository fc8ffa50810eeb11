"""Plain HTML listing pages read with the config's CSS selectors (`type: html`).

Owns turning a page into articles: every element the `items` selector
matches is one article, and within it
- the link: the `link` selector's element's `href` (or the first `a[href]`
  inside it), by default the first `a[href]` of the item (the item itself
  when it is a link); resolved against the page's `<base href>`, else its
  URL; http(s) only. An item without one is skipped. The link is the guid.
- the title: the `title` selector's text, by default the link's text (else
  its `title` or `aria-label` attribute, or an image's `alt`);
- the date: the `date` selector's element (by default the item's first
  `<time>`), its `datetime` (or `content`) attribute, else its text, read by
  `fields.lenient_date` (ISO 8601, RFC 2822, "4 December 2026"); unreadable
  or implausible is unknown;
- the summary: the `summary` selector's text (none by default).
Items are taken in page order, at most `max_entries`, and at most
`MAX_ITEMS` are looked at; texts are capped as for feeds.

Parsing is lexbor's (selectolax): a C HTML5 parser with no recursion to
overflow, but with time that grows with the square of the nesting depth, so
the page is cut where it nests deeper than `selectors.MAX_DEPTH` elements
(a linear scan first; noted in the warning). The charset is the
Content-Type header's, else the page's BOM or `<meta charset>`, else UTF-8.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from monitor.errors import FetchError
from monitor.fetch.detect import sniff
from monitor.fetch.fields import (
    MAX_TEXT,
    MAX_TITLE,
    cap,
    collect,
    html_to_text,
    http_link,
    lenient_date,
    plausible,
    tidy,
)
from monitor.fetch.selectors import MAX_DEPTH, LexborHTMLParser, LexborNode, bounded_tree, first, select
from monitor.models import ArticleData, ParsedFeed

MAX_ITEMS = 5000
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class Selectors(Protocol):
    """The selectors of a `type: html` source (`parse.SourceSpec`)."""

    @property
    def items(self) -> str | None: ...
    @property
    def title(self) -> str | None: ...
    @property
    def link(self) -> str | None: ...
    @property
    def date(self) -> str | None: ...
    @property
    def summary(self) -> str | None: ...


def parse_listing(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    selectors: Selectors,
    max_entries: int | None,
    now: datetime,
) -> ParsedFeed:
    """The articles of a listing page; FetchError when the items selector finds none with a link."""
    if not selectors.items:
        raise FetchError(url, "type: html needs an `items` selector")
    notes: list[str] = []
    tree = _tree(body, headers, notes)
    base = url
    base_node = first(tree, "base[href]")
    if base_node is not None:
        base = http_link(base_node.attributes.get("href"), url, url) or url
    items = select(tree, selectors.items)
    if not items:
        cut = f" ({notes[0]})" if notes else ""
        raise FetchError(url, f"selector `{selectors.items}` matched nothing on the page{cut}{_not_html(body)}")
    if len(items) > MAX_ITEMS:
        notes.append(f"only the first {MAX_ITEMS} of {len(items)} items read")
    articles = collect(
        items[:MAX_ITEMS], lambda item: _article(item, selectors, base, url, now), max_entries, url, notes
    )
    if not articles:
        where = f"`{selectors.link}`" if selectors.link else "an a[href]"
        raise FetchError(
            url,
            f"selector `{selectors.items}` matched {len(items)} elements, none with an http(s) link in {where}",
        )
    title_node = first(tree, "title")
    return ParsedFeed(
        title=cap(_text(title_node), MAX_TITLE) if title_node is not None else "",
        articles=articles,
        warning="; ".join(dict.fromkeys(notes)) or None,
        kind="html",
    )


def _tree(body: bytes, headers: Mapping[str, str], notes: list[str]) -> LexborHTMLParser:
    """The page's tree, in its charset, cut where it nests deeper than MAX_DEPTH (noted)."""
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    match = _CHARSET.search(ctype)
    page: str | bytes = body
    for bom, name in _WIDE_BOMS:
        if body.startswith(bom):
            page = body[len(bom) :].decode(name, errors="replace")
            break
    else:
        codec = _codec(match.group(1)) if match and not body.startswith(codecs.BOM_UTF8) else None
        if codec is not None:
            page = body.decode(codec, errors="replace")
    tree, cut = bounded_tree(page, encoding=isinstance(page, bytes))
    if cut is not None:
        notes.append(f"page cut at offset {cut}: nested deeper than {MAX_DEPTH} elements")
    return tree


def _codec(label: str) -> str | None:
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return None if name.startswith(("utf-16", "utf-32")) else name


def _article(item: LexborNode, selectors: Selectors, base: str, page_url: str, now: datetime) -> ArticleData | None:
    link_node = _link_node(item, selectors.link)
    link = http_link(link_node.attributes.get("href"), base, page_url) if link_node is not None else None
    if link is None:
        return None
    title_node = first(item, selectors.title) if selectors.title else None
    title = _text(title_node) if title_node is not None else _link_title(link_node)
    summary_node = first(item, selectors.summary) if selectors.summary else None
    summary = html_to_text(summary_node.html or "") if summary_node is not None else ""
    date_node = first(item, selectors.date or "time")
    published = None
    if date_node is not None:
        attrs = date_node.attributes
        published = plausible(lenient_date(attrs.get("datetime") or attrs.get("content") or _text(date_node)), now)
    return ArticleData(
        guid=link,
        title=cap(title, MAX_TITLE),
        link=link,
        summary=cap(summary, MAX_TEXT),
        content="",
        published=published,
    )


def _link_node(item: LexborNode, selector: str | None) -> LexborNode | None:
    if selector is None:
        return first(item, "a[href]")
    node = first(item, selector)
    if node is None or node.attributes.get("href"):
        return node
    return first(node, "a[href]")


def _link_title(node: LexborNode | None) -> str:
    if node is None:
        return ""
    text = _text(node)
    if text:
        return text
    attrs = node.attributes
    label = attrs.get("title") or attrs.get("aria-label")
    if not label:
        image = first(node, "img[alt]")
        label = image.attributes.get("alt") if image is not None else ""
    return tidy((label or "")[:MAX_TITLE])


def _text(node: LexborNode) -> str:
    """A node's visible text on one line."""
    return tidy((node.text(separator=" ") or "")[: 4 * MAX_TITLE])


def _not_html(body: bytes) -> str:
    kind = sniff(body)
    if kind in ("feed", "json", "sitemap"):
        name = {"feed": "an RSS/Atom/RDF feed", "json": "JSON", "sitemap": "a sitemap"}[kind]
        return f" (the body is {name}, not an HTML page: try `type: auto`)"
    return ""
