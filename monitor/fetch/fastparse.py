"""A fast path for plain RSS 2.0 and Atom 1.0, giving what feedparser would.

feedparser (SAX callbacks in Python, dozens of handlers per element) is the
largest CPU cost of a poll. Most real feeds are well-formed RSS 2.0 or Atom
1.0 using a handful of elements, which `xml.etree.ElementTree` (expat, tree
built in C) reads in a fraction of the time.

`fast_parse` returns a feedparser-shaped result (plain dicts: `version`,
`feed`, `entries`, `bozo`) holding exactly the keys `parse.py` reads, with
the values feedparser's strict parser would have produced, so `parse_feed`
turns either into articles with the same code. Whenever the document
contains anything whose effect on those values is not reproduced here, it
returns None and feedparser reads the whole body: not well-formed XML, a
DOCTYPE, xml:base, another root or RSS version, an unknown namespace, a
namespaced element feedparser has a handler for that is not known to be
harmless, repeated or nested text elements, unexpected attributes, xhtml or
out-of-line Atom content, a date not in a strict RFC 822 / RFC 3339 form, or
a link that does not resolve to an absolute http(s) URL.

The replicated feedparser behaviour (6.0.x, strict parser): text stripped;
`link`, and `guid`/`id` unless isPermaLink is not "true", joined to the base
URI (the Content-Location header); the "UTF-8 read as Latin-1" repair and
the cp1252 mapping applied to every text value; `&amp;` repair in RSS links;
a guid with isPermaLink acting as the link when the item has none; content
copied to the summary when there is no summary; Atom `link` the last
rel=alternate HTML link, else the id; Atom author "name (email)".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

try:  # feedparser 6.0.x internals, so that the values match exactly
    from feedparser.api import StrictFeedParser as _FP
    from feedparser.encodings import convert_to_utf8 as _convert_to_utf8
    from feedparser.html import _cp1252
    from feedparser.mixin import _FeedParserMixin as _Mixin
    from feedparser.urls import _urljoin, make_safe_absolute_uri
except ImportError:  # pragma: no cover - another feedparser layout: no fast path
    _FP = None

RSS_VERSIONS = frozenset({"2.0", "0.91", "0.92"})
ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_DC = "{http://purl.org/dc/elements/1.1/}"

# feedparser's namespace URI -> prefix table (matched case-insensitively).
_PREFIXES: dict[str, str] = (
    {uri.lower(): prefix for uri, prefix in _Mixin.namespaces.items()} if _FP is not None else {}
)
# Keys of a feedparser entry or feed that parse.py reads, or that feedparser maps.
_READ_KEYS = frozenset(
    "title summary description content link links id guid author published_parsed "
    "updated_parsed created_parsed ttl sy_updateperiod sy_updatefrequency".split()
)
# Elements with feedparser handlers whose results parse.py never reads (text only, no children).
_HARMLESS_ITEM = frozenset(
    "category comments enclosure source dc_subject slash_comments wfw_commentrss wfw_comment "
    "media_content media_thumbnail media_credit media_category media_keywords media_rating "
    "media_player media_restriction media_license".split()
)
_HARMLESS_CHANNEL = frozenset(
    "link description language copyright managingeditor webmaster pubdate lastbuilddate "
    "category generator docs cloud rating sy_updatebase dc_language dc_rights dc_publisher "
    "dc_date dc_subject dc_creator".split()
)
_HARMLESS_ATOM_FEED = frozenset("id link updated published subtitle rights generator icon logo category".split())
_HARMLESS_ATOM_ENTRY = frozenset(
    "category rights media_content media_thumbnail media_credit media_category media_keywords "
    "media_rating media_player media_restriction media_license".split()
)
# Containers allowed with children, and the children allowed in them.
_CHANNEL_CONTAINERS = {
    "image": frozenset("title url link width height description".split()),
    "textinput": frozenset("title description name link".split()),
    "skiphours": frozenset({"hour"}),
    "skipdays": frozenset({"day"}),
}
_MEDIA_CONTAINERS = {
    "media_group": frozenset(
        "media_content media_thumbnail media_credit media_category media_keywords media_rating "
        "media_player media_restriction media_license".split()
    ),
    "media_content": frozenset(
        "media_thumbnail media_credit media_category media_keywords media_rating media_player "
        "media_restriction media_license".split()
    ),
}
_PERSON = frozenset({"name", "email", "uri"})

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_RFC822 = re.compile(
    rf"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{{1,2}} (?:{_MONTHS}) \d{{4}} "
    r"\d\d:\d\d(?::\d\d)? (?:[+-]\d{4}|GMT|UTC|UT|Z)"
)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_C1 = re.compile("[\x80-\x9f]")  # what feedparser's cp1252 table maps
# feedparser rewrites the prolog's DOCTYPE and ENTITY declarations (even in comments).
# Both are looked for in the body lower-cased once (ASCII only, as the
# patterns are): a case-blind pattern that starts with an alternation is
# tried at every byte, ~0.7 ms per feed each.
_DOCTYPE = re.compile(rb"<!(?:doctype|entity)")
# xml:base, or a plain base attribute (feedparser honours both).
_BASE = re.compile(rb"(?:xml:|\s)base\s*=")


class _Doubt(Exception):
    """Something feedparser may read differently: use feedparser."""


def fast_parse(body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
    """feedparser's result for `body` as parse.py reads it, or None to use feedparser.

    `body` and `headers` are exactly what would be handed to `feedparser.parse`.
    """
    if _FP is None or _has_prolog_or_base(body):
        return None
    probe: dict[str, Any] = {}
    data = _convert_to_utf8(dict(headers), body, probe)
    if probe.get("bozo") or probe.get("encoding") != "utf-8":
        return None
    contentloc = headers.get("content-location", "")
    base = make_safe_absolute_uri("", contentloc) or make_safe_absolute_uri(contentloc)
    if urlsplit(base).scheme not in ("http", "https") or _urljoin(base, base) != base:
        return None
    try:
        root = ET.fromstring(data)
        if root.tag == "rss":
            return _rss(root, base)
        if root.tag == ATOM + "feed":
            return _atom(root, base)
    except (ET.ParseError, _Doubt, ValueError, OverflowError):
        return None
    return None


def _has_prolog_or_base(body: bytes) -> bool:
    """Whether `body` declares a DOCTYPE/ENTITY or sets a base URI (any case)."""
    lowered = body.lower()
    if b"<!" in lowered and _DOCTYPE.search(lowered):
        return True
    return b"base" in lowered and _BASE.search(lowered) is not None


# -- shared ---------------------------------------------------------------


def _name(tag: str) -> str:
    """feedparser's name for an element: 'prefix_local' (or 'local'), lower case."""
    if tag[0] != "{":
        return tag.lower()
    uri, _, local = tag[1:].partition("}")
    prefix = _PREFIXES.get(uri.lower())
    if prefix is None or "backend.userland.com/rss" in uri.lower():
        raise _Doubt(f"unknown namespace {uri}")
    return f"{prefix.lower()}_{local.lower()}" if prefix else local.lower()


