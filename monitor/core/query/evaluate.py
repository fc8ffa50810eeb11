"""Evaluation of compiled queries over one normalised article.

Owns the meaning of every operator. A compiled node's `occurrences(ctx)`
returns a list of `Occ` tuples, empty when the node does not match:

    (field, start, end, leaves)

`field` is 0 (title) or 1 (text); [start, end) are offsets in that field's
folded stream (`fields.FieldText.stream`) of the words the occurrence covers
(used by NEAR, which counts the words between two occurrences). A node with
no position (NOT, feed:, tag:) matches with the single placeholder
`TRUE_OCC`. `leaves` are what gets highlighted and reported:
`(label, field, start, end, is_char)` with stream offsets, or offsets in the
original text when `is_char` (regexes). For the usual one-to-one folded
field the two are the same.

Presearch gives, per automaton id (one spelling of a key, see `compile`),
where its matches ended in the article stream.

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
from monitor.core.query.patterns import RegexPattern, RegexTimeout

Leaf = tuple[str, int, int, int, bool]
Occ = tuple[int, int, int, tuple[Leaf, ...]]
TRUE_OCC: Occ = (-1, 0, 0, ())
EMPTY: list[Occ] = []
FIELD_INDEX = {None: None, "title": 0, "text": 1}


class ArticleContext:
    """One article's presearch hits: per automaton id, where its matches end.

    `regex_spans` keeps each regex's matches per field (or its timeout), so
    explaining an article, which evaluates a node more than once, runs each
    pattern once.
    """

    __slots__ = ("fields", "hits", "regex_spans", "stream", "text_base")

    def __init__(self, fields: ArticleFields, hits: dict[int, list[int]]) -> None:
        self.fields = fields
        self.hits = hits
        self.stream = fields.stream
        self.text_base = fields.text_base
        self.regex_spans: dict[tuple[int, int], list[tuple[int, int]] | RegexTimeout] = {}


class CTerm:
    """Words (the last maybe a prefix), optionally case-exact, in a field.

    `spelled` lists the key's automaton ids, each with the distance from a
    match's last character back to the first word's start. `pattern`, for
    phrases longer than their spellings, checks the whole phrase; `prefix`
    says a match must be extended to the end of its last word.
    """

    __slots__ = ("field", "key", "label", "pattern", "prefix", "raw", "spelled")

    def __init__(self, key: int, spelled: tuple[tuple[int, int], ...], pattern: re.Pattern[str] | None,
                 prefix: bool, field: int | None, raw: tuple[str, ...] | None, label: str) -> None:
        self.key = key
        self.spelled = spelled
        self.pattern = pattern
        self.prefix = prefix
        self.field = field
        self.raw = raw
        self.label = label

    def folded(self) -> CTerm:
        """The same term without its case test."""
        return CTerm(self.key, self.spelled, self.pattern, self.prefix, self.field, None, self.label)

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        hits = ctx.hits
        out: list[Occ] = []
        several = False
        for sid, shift in self.spelled:
            ends = hits.get(sid)
            if ends is None:
                continue
            if out:
                several = True
            self._collect(ctx, ends, shift, out)
        if several:
            out.sort()
        return out

    def _collect(self, ctx: ArticleContext, ends: list[int], shift: int, out: list[Occ]) -> None:
        stream, text_base = ctx.stream, ctx.text_base
        pattern, prefix, field, raw, label = self.pattern, self.prefix, self.field, self.raw, self.label
        for end in ends:
            start = end - shift
            if pattern is not None:
                m = pattern.match(stream, start)
                if m is None:
                    continue
                end = m.end()
            elif prefix:
                end = stream.find(" ", end)
            if start >= text_base:
                f = 1
                start -= text_base
                end -= text_base
            else:
                f = 0
                start -= 1
                end -= 1
            if field is not None and f != field:
                continue
            if raw is not None and not _same_case(ctx.fields, f, start, end, raw):
                continue
            out.append((f, start, end, ((label, f, start, end, False),)))


def _same_case(fields: ArticleFields, f: int, start: int, end: int, raw: tuple[str, ...]) -> bool:
    text = fields.fields[f]
    spans = text.word_spans(start, end)
    return len(spans) == len(raw) and all(text.original(s, e) == w for (s, e), w in zip(spans, raw))


class CRegex:
    """A regular expression over the original text of a field.

    Raises RegexTimeout when a fallback pattern runs out of time (see
    `patterns`); the matcher then skips the watchlist for this article.
    """

    __slots__ = ("field", "label", "pattern")

    def __init__(self, pattern: RegexPattern, field: int | None, label: str) -> None:
        self.pattern = pattern
        self.field = field
        self.label = label

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        for f, text in enumerate(ctx.fields.fields):
            if self.field is not None and f != self.field:
                continue
            key = (id(self), f)
            spans = ctx.regex_spans.get(key)
            if spans is None:
                try:
                    spans = self.pattern.spans(text.text)
                except RegexTimeout as exc:
                    spans = exc
                ctx.regex_spans[key] = spans
            if isinstance(spans, RegexTimeout):
                raise spans
            for start, end in spans:
                out.append((f, -1, -1, ((self.label, f, start, end, True),)))
        return out


class CEntity:
    """`@name`: names always; aliases when a context phrase is present."""

    __slots__ = ("aliases", "context", "label", "names")

    def __init__(self, names: list[CTerm], aliases: list[CTerm], context: list[CTerm], label: str) -> None:
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
        return any(term.occurrences(ctx) for term in self.context)


class CSource:
    """feed: or tag: — a test on the article's origin, no positions."""

    __slots__ = ("kind", "label", "value")

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
    """Any of the children.

    Term children are looked up spelling by spelling in one flat loop (a
    keyword list is an OR of many terms, few of them present); the order of
    occurrences does not matter to anything downstream.
    """

    __slots__ = ("children", "others", "shifts", "sids", "terms")

    def __init__(self, children: list[CNode]) -> None:
        self.children = children
        # Every spelling of every term child: automaton id, shift, term.
        spelled = [(sid, shift, c) for c in children if isinstance(c, CTerm) for sid, shift in c.spelled]
        self.sids = tuple(x[0] for x in spelled)
        self.shifts = tuple(x[1] for x in spelled)
        self.terms = tuple(x[2] for x in spelled)
        self.others = [c for c in children if not isinstance(c, CTerm)]

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        hits = ctx.hits
        for sid, shift, term in zip(self.sids, self.shifts, self.terms):
            ends = hits.get(sid)
            if ends is not None:
                term._collect(ctx, ends, shift, out)
        for child in self.others:
            out.extend(child.occurrences(ctx))
        if len(out) > 1 and TRUE_OCC in out:
            out = [occ for occ in out if occ is not TRUE_OCC] or [TRUE_OCC]
        return out


