"""OPML subscription lists: reading, writing and merging into the feed list.

Owns the OPML format. `read_opml` turns a file's bytes into feeds (name, URL,
tags from the enclosing folders and `category` attributes) plus a list of
the outlines it skipped and why; `write_opml` does the reverse; `merge_feeds`
decides which imported feeds are new to an existing feed list. No I/O here.

Parsing uses the standard library's expat parser with every document type
declaration refused, so entity expansion attacks (billion laughs) and
external entities (XXE) cannot happen: a DTD is an error, and an entity
other than the five predefined ones is undefined.
"""

from __future__ import annotations

import codecs
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit
from xml.parsers import expat

from monitor.errors import MonitorError

__all__ = ["OpmlError", "OpmlFeed", "OpmlResult", "OpmlSkipped"]
__all__ += ["merge_feeds", "normalise_url", "read_opml", "write_opml"]


class OpmlError(MonitorError):
    """An OPML document that cannot be read at all (not XML, not OPML, a DTD)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class OpmlFeed:
    """One feed outline: a usable name, an http(s) URL and its tags."""

    name: str
    url: str
    tags: tuple[str, ...] = ()
    html_url: str | None = None


@dataclass(frozen=True)
class OpmlSkipped:
    """An outline that did not become a feed, with the line it starts on."""

    line: int | None
    name: str
    reason: str


@dataclass(frozen=True)
class OpmlResult:
    """What `read_opml` found: the list's title, its feeds and what it skipped.

    `warnings` says when the document was not well-formed and was read only
    after repair (many exporters leave `&` and `"` unescaped in attributes).
    """

    title: str
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[OpmlSkipped, ...]
    warnings: tuple[str, ...] = ()


# --- URLs and names ----------------------------------------------------------

_SPACE_RE = re.compile(r"\s+")
_BAD_URL_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _feed_alias(url: str) -> str:
    """`feed://host/x` → `http://host/x`; `feed:https://host/x` → `https://host/x`."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.lower() != "feed":
        return url
    return "http:" + rest if rest.startswith("//") else rest


def _check_url(raw: str) -> tuple[str | None, str]:
    """The http(s) URL to poll, or None and the reason it is refused."""
    url = _feed_alias(raw.strip())
    if _BAD_URL_CHARS_RE.search(url):
        return None, f"not a valid URL (contains spaces or control characters): {raw.strip()!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None, f"not a valid URL: {url}"
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None, f"not an http(s) URL: {url}"
    return url, ""


def normalise_url(url: str) -> str:
    """The form of a URL used to spot the same feed twice.

    Scheme and host lower-cased, the default port and the fragment dropped,
    a trailing slash ignored, `feed:` mapped to http. http and https stay
    different: a site may serve different feeds on each.
    """
    url = _feed_alias(url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + (f"[{host}]" if ":" in host else host)
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    query = "?" + parts.query if parts.query else ""
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}{query}"


def _clean_text(value: str) -> str:
    """An attribute as a display name: entities decoded once more, spaces collapsed.

    Many exporters escape twice (`&amp;amp;`, `&amp;#39;`); expat undoes one
    level and `html.unescape` the other.
    """
    return _SPACE_RE.sub(" ", html.unescape(value)).strip()


def _fallback_name(url: str) -> str:
    parts = urlsplit(url)
    return ((parts.hostname or "") + parts.path).rstrip("/") or url


def _split_categories(value: str) -> list[str]:
    """OPML 2.0 `category`: comma-separated, slash-delimited (`/News/World,tech`)."""
    return [t for t in (_clean_text(p) for p in re.split(r"[,/]", value)) if t]