def _harmless(el: ET.Element, name: str, allowed: frozenset[str], containers: dict[str, frozenset[str]]) -> None:
    """Raise unless feedparser's reading of `el` cannot change anything parse.py reads."""
    if len(el):
        inside = containers.get(name)
        if inside is None:
            raise _Doubt(f"children in {name}")
        for child in el:
            child_name = _name(child.tag)
            if child_name not in inside:
                raise _Doubt(f"{child_name} in {name}")
            _harmless(child, child_name, inside, _MEDIA_CONTAINERS if name in _MEDIA_CONTAINERS else {})
        return
    if name in allowed:
        return
    # An element feedparser has no handler for is stored under its own name.
    if "_" in name and name not in _READ_KEYS and not (hasattr(_FP, "_start_" + name) or hasattr(_FP, "_end_" + name)):
        return
    raise _Doubt(f"unhandled element {name}")


def _text(el: ET.Element, attrs: tuple[str, ...] = ()) -> str:
    """The value feedparser pops for a text element (before URI resolution)."""
    if len(el) or any(key not in attrs for key in el.attrib):
        raise _Doubt(f"markup or attributes in {el.tag}")
    return (el.text or "").strip()


def _finish(value: str) -> str:
    """feedparser's last steps for every text value: mojibake repair, cp1252 mapping."""
    if value.isascii():  # both are the identity on ASCII
        return value
    try:
        value = value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return value.translate(_cp1252) if _C1.search(value) else value


