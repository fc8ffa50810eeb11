"""Hits as plain records: what `monitor hits --format json|csv` prints and the API returns.

One function builds both, so the CLI and the API give the same records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.models import HitRecord, Snippet


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


HIT_FIELDS = [
    "id",
    "watchlist",
    "title",
    "link",
    "feed",
    "terms",
    "snippet",
    "score",
    "published",
    "found_at",
    "story_id",
    "outlets",
    "also_reported_by",
]


def highlight_fields(snippets: tuple[Snippet, ...]) -> dict[str, Any]:
    """Snippets as JSON: `highlights`, each snippet's plain text (feed text
    as it is, no markers), and `highlight_parts`, each snippet as its
    [{"text", "match"}] runs (joined, the runs give the snippet's text)."""
    return {
        "highlights": [s.text for s in snippets],
        "highlight_parts": [[{"text": text, "match": match} for text, match in s.parts()] for s in snippets],
    }


def hit_dict(hit: HitRecord) -> dict[str, Any]:
    """One hit as JSON: the CSV fields plus why it matched (highlighted
    snippets, offsets) and its story's sources. The API gives the same."""
    out: dict[str, Any] = {
        "id": hit.id,
        "watchlist": hit.watchlist,
        "title": hit.title,
        "link": hit.link,
        "feed": hit.feed,
        "terms": list(hit.terms),
        "snippet": hit.snippet,
        "score": hit.score,
        "published": iso(hit.published),
        "found_at": iso(hit.found_at),
        "story_id": hit.story_id,
        "outlets": hit.outlets,
        "also_reported_by": [source.feed for source in hit.also_reported_by],
    }
    out.update(highlight_fields(hit.snippets))
    out["spans"] = [{"field": f, "start": a, "end": b} for f, a, b in hit.spans]
    out["sources"] = [
        {"feed": src.feed, "title": src.title, "link": src.link, "outlet": src.outlet, "seen_at": iso(src.seen_at)}
        for src in hit.sources
    ]
    return out
