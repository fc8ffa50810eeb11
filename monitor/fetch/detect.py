"""What a fetched body is, told by its first bytes rather than its Content-Type.

Servers label feeds badly (a JSON Feed as text/plain, RSS as text/html, a
sitemap as application/octet-stream), so `sniff` looks at the content: the
first non-blank byte, and for markup the name of the root element (after the
XML declaration, comments, processing instructions and a DOCTYPE). It reads
at most the first `_HEAD` bytes and never parses the document; the parser
chosen from its answer says precisely what is wrong when the guess was not
enough. Also owns `advertised_feeds`, the feed URLs an HTML page names in
its `<link rel="alternate">` elements, for the "not a feed" message.
"""

from __future__ import annotations

import codecs
import itertools
import re
from typing import Literal

from monitor.fetch.fields import MAX_LINK, http_link
from monitor.fetch.selectors import html_tree, select

Sniffed = Literal["json", "sitemap", "sitemapindex", "feed", "html", "xml", "unknown"]

_HEAD = 64 * 1024
_BLANK = b" \t\r\n\x0c"
# The prolog's parts, skipped to reach the root element.
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*>)", re.DOTALL | re.IGNORECASE)
_ROOT = re.compile(rb"\s*<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf", b"channel"})
_HTML_DOCTYPE = re.compile(rb"\s*<!DOCTYPE\s+html", re.IGNORECASE)
# A DOCTYPE names the root element: enough when an internal subset hides it.
_DOCTYPE_NAME = re.compile(rb"\s*<!DOCTYPE\s+([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)", re.IGNORECASE)
FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json", "application/json"}
)


def sniff(body: bytes) -> Sniffed:
    """The kind of document `body` starts as.

    json: an object or array; sitemap / sitemapindex: a `<urlset>` or
    `<sitemapindex>` root (any namespace prefix); feed: an `<rss>`, `<feed>`
    or `<rdf:RDF>` root; html: an HTML doctype or `<html>` root; xml: other
    markup, or a prolog too odd to see past (the feed parser decides);
    unknown: anything else (including UTF-16/32 bodies, left to feedparser's
    charset rules).
    """
    head = body[:_HEAD]
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    head = head.lstrip(_BLANK)
    if head[:1] in (b"{", b"["):
        return "json"
    if head[:1] != b"<":
        return "unknown"
    if _HTML_DOCTYPE.match(head):
        return "html"
    pos = 0
    while (m := _PROLOG.match(head, pos)) is not None and m.end() > pos:
        pos = m.end()
    root = _ROOT.match(head, pos) or _DOCTYPE_NAME.match(head, pos)
    if root is None:
        return "xml"
    name = root.group(2).lower()
    if name == b"urlset":
        return "sitemap"
    if name == b"sitemapindex":
        return "sitemapindex"
    if name in _FEED_ROOTS:
        return "feed"
    if name == b"html" and not root.group(1):
        return "html"
    return "xml"


# A page names its feeds in <head>; only this much of it is looked at.
_PAGE_HEAD = 256 * 1024
_MAX_ALTERNATES = 8
# <link> and <base> start tags, found by a linear scan; only they are parsed
# (a whole hostile page could nest deeply enough to be slow to parse).
_HEAD_TAG = re.compile(rb"<(?:link|base)\b[^<>]{0,2000}>", re.IGNORECASE)
_MAX_HEAD_TAGS = 500


def advertised_feeds(body: bytes, url: str) -> list[str]:
    """The feed URLs an HTML page advertises with `<link rel="alternate" type=... href=...>`, in order.

    Only RSS, Atom, RDF and JSON Feed types count; hrefs are resolved against
    the page's `<base href>` (else its URL) and must be http(s).
    """
    tags = [m.group(0) for m in itertools.islice(_HEAD_TAG.finditer(body, 0, _PAGE_HEAD), _MAX_HEAD_TAGS)]
    if not tags:
        return []
    tree = html_tree(b"<head>" + b"".join(tags) + b"</head>", encoding=False)
    base = url
    for node in select(tree, "base[href]"):
        base = http_link(node.attributes.get("href"), url, url) or url
        break
    found: list[str] = []
    for node in select(tree, "link[rel][href][type]"):
        rel = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rel or kind not in FEED_TYPES:
            continue
        link = http_link(node.attributes.get("href"), base, url)
        if link and len(link) <= MAX_LINK and link not in found:
            found.append(link)
            if len(found) >= _MAX_ALTERNATES:
                break
    return found