def _dedupe(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags in order, the first spelling of each kept (compared case-insensitively)."""
    first: dict[str, str] = {}
    for tag in tags:
        if tag:
            first.setdefault(tag.casefold(), tag)
    return tuple(first.values())


# --- reading -------------------------------------------------------------------


class _Refused(Exception):
    """Raised from an expat handler to stop the parse."""


@dataclass
class _Open:
    """An outline whose end tag has not been seen yet."""

    line: int
    name: str
    is_feed: bool
    tag: str = ""  # the folder name it gives the feeds inside it
    reason: str = ""  # why a folder is skipped if it turns out to be empty
    has_children: bool = False


class _Reader:
    """Expat handlers collecting outlines; one instance per document."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.elements: list[str] = []
        self.in_body: list[bool] = []  # per open element: is it an outline of <body>?
        self.open: list[_Open] = []
        self.title_parts: list[str] = []
        self.feeds: list[OpmlFeed] = []
        self.skipped: list[OpmlSkipped] = []
        self.seen: dict[str, str] = {}
        self.saw_body = False
        parser.StartDoctypeDeclHandler = self.refuse_dtd
        parser.EntityDeclHandler = self.refuse_dtd
        parser.ExternalEntityRefHandler = self.refuse_dtd
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text

    def refuse_dtd(self, *_: object) -> NoReturn:
        raise _Refused("a DTD or entity declaration is not allowed in OPML")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        tag = tag.lower()
        path = self.elements
        if not path and tag != "opml":
            raise _Refused(f"not an OPML document (the root element is <{tag}>)")
        path.append(tag)
        if tag == "body" and path[:2] == ["opml", "body"]:
            self.saw_body = True
        body_outline = tag == "outline" and path[1:2] == ["body"]
        self.in_body.append(body_outline)
        if body_outline:
            self.outline({k.lower(): v for k, v in reversed(attrs.items()) if v.strip()})

    def end(self, tag: str) -> None:
        self.elements.pop()
        if not self.in_body.pop():
            return
        done = self.open.pop()
        if not done.is_feed and not done.has_children:
            self.skipped.append(OpmlSkipped(done.line, done.name, done.reason))

    def text(self, data: str) -> None:
        if self.elements[-2:] == ["head", "title"] and len(self.elements) == 3:
            self.title_parts.append(data)

    def outline(self, attrs: dict[str, str]) -> None:
        # Attribute names are matched case-insensitively (xmlUrl, xmlURL,
        # xmlurl all occur); `reversed` above lets the first spelling win.
        line = self.parser.CurrentLineNumber
        if self.open:
            self.open[-1].has_children = True
        raw_name = _clean_text(attrs.get("text", "")) or _clean_text(attrs.get("title", ""))
        xml_url = attrs.get("xmlurl", "").strip()
        if not xml_url:
            self.open.append(_Open(line, raw_name or "(unnamed)", False, raw_name, _no_url_reason(attrs)))
            return
        self.open.append(_Open(line, raw_name, True))
        url, reason = _check_url(xml_url)
        name = raw_name or (_fallback_name(url) if url else xml_url)
        key = normalise_url(url) if url else ""
        if url and key in self.seen:
            reason = f"duplicate of {self.seen[key]}"
        if reason or url is None:
            self.skipped.append(OpmlSkipped(line, name, reason))
            return
        self.seen[key] = name
        folders = [o.tag for o in self.open if o.tag]
        html_url, _ = _check_url(attrs.get("htmlurl", ""))
        tags = _dedupe(folders + _split_categories(attrs.get("category", "")))
        self.feeds.append(OpmlFeed(name, url, tags, html_url))


def _no_url_reason(attrs: dict[str, str]) -> str:
    if attrs.get("type", "").lower() == "include" and attrs.get("url"):
        return f"OPML include not followed: {attrs['url'].strip()}"
    if attrs.get("htmlurl"):
        return f"no xmlUrl (only htmlUrl {attrs['htmlurl'].strip()})"
    return "no xmlUrl"


_DECL_RE = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_EXPAT_NATIVE = frozenset({"utf-8", "utf-16", "iso8859-1", "ascii"})


def _prepare(data: bytes) -> tuple[bytes, str | None]:
    """Bytes expat can read, and the encoding to force on it, if any.

    Leading whitespace before `<?xml` is dropped (common, and fatal to
    expat). Expat reads UTF-8, UTF-16, ISO-8859-1 and ASCII itself; any
    other declared encoding (windows-1251, GB2312, ...) is decoded here and
    handed over as UTF-8. A document that claims UTF-8 (or nothing) but is
    not is read as windows-1252, as browsers do.
    """
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data, None
    body = data.lstrip() if data[:1].isspace() else data
    m = _DECL_RE.match(body)
    try:
        encoding = codecs.lookup(m.group(1).decode("ascii") if m else "utf-8").name
    except LookupError:
        return body, None  # expat reports the unknown encoding
    try:
        if encoding in _EXPAT_NATIVE:
            if encoding == "utf-8":
                body.decode("utf-8")
            return body, None
        return body.decode(encoding).encode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        if encoding != "utf-8":
            return body, None  # expat reports the bad bytes with their line
        return body.decode("cp1252", "replace").encode("utf-8"), "utf-8"


_BARE_AMP_RE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
# Both run in linear time on hostile input: a tag never spans another
# `<outline`, and attribute starts are found in one pass.
_OUTLINE_TAG_RE = re.compile(
    rb"<outline\b((?:(?!<outline\b).)*?)(/?>)(?=\s*(?:</?outline\b|</body\b|\Z))",
    re.DOTALL | re.IGNORECASE,
)
_ATTR_START_RE = re.compile(
    rb"(?<=\s)(?:text|title|description|xmlUrl|htmlUrl|type|version|language|category"
    rb"|created|url|isComment|isBreakpoint)\s*=\s*\"",
    re.IGNORECASE,
)


def _repair_outline(m: re.Match[bytes]) -> bytes:
    """One outline tag with `"` and `<` escaped inside its known attributes' values.

    A value runs to the last quote before the next known OPML attribute (or
    the end of the tag); an unknown attribute in between ends up inside it.
    """
    attrs = m.group(1)
    starts = list(_ATTR_START_RE.finditer(attrs))
    out = [attrs[: starts[0].end()] if starts else attrs]
    for i, start in enumerate(starts):
        stop = starts[i + 1].start() if i + 1 < len(starts) else len(attrs)
        chunk = attrs[start.end() : stop]
        close = chunk.rfind(b'"')
        if close < 0:
            return m.group(0)
        out.append(chunk[:close].replace(b'"', b"&quot;").replace(b"<", b"&lt;") + chunk[close:])
        if i + 1 < len(starts):
            out.append(attrs[stop : starts[i + 1].end()])
    return b"<outline" + b"".join(out) + m.group(2)


def _repair(body: bytes) -> bytes:
    """The breakages real exporters produce, mended (line numbers are kept).

    A bare `&` (or an HTML entity such as `&nbsp;`, undefined in XML)
    becomes `&amp;`, which `_clean_text` later decodes. In an outline tag
    (running to the `>` that is followed by the next outline tag), `"` and
    `<` inside a double-quoted value are escaped, the value running to the
    quote that is followed by a known OPML attribute or the end of the tag:
    exporters copy a feed's HTML description into `description` as is.
    """
    return _OUTLINE_TAG_RE.sub(_repair_outline, _BARE_AMP_RE.sub(b"&amp;", body))


def _parse(body: bytes, forced: str | None, source: str) -> _Reader:
    parser = expat.ParserCreate(forced)
    reader = _Reader(parser)
    try:
        parser.Parse(body, True)
    except _Refused as exc:
        raise OpmlError(source, str(exc)) from None
    except expat.ExpatError as exc:
        raise OpmlError(source, f"not well-formed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # an encoding expat cannot handle
        raise OpmlError(source, f"cannot read: {exc}") from None
    return reader


def read_opml(data: bytes, source: str = "OPML") -> OpmlResult:
    """The feeds in an OPML document, and the outlines skipped with reasons.

    An outline with an `xmlUrl` is a feed; one without is a folder whose
    `text`/`title` becomes a tag of every feed inside it (outermost first),
    followed by the feed's own `category` values. The name is `text`, else
    `title`, else the URL's host and path. Only http(s) URLs are kept;
    `feed://host/x` is read as `http://host/x` and `feed:https://...` as
    `https://...`. A feed whose normalised URL appeared earlier in the file
    is skipped as a duplicate. Names are not made unique here (see
    `merge_feeds`). A document that is not well-formed only because of
    stray `&` or quotes in attribute values is repaired and read, with a
    warning. Raises OpmlError when the document is not OPML, not XML even
    after that repair, or declares a DTD.
    """
    body, forced = _prepare(data)
    warnings: tuple[str, ...] = ()
    try:
        reader = _parse(body, forced, source)
    except OpmlError as exc:
        repaired = _repair(body)
        if not exc.reason.startswith("not well-formed") or repaired == body:
            raise
        try:
            reader = _parse(repaired, forced, source)
        except OpmlError:
            raise exc from None
        warnings = (f"{exc.reason}; read after escaping stray & and quotes",)
    if not reader.saw_body:
        raise OpmlError(source, "not an OPML document (no <body>)")
    title = _clean_text("".join(reader.title_parts))
    return OpmlResult(title, tuple(reader.feeds), tuple(reader.skipped), warnings)


# --- writing -------------------------------------------------------------------

_NOT_XML_RE = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(value: str) -> str:
    return _NOT_XML_RE.sub("", value).strip()


def write_opml(feeds: Sequence[tuple[str, str, Sequence[str]]], title: str = "monitor feeds") -> bytes:
    """An OPML 2.0 document (UTF-8) listing `(name, url, tags)` feeds.

    Each feed sits in a folder named after its first tag (untagged feeds at
    the top level, folders in order of first use) and carries all its tags
    in a `category` attribute, so readers that know only folders and readers
    that know only categories both see them. Tags containing `,` or `/`
    cannot be represented exactly in `category` and come back split.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_safe(title)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for name, url, raw_tags in feeds:
        tags = _dedupe([_xml_safe(t) for t in raw_tags])
        if tags and tags[0] not in folders:
            folders[tags[0]] = ET.SubElement(body, "outline", text=tags[0], title=tags[0])
        parent = folders[tags[0]] if tags else body
        attrs = {"type": "rss", "text": _xml_safe(name), "title": _xml_safe(name), "xmlUrl": _xml_safe(url)}
        if tags:
            attrs["category"] = ",".join(tags)
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root, space="  ")
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


# --- merging -------------------------------------------------------------------


def merge_feeds(
    existing: Sequence[tuple[str, str]], incoming: Sequence[OpmlFeed]
) -> tuple[list[OpmlFeed], list[OpmlSkipped]]:
    """The incoming feeds to add to an existing `(name, url)` list, and those skipped.

    An incoming feed whose normalised URL is already present (in `existing`
    or earlier in `incoming`) is skipped. One whose name is taken (compared
    case-insensitively) by a different URL is kept under a new name: "Name (2)",
    "Name (3)", ... whichever is free.
    """
    urls = {normalise_url(url): name for name, url in existing}
    names = {name.strip().casefold() for name, _ in existing}
    added: list[OpmlFeed] = []
    skipped: list[OpmlSkipped] = []
    for feed in incoming:
        key = normalise_url(feed.url)
        if key in urls:
            skipped.append(OpmlSkipped(None, feed.name, f"duplicate of {urls[key]}"))
            continue
        name, n = feed.name, 1
        while name.casefold() in names:
            n += 1
            name = f"{feed.name} ({n})"
        urls[key] = name
        names.add(name.casefold())
        added.append(feed if name == feed.name else OpmlFeed(name, feed.url, feed.tags, feed.html_url))
    return added, skipped
