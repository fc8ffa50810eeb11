"""Evaluation of compiled queries over one normalised article.

Owns the meaning of every operator. A compiled node's `occurrences(ctx)`
returns a list of `Occ` tuples, empty when the node does not match:

    (field, first_word, end_word, leaves)

`field` is 0 (title) or 1 (text); words [first_word, end_word) are what the
occurrence covers (used by NEAR). A node with no position (NOT, feed:, tag:)
matches with the single placeholder `TRUE_OCC`. `leaves` are what gets
highlighted and reported: `(label, field, start, end, is_char)` where start
and end are word indexes, or character offsets when `is_char` (regexes).

Semantics, also followed by the slow reference evaluator in the tests:
- AND matches when every child does; its occurrences are all of theirs.
- OR's occurrences are those of the children that match.
- NEAR/n pairs a left and a right occurrence in the same field that do not
  overlap and have at most n words between them (ONEAR: left ends before
  right starts). The pair covers both; nested NEAR measures from that span.
- An entity's names always count; its aliases only when one of its context
  phrases occurs anywhere in the article.
"""

from __future__ import annotations

import re

from monitor.core.query.fields import ArticleFields

Leaf = tuple[str, int, int, int, bool]
Occ = tuple[int, int, int, tuple[Leaf, ...]]
TRUE_OCC: Occ = (-1, 0, 0, ())
EMPTY: list[Occ] = []
FIELD_INDEX = {None: None, "title": 0, "text": 1}


class ArticleContext:
    """One article's presearch hits as word positions per key."""

    __slots__ = ("fields", "_raw")

    def __init__(self, fields: ArticleFields, hits: dict[int, list[tuple[int, int]]]) -> None:
        self.fields = fields
        self._raw = hits

    def positions(self, key: int) -> list[tuple[int, int]]:
        """(field, word index) where presearch key `key` starts, in order."""
        return self._raw.get(key) or []

    def has(self, key: int) -> bool:
        return key in self._raw


class CTerm:
    """Words (the last maybe a prefix), optionally case-exact, in a field."""

    __slots__ = ("key", "size", "field", "raw", "label")

    def __init__(self, key: int, size: int, field: int | None, raw: tuple[str, ...] | None, label: str) -> None:
        self.key = key
        self.size = size
        self.field = field
        self.raw = raw
        self.label = label

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        found = ctx._raw.get(self.key)
        if found is None:
            return EMPTY
        size, field, raw, label = self.size, self.field, self.raw, self.label
        out: list[Occ] = []
        for f, w in found:
            if field is not None and f != field:
                continue
            if raw is not None:
                text = ctx.fields.fields[f]
                if any(text.original(w + k) != raw[k] for k in range(size)):
                    continue
            end = w + size
            out.append((f, w, end, ((label, f, w, end, False),)))
        return out


class CRegex:
    """A regular expression over the original text of a field."""

    __slots__ = ("pattern", "field", "label")

    def __init__(self, pattern: re.Pattern[str], field: int | None, label: str) -> None:
        self.pattern = pattern
        self.field = field
        self.label = label

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        for f, text in enumerate(ctx.fields.fields):
            if self.field is not None and f != self.field:
                continue
            for m in self.pattern.finditer(text.text):
                if m.end() > m.start():
                    out.append((f, -1, -1, ((self.label, f, m.start(), m.end(), True),)))
        return out


class CEntity:
    """`@name`: names always; aliases when a context phrase is present."""

    __slots__ = ("names", "aliases", "context", "label")

    def __init__(self, names: list[CTerm], aliases: list[CTerm], context: list[int], label: str) -> None:
        self.names = names
        self.aliases = aliases
        self.context = context
        self.label = label

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        for term in self.names:
            out.extend(term.occurrences(ctx))
        if self.aliases and self.in_context(ctx):
            for term in self.aliases:
                out.extend(term.occurrences(ctx))
        return out

    def in_context(self, ctx: ArticleContext) -> bool:
        return any(ctx.has(key) for key in self.context)


class CSource:
    """feed: or tag: — a test on the article's origin, no positions."""

    __slots__ = ("kind", "value", "label")

    def __init__(self, kind: str, value: str, label: str) -> None:
        self.kind = kind
        self.value = value
        self.label = label

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        feed, tags = ctx.fields.folded_source()
        ok = feed == self.value if self.kind == "feed" else self.value in tags
        return [TRUE_OCC] if ok else EMPTY


class CNot:
    __slots__ = ("child",)

    def __init__(self, child: CNode) -> None:
        self.child = child

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        return EMPTY if self.child.occurrences(ctx) else [TRUE_OCC]


class CAnd:
    __slots__ = ("children",)

    def __init__(self, children: list[CNode]) -> None:
        self.children = children

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        for child in self.children:
            found = child.occurrences(ctx)
            if not found:
                return EMPTY
            out.extend(found)
        return [occ for occ in out if occ is not TRUE_OCC] or [TRUE_OCC]


class COr:
    __slots__ = ("children",)

    def __init__(self, children: list[CNode]) -> None:
        self.children = children

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        for child in self.children:
            out.extend(child.occurrences(ctx))
        if len(out) > 1 and TRUE_OCC in out:
            out = [occ for occ in out if occ is not TRUE_OCC] or [TRUE_OCC]
        return out


class CNear:
    __slots__ = ("left", "right", "distance", "ordered")

    def __init__(self, left: CNode, right: CNode, distance: int, ordered: bool) -> None:
        self.left = left
        self.right = right
        self.distance = distance
        self.ordered = ordered

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        lefts = self.left.occurrences(ctx)
        if not lefts:
            return EMPTY
        rights = self.right.occurrences(ctx)
        if not rights:
            return EMPTY
        return near_pairs(lefts, rights, self.distance, self.ordered)

    def closest(self, ctx: ArticleContext) -> int | None:
        """Fewest words between any usable pair (for explanations)."""
        return closest_gap(self.left.occurrences(ctx), self.right.occurrences(ctx), self.ordered)


def gap(a: Occ, b: Occ, ordered: bool) -> int | None:
    """Words between `a` and `b` (a first when ordered); None if unusable."""
    if a[0] != b[0] or a[0] < 0:
        return None
    if a[2] <= b[1]:
        return b[1] - a[2]
    if not ordered and b[2] <= a[1]:
        return a[1] - b[2]
    return None


def near_pairs(lefts: list[Occ], rights: list[Occ], distance: int, ordered: bool) -> list[Occ]:
    out: list[Occ] = []
    for a in lefts:
        for b in rights:
            g = gap(a, b, ordered)
            if g is not None and g <= distance:
                out.append((a[0], min(a[1], b[1]), max(a[2], b[2]), a[3] + b[3]))
    return out


def closest_gap(lefts: list[Occ], rights: list[Occ], ordered: bool) -> int | None:
    best: int | None = None
    for a in lefts:
        for b in rights:
            g = gap(a, b, ordered)
            if g is not None and (best is None or g < best):
                best = g
    return best


CNode = CTerm | CRegex | CEntity | CSource | CNot | CAnd | COr | CNear


def leaves_of(occs: list[Occ]) -> list[Leaf]:
    """The distinct leaves of `occs`, in field then position order."""
    seen: set[Leaf] = set()
    for occ in occs:
        seen.update(occ[3])
    return sorted(seen, key=lambda leaf: (leaf[1], leaf[2], leaf[3], leaf[0]))