def _once(seen: set[str], name: str) -> None:
    if name in seen:
        raise _Doubt(f"repeated {name}")
    seen.add(name)


def _absolute(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _Doubt("not an absolute http(s) link")
    return value


def _rfc822(value: str) -> Any:
    if not value:
        return None
    if not _RFC822.fullmatch(value):
        raise _Doubt(f"date {value!r}")
    moment = parsedate_to_datetime(value)
    if moment.tzinfo is None:  # -0000
        moment = moment.replace(tzinfo=UTC)
    return moment.utctimetuple()


def _rfc3339(value: str) -> Any:
    if not value:
        return None
    if not _RFC3339.fullmatch(value):
        raise _Doubt(f"date {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(microsecond=0).utctimetuple()


def _feed_hints(el: ET.Element, name: str, feed: dict[str, Any], seen: set[str]) -> bool:
    if name in ("ttl", "sy_updateperiod", "sy_updatefrequency"):
        _once(seen, name)
        feed[name] = _finish(_text(el))
        return True
    return False


# -- RSS 2.0 --------------------------------------------------------------


def _rss(root: ET.Element, base: str) -> dict[str, Any]:
    if root.get("version") not in RSS_VERSIONS or set(root.attrib) != {"version"}:
        raise _Doubt("rss version")
    if len(root) != 1 or root[0].tag != "channel" or root[0].attrib:
        raise _Doubt("rss children")
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for el in root[0]:
        tag = el.tag
        if tag == "item":
            entries.append(_rss_item(el, base))
            continue
        name = _name(tag)
        if name == "title":
            if tag != "title":
                raise _Doubt("namespaced channel title")
            _once(seen, name)
            feed["title"] = _finish(_text(el))
        elif not _feed_hints(el, name, feed, seen):
            _harmless(el, name, _HARMLESS_CHANNEL | frozenset(_CHANNEL_CONTAINERS), _CHANNEL_CONTAINERS)
            if name in _CHANNEL_CONTAINERS:
                for child in el:
                    if child.tag[0] == "{" or len(child):
                        raise _Doubt("namespaced element in a channel container")
    return {"version": "rss20", "feed": feed, "entries": entries, "bozo": 0}


def _rss_item(item: ET.Element, base: str) -> dict[str, Any]:
    if item.attrib:
        raise _Doubt("item attributes")
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    link = guid = None
    guid_is_link = False
    content = None
    for el in item:
        tag = el.tag
        if tag == "title":
            _once(seen, "title")
            entry["title"] = _finish(_text(el))
        elif tag == "description":
            _once(seen, "description")
            entry["summary"] = _finish(_text(el))
        elif tag == _CONTENT + "encoded":
            _once(seen, "content")
            content = _finish(_text(el))
            entry["content"] = [{"type": "text/html", "value": content}]
        elif tag == "link":
            _once(seen, "link")
            raw = _text(el)
            if not raw:
                raise _Doubt("empty link")
            link = _finish(_urljoin(base, raw)).replace("&amp;", "&")
            link = _absolute(re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", link))
        elif tag == "guid":
            _once(seen, "guid")
            raw = _text(el, ("isPermaLink",))
            guid_is_link = el.get("isPermaLink", "true") == "true"
            guid = _finish(_urljoin(base, raw) if guid_is_link and raw else raw)
        elif tag == "pubDate":
            _once(seen, "published")
            entry["published_parsed"] = _rfc822(_finish(_text(el)))
        elif tag in ("author", _DC + "creator"):
            _once(seen, "author")
            entry["author"] = _finish(_text(el))
        else:
            name = _name(tag)
            _harmless(el, name, _HARMLESS_ITEM | frozenset(_MEDIA_CONTAINERS), _MEDIA_CONTAINERS)
    if content is not None and "summary" not in entry:
        entry["summary"] = content
    if guid is not None:
        entry["id"] = guid
        if guid_is_link and link is None:
            link = _absolute(guid)
    if link is not None:
        entry["link"] = link
        entry["links"] = [{"rel": "alternate", "type": "text/html", "href": link}]
    return entry


# -- Atom 1.0 -------------------------------------------------------------


def _atom(root: ET.Element, base: str) -> dict[str, Any]:
    if any(key != "{http://www.w3.org/XML/1998/namespace}lang" for key in root.attrib):
        raise _Doubt("feed attributes")
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for el in root:
        tag = el.tag
        if tag == ATOM + "entry":
            entries.append(_atom_entry(el, base))
            continue
        name = _name(tag)
        if name == "title":
            if tag != ATOM + "title":
                raise _Doubt("foreign feed title")
            _once(seen, name)
            feed["title"] = _finish(_atom_text(el)[1])
        elif name in ("author", "contributor"):
            _person(el)
        elif not _feed_hints(el, name, feed, seen):
            _harmless(el, name, _HARMLESS_ATOM_FEED, {})
    return {"version": "atom10", "feed": feed, "entries": entries, "bozo": 0}


def _atom_text(el: ET.Element) -> tuple[str, str]:
    """(feedparser content type, text) of an Atom text construct (text or html only)."""
    kind = el.get("type")
    if kind not in (None, "text", "html"):
        raise _Doubt(f"atom type {kind}")
    return ("text/html" if kind == "html" else "text/plain"), _text(el, ("type",))


def _person(el: ET.Element) -> str:
    """feedparser's `author` for an Atom person construct."""
    if el.attrib:
        raise _Doubt("person attributes")
    parts: dict[str, str] = {}
    for child in el:
        if not child.tag.startswith(ATOM) or child.tag[len(ATOM) :] not in _PERSON:
            raise _Doubt("person child")
        key = child.tag[len(ATOM) :]
        if key in parts:
            raise _Doubt("repeated person child")
        parts[key] = _text(child)
    name, email = parts.get("name"), parts.get("email")
    if name and email:
        return f"{name} ({email})"
    return name or email or ""


def _atom_entry(item: ET.Element, base: str) -> dict[str, Any]:
    if item.attrib:
        raise _Doubt("entry attributes")
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    links: list[dict[str, str]] = []
    alternate = None
    content = None
    for el in item:
        tag = el.tag
        local = tag[len(ATOM) :] if tag.startswith(ATOM) else None
        if local == "title":
            _once(seen, "title")
            entry["title"] = _finish(_atom_text(el)[1])
        elif local == "summary":
            _once(seen, "summary")
            entry["summary"] = _finish(_atom_text(el)[1])
        elif local == "content":
            _once(seen, "content")
            kind, value = _atom_text(el)
            content = _finish(value)
            entry["content"] = [{"type": kind, "value": content}]
        elif local == "id":
            _once(seen, "id")
            raw = _text(el)
            entry["id"] = _finish(_urljoin(base, raw) if raw else raw)
        elif local == "link":
            if len(el) or not set(el.attrib) <= {"href", "rel", "type", "hreflang", "title", "length"}:
                raise _Doubt("link attributes")
            rel, given, href = el.get("rel", "alternate"), el.get("type"), el.get("href")
            if href is None or rel != rel.lower() or (given is not None and given != given.lower()):
                raise _Doubt("link without href, or mixed case")
            kind = given if given is not None else ("application/atom+xml" if rel == "self" else "text/html")
            href = _urljoin(base, href)
            if rel == "alternate":
                _absolute(href.strip())
                if _Mixin.map_content_type(kind) in _Mixin.html_types:
                    alternate = href
            links.append({"rel": rel, "type": kind, "href": href})
        elif local == "published":
            _once(seen, "published")
            entry["published_parsed"] = _rfc3339(_finish(_text(el)))
        elif local == "updated":
            _once(seen, "updated")
            entry["updated_parsed"] = _rfc3339(_finish(_text(el)))
        elif local == "author":
            _once(seen, "author")
            entry["author"] = _person(el)
        else:
            name = _name(tag)
            _harmless(el, name, _HARMLESS_ATOM_ENTRY | frozenset(_MEDIA_CONTAINERS), _MEDIA_CONTAINERS)
    if content is not None and "summary" not in entry:
        entry["summary"] = content
    if links:
        entry["links"] = links
    if alternate is not None:
        entry["link"] = alternate
    elif "id" in entry:
        entry["link"] = entry["id"]  # feedparser: an Atom id acts as the link when there is none
    return entry
