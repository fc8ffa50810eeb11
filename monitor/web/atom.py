"""Atom 1.0 documents of hits (/feeds/all.atom, /feeds/{watchlist}.atom), built with ElementTree.

ElementTree escapes every text and attribute, so feed-derived text cannot
break the XML. Entry ids are tag: URIs of the hit id, stable across
requests and restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from xml.etree import ElementTree as ET

from monitor.models import HitRecord
from monitor.times import iso
from monitor.web.render import highlight

ATOM_NS = "http://www.w3.org/2005/Atom"
TAG_AUTHORITY = "monitor.localhost,2024"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def entry_id(hit_id: int) -> str:
    return f"tag:{TAG_AUTHORITY}:hit:{hit_id}"


def atom_feed(
    hits: Sequence[HitRecord],
    *,
    title: str,
    feed_id: str,
    self_url: str,
    alternate_url: str,
    hit_url: str,
    now: datetime,
) -> bytes:
    """The Atom document; `hit_url` is a format string with `{id}` for hits without a link."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    _sub(feed, "updated", iso(max((h.found_at for h in hits), default=now)))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    author = _sub(feed, "author")
    _sub(author, "name", "monitor")
    _sub(feed, "generator", "monitor")
    for hit in hits:
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(hit.id))
        _sub(entry, "title", hit.title or "(untitled)")
        _sub(entry, "updated", iso(hit.found_at))
        _sub(entry, "published", iso(hit.published))
        _sub(entry, "link", rel="alternate", type="text/html", href=hit.link or hit_url.format(id=hit.id))
        _sub(entry, "category", term=hit.watchlist, label=hit.watchlist)
        source = _sub(entry, "author")
        _sub(source, "name", hit.feed)
        snippets = hit.snippets or ((hit.snippet,) if hit.snippet else ())
        summary = "<br/>".join(str(highlight(s)) for s in snippets) or "matched: " + ", ".join(hit.terms)
        _sub(entry, "summary", summary, type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
