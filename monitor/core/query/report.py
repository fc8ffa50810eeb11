"""What a match reports: terms, spans, score and highlighted snippets.

Owns turning an evaluation's leaves into things people read.

- terms: each matched leaf's label as the query (or keyword list) writes it —
  `cartel`, `"security agreement"`, `narco*` (the prefix, not the words it
  matched), `case:US`, `@gorka`, `/regex/` — distinct, in the order of their
  first occurrence (title before text). Keywords that fold alike report the
  first spelling in the list.
- spans: (field, start, end) character offsets into the ORIGINAL title or
  text, sorted, distinct.
- score: for each distinct term and each field it occurs in, the field's
  weight (title 2, text 1) times 1 + log2(occurrences there). Rounded to
  3 decimals so it is stable.
- snippets: up to `MAX_SNIPPETS` non-overlapping windows of about 200
  characters, best first (most distinct terms, then most hits, text before
  title, then earliest), each a `Snippet`: the window's text (whitespace
  collapsed, ellipses where cut) with every matched span as a mark
  (offsets), touching spans merged. The text itself is never marked up, so
  `**` or `<mark>` in feed text stays text. `snippet` (plain) is around the
  first match in the text if the text matched, else in the title — as
  before.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from math import log2
from typing import NamedTuple

from monitor.core.query.evaluate import Leaf
from monitor.core.query.fields import FIELD_NAMES, ArticleFields
from monitor.core.text import snippet_bounds
from monitor.models import Snippet

SNIPPET_WIDTH = 200
MAX_SNIPPETS = 3
TITLE_WEIGHT = 2.0
_SPACE = re.compile(r"(\s+)")

# One matched leaf in character offsets: (field, start, end, label).
Hit = tuple[int, int, int, str]


class Report(NamedTuple):
    """What one match reports; spans are (field name, start, end)."""

    terms: tuple[str, ...]
    spans: tuple[tuple[str, int, int], ...]
    score: float
    snippet: str
    snippets: tuple[Snippet, ...]


def hits_of(leaves: Iterable[Leaf], fields: ArticleFields) -> list[Hit]:
    """Distinct leaves in character offsets, sorted by field then position."""
    out: set[Hit] = set()
    texts = fields.fields
    for label, field, start, end, is_char in leaves:
        if field < 0:
            continue
        if not is_char:
            text = texts[field]
            if not text.exact:
                start, end = text.char(start, end)
        out.add((field, start, end, label))
    return sorted(out) if len(out) > 1 else list(out)


def report(hits: list[Hit], fields: ArticleFields) -> Report:
    """Everything a MatchResult says about `hits` (at least one)."""
    if len(hits) == 1:
        return report_one(*hits[0], fields)
    counts: dict[tuple[str, int], int] = {}
    for field, _, _, label in hits:
        counts[label, field] = counts.get((label, field), 0) + 1
    terms = tuple(dict.fromkeys(label for label, _ in counts))
    score = sum((TITLE_WEIGHT if field == 0 else 1.0) * (1.0 + log2(n)) for (_, field), n in counts.items())
    spans = tuple(dict.fromkeys((FIELD_NAMES[f], s, e) for f, s, e, _ in hits))
    first = next((h for h in hits if h[0] == 1), hits[0])
    bounds: dict[tuple[int, int, int], tuple[int, int]] = {}
    plain = _render(fields, first[0], _bounds(fields, first, bounds), []).text
    return Report(terms, spans, round(score, 3), plain, highlighted_snippets(hits, fields, bounds=bounds))


def report_one(field: int, start: int, end: int, label: str, fields: ArticleFields) -> Report:
    """`report` of the single hit (field, start, end, label): the common case,
    without the bookkeeping for many hits."""
    window = snippet_bounds(fields.fields[field].text, start, end, SNIPPET_WIDTH)
    shown = _render(fields, field, window, [(field, start, end, label)])
    weight = TITLE_WEIGHT if field == 0 else 1.0
    return Report((label,), ((FIELD_NAMES[field], start, end),), weight, shown.text, (shown,))


def _bounds(fields: ArticleFields, hit: Hit, cache: dict[tuple[int, int, int], tuple[int, int]]) -> tuple[int, int]:
    key = hit[:3]
    found = cache.get(key)
    if found is None:
        found = cache[key] = snippet_bounds(fields.fields[hit[0]].text, hit[1], hit[2], SNIPPET_WIDTH)
    return found


def highlighted_snippets(
    hits: list[Hit],
    fields: ArticleFields,
    limit: int = MAX_SNIPPETS,
    bounds: dict[tuple[int, int, int], tuple[int, int]] | None = None,
) -> tuple[Snippet, ...]:
    """The best `limit` windows around hits, each with its matches marked."""
    cache = {} if bounds is None else bounds
    if len(hits) == 1:
        return (_render(fields, hits[0][0], _bounds(fields, hits[0], cache), hits),)
    # (-distinct terms, -hits, text before title, field, lo, hi)
    windows: list[tuple[int, int, bool, int, int, int]] = []
    # The hits inside a window are found by bisecting their starts, not by
    # testing every hit: an article repeating a watched word thousands of
    # times would otherwise take time quadratic in its length.
    by_start = sorted(hits)
    starts = [(h[0], h[1]) for h in by_start]
    for hit in hits:
        field = hit[0]
        lo, hi = _bounds(fields, hit, cache)
        near = by_start[bisect_left(starts, (field, lo)) : bisect_right(starts, (field, hi))]
        inside = [h[3] for h in near if h[2] <= hi]
        windows.append((-len(set(inside)), -len(inside), field != 1, field, lo, hi))
    windows.sort()
    chosen: list[tuple[int, int, int]] = []
    for *_, field, lo, hi in windows:
        if len(chosen) == limit:
            break
        if all(c[0] != field or hi <= c[1] or lo >= c[2] for c in chosen):
            chosen.append((field, lo, hi))
    return tuple(_render(fields, f, (lo, hi), [h for h in hits if h[0] == f]) for f, lo, hi in chosen)


def _render(fields: ArticleFields, field: int, window: tuple[int, int], hits: list[Hit]) -> Snippet:
    """The window of the field's text, whitespace collapsed, `hits` marked."""
    text = fields.fields[field].text
    lo, hi = window
    pieces: list[tuple[int, int, bool]] = []
    at = lo
    for _, start, end, _ in hits:
        start, end = max(start, lo, at), min(end, hi)
        if start >= end:
            continue
        if at < start:
            pieces.append((at, start, False))
        pieces.append((start, end, True))
        at = end
    if at < hi:
        pieces.append((at, hi, False))
    out: list[str] = ["…"] if lo > 0 else []
    length = len(out)
    marks: list[tuple[int, int]] = []
    space = False
    for start, end, is_match in pieces:
        first = None
        for token in _SPACE.split(text[start:end]):
            if not token:
                continue
            if token.isspace():
                space = True
                continue
            if space and length > (1 if lo > 0 else 0):
                out.append(" ")
                length += 1
            space = False
            if first is None:
                first = length
            out.append(token)
            length += len(token)
        if is_match and first is not None:
            if marks and marks[-1][1] == first:  # overlapping or touching spans: one highlight
                marks[-1] = (marks[-1][0], length)
            else:
                marks.append((first, length))
    if hi < len(text):
        out.append("…")
    return Snippet("".join(out), tuple(marks))