class CNear:
    __slots__ = ("distance", "left", "ordered", "right")

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
        return near_pairs(lefts, rights, self.distance, self.ordered, ctx.fields)

    def closest(self, ctx: ArticleContext) -> int | None:
        """Fewest words between any usable pair (for explanations)."""
        return closest_gap(self.left.occurrences(ctx), self.right.occurrences(ctx), self.ordered, ctx.fields)


def gap(a: Occ, b: Occ, ordered: bool, fields: ArticleFields, most: int = -1) -> int | None:
    """Words between `a` and `b` (a first when ordered); None if unusable.

    With `most` >= 0, None also when there are more than `most` words.
    """
    if a[0] != b[0] or a[0] < 0:
        return None
    if a[2] <= b[1]:
        lo, hi = a[2], b[1]
    elif not ordered and b[2] <= a[1]:
        lo, hi = b[2], a[1]
    else:
        return None
    between = fields.fields[a[0]].stream[lo:hi]
    if most < 0:
        return len(between.split())
    # At most most+1 splits: more pieces than `most` means too far apart.
    count = len(between.split(None, most + 1))
    return count if count <= most else None


def near_pairs(lefts: list[Occ], rights: list[Occ], distance: int, ordered: bool, fields: ArticleFields) -> list[Occ]:
    out: list[Occ] = []
    for a in lefts:
        for b in rights:
            if gap(a, b, ordered, fields, distance) is not None:
                out.append((a[0], min(a[1], b[1]), max(a[2], b[2]), a[3] + b[3]))
    return out


def closest_gap(lefts: list[Occ], rights: list[Occ], ordered: bool, fields: ArticleFields) -> int | None:
    best: int | None = None
    for a in lefts:
        for b in rights:
            g = gap(a, b, ordered, fields)
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
