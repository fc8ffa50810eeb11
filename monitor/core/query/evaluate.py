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
field the two are the same. What counts is the union of a result's leaves:
a NEAR lists each leaf once, with the first of its occurrences over it.

Presearch gives, per automaton id (one spelling of a key, see `compile`),
where its matches ended in the article stream.

Semantics, also followed by the slow reference evaluator in the tests:
- AND matches when every child does; its occurrences are all of theirs.
- OR's occurrences are those of the children that match.
- NEAR/n pairs a left and a right occurrence in the same field that do not
  overlap and have at most n words between them (ONEAR: left ends before
  right starts). The pair covers both; nested NEAR measures from that span.
  Pairs covering the same words are one occurrence, with all their leaves.
- An entity's names always count; its aliases only when one of its context
  phrases occurs anywhere in the article.

Cost: evaluating any query takes time about linear in the article's length
times the query's size, whatever the query or the text (the dashboard's "try
it" runs queries from anyone, over text from any publisher):
- Inside NEAR, nodes give *spans* (`spans(ctx)`): a NEAR keeps ONE span per
  (field, start, end), however many pairs of occurrences form it, and keeps
  the spans it was formed from (`Joined`) rather than copies of their leaves.
  Without this, `a NEAR/1 a NEAR/1 a …` over a run of `a`s had a number of
  pairs exponential in the number of terms. The leaves are collected once,
  walking each span once, when a NEAR's result leaves NEAR (`occurrences`).
- A NEAR finds an occurrence's partners by bisecting the other side's word
  numbers (the field's words counted once per article, or only those
  between the spans when there are few), not by trying every pair.
- The NEARs of one watchlist form at most MAX_NEAR_PAIRS pairs in all per
  article (their `NearScope`). Past that, a NEAR looks for one pair only:
  it still matches whenever the spans below it allow, but a NEAR around it
  sees only the spans found so far (so may miss a pair), and fewer words are
  highlighted. No sensible query over real text comes near the limit;
  thousands of repeats of a word under a chain of NEARs do.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import itemgetter
from typing import Union

from monitor.core.query.fields import ArticleFields
from monitor.core.query.patterns import RegexPattern, RegexTimeout

Leaf = tuple[str, int, int, int, bool]
Occ = tuple[int, int, int, tuple[Leaf, ...]]
# Inside NEAR: a span made of other spans (the pairs that form a NEAR span,
# or several children's occurrences at one place), with its parts instead of
# its leaves. `Pos` is either kind.
Joined = tuple[int, int, int, list["Pos"]]
Pos = Union[Occ, Joined]  # noqa: UP007 (a string forward reference cannot use |)
TRUE_OCC: Occ = (-1, 0, 0, ())
EMPTY: list[Occ] = []
FIELD_INDEX = {None: None, "title": 0, "text": 1}

# Pairs the NEARs of one watchlist may form per article (module docstring).
MAX_NEAR_PAIRS = 50_000
# Up to this many spans on the two sides of a NEAR, words are counted just
# between their offsets rather than in the whole field (`_sides`); up to
# this many pairs, each pair is simply tried (`_near_few`).
_FEW_PLACES = 64
_FEW_PAIRS = 16
_WORD = re.compile("[^ ]+")  # a word of a stream (see `fields`)


class ArticleContext:
    """One article's presearch hits: per automaton id, where its matches end.

    `regex_spans` keeps each regex's matches per field (or its timeout), so
    explaining an article, which evaluates a node more than once, runs each
    pattern once; `near_spans` does the same for each NEAR's spans.
    """

    __slots__ = ("_numbers", "fields", "hits", "near_pairs", "near_spans", "regex_spans", "stream", "text_base")

    def __init__(self, fields: ArticleFields, hits: dict[int, list[int]]) -> None:
        self.fields = fields
        self.hits = hits
        self.stream = fields.stream
        self.text_base = fields.text_base
        self.regex_spans: dict[tuple[int, int], list[tuple[int, int]] | RegexTimeout] = {}
        self.near_spans: dict[int, list[Joined]] = {}
        self.near_pairs: dict[int, int] = {}  # pairs formed so far, per NearScope
        self._numbers: list[dict[int, int] | None] = [None, None]

    def word_numbers(self, f: int) -> dict[int, int]:
        """Every word start and end (stream offsets) of field `f` -> how
        many words start before it. Made once per article, when needed."""
        numbers = self._numbers[f]
        if numbers is None:
            spans = [m.span() for m in _WORD.finditer(self.fields.fields[f].stream)]
            numbers = {start: i for i, (start, _) in enumerate(spans)}
            numbers.update((end, i + 1) for i, (_, end) in enumerate(spans))
            self._numbers[f] = numbers
        return numbers


class CTerm:
    """Words (the last maybe a prefix), optionally case-exact, in a field.

    `spelled` lists the key's automaton ids, each with the distance from a
    match's last character back to the first word's start. `pattern`, for
    phrases longer than their spellings, checks the whole phrase; `prefix`
    says a match must be extended to the end of its last word.
    """

    __slots__ = ("field", "key", "label", "pattern", "prefix", "raw", "spelled")

    def __init__(
        self,
        key: int,
        spelled: tuple[tuple[int, int], ...],
        pattern: re.Pattern[str] | None,
        prefix: bool,
        field: int | None,
        raw: tuple[str, ...] | None,
        label: str,
    ) -> None:
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

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        return self.occurrences(ctx)

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
    return len(spans) == len(raw) and all(text.original(s, e) == w for (s, e), w in zip(spans, raw, strict=True))


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

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        return self.occurrences(ctx)


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

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        return self.occurrences(ctx)

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

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        return self.occurrences(ctx)


class CNot:
    __slots__ = ("child",)

    def __init__(self, child: CNode) -> None:
        self.child = child

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        return EMPTY if self.child.occurrences(ctx) else [TRUE_OCC]

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        return self.occurrences(ctx)


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

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        out: list[Pos] = []
        for child in self.children:
            found = child.spans(ctx)
            if not found:
                return []
            out.extend(found)
        return out


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
        out = self._terms(ctx)
        for child in self.others:
            out.extend(child.occurrences(ctx))
        if len(out) > 1 and TRUE_OCC in out:
            out = [occ for occ in out if occ is not TRUE_OCC] or [TRUE_OCC]
        return out

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        out: list[Pos] = []
        out.extend(self._terms(ctx))
        for child in self.others:
            out.extend(child.spans(ctx))
        return out

    def _terms(self, ctx: ArticleContext) -> list[Occ]:
        out: list[Occ] = []
        hits = ctx.hits
        for sid, shift, term in zip(self.sids, self.shifts, self.terms, strict=True):
            ends = hits.get(sid)
            if ends is not None:
                term._collect(ctx, ends, shift, out)
        return out


class NearScope:
    """What the NEARs of one watchlist share: their MAX_NEAR_PAIRS per article."""

    __slots__ = ()


class CNear:
    __slots__ = ("distance", "left", "ordered", "right", "scope")

    def __init__(self, left: CNode, right: CNode, distance: int, ordered: bool, scope: NearScope | None = None) -> None:
        self.left = left
        self.right = right
        self.distance = distance
        self.ordered = ordered
        self.scope = scope or NearScope()

    def occurrences(self, ctx: ArticleContext) -> list[Occ]:
        return settle(self.joined(ctx))

    def spans(self, ctx: ArticleContext) -> Sequence[Pos]:
        return self.joined(ctx)

    def joined(self, ctx: ArticleContext) -> list[Joined]:
        """One span per (field, start, end) that a usable pair covers."""
        found = ctx.near_spans.get(id(self))
        if found is None:
            found = []
            lefts = self.left.spans(ctx)
            if lefts:
                rights = self.right.spans(ctx)
                if rights:
                    scope = id(self.scope)
                    formed = ctx.near_pairs.get(scope, 0)
                    found, more = near_spans(lefts, rights, self.distance, self.ordered, ctx, MAX_NEAR_PAIRS - formed)
                    ctx.near_pairs[scope] = formed + more
            ctx.near_spans[id(self)] = found
        return found

    def closest(self, ctx: ArticleContext) -> int | None:
        """Fewest words between any usable pair (for explanations)."""
        return closest_gap(self.left.spans(ctx), self.right.spans(ctx), self.ordered, ctx)


# A span of one side of a NEAR within one field: its first word, one past
# its last word (word numbers, see `_sides`), and the span itself.
Placed = tuple[int, int, Pos]


def _sides(
    lefts: Sequence[Pos], rights: Sequence[Pos], ctx: ArticleContext, reach: int | None = None
) -> list[tuple[int, list[Placed], list[Placed]]]:
    """(field, left spans, right spans) for each field where both sides have
    spans: one per (start, end), sorted, numbered.

    Several occurrences at one place (`a OR a`, an entity's name that is
    also an alias) become one `Joined` span. Word numbers count the words
    that start before an offset (in the field, or from the first offset of
    either side), so the words between a span ending at word number i and
    one starting at word number j are j - i — exactly up to `reach` words;
    past it, the difference may be smaller than the true count, but is
    still more than `reach`.
    """
    out: list[tuple[int, list[Placed], list[Placed]]] = []
    by_field = _by_place(lefts)
    if not by_field[0] and not by_field[1]:
        return out
    right_by_field = _by_place(rights)
    for f in (0, 1):
        left, right = by_field[f], right_by_field[f]
        if not left or not right:
            continue
        if len(left) + len(right) > _FEW_PLACES:
            number = ctx.word_numbers(f)
        else:
            stream = ctx.fields.fields[f].stream
            number = {}
            count = 0
            at = -1
            for offset in sorted({p for place in (*left, *right) for p in place}):
                if at >= 0:
                    # Offsets are word starts and ends: the words in
                    # between are the words starting in [at, offset),
                    # counted up to reach + 1 (split stops there).
                    if reach is None:
                        count += len(stream[at:offset].split())
                    else:
                        count += min(len(stream[at:offset].split(None, reach + 1)), reach + 1)
                number[offset] = count
                at = offset
        # (first, last) is unique per side: sorting never compares spans.
        out.append(
            (
                f,
                sorted([(number[s], number[e], pos) for (s, e), pos in left.items()]),
                sorted([(number[s], number[e], pos) for (s, e), pos in right.items()]),
            )
        )
    return out


def _by_place(spans: Sequence[Pos]) -> tuple[dict[tuple[int, int], Pos], dict[tuple[int, int], Pos]]:
    """Per field, (start, end) -> the span there (`Joined` if several)."""
    by_field: tuple[dict[tuple[int, int], Pos], dict[tuple[int, int], Pos]] = ({}, {})
    shared: dict[tuple[int, int, int], list[Pos]] = {}
    for pos in spans:
        f = pos[0]
        if f < 0 or pos[1] < 0:  # no position: not for NEAR
            continue
        placed = by_field[f]
        place = (pos[1], pos[2])
        had = placed.get(place)
        if had is None:
            placed[place] = pos
        elif (f, *place) in shared:
            shared[f, *place].append(pos)
        else:
            parts: list[Pos] = [had, pos]
            shared[f, *place] = parts
            placed[place] = (f, place[0], place[1], parts)
    return by_field


def near_spans(
    lefts: Sequence[Pos],
    rights: Sequence[Pos],
    distance: int,
    ordered: bool,
    ctx: ArticleContext,
    budget: int = MAX_NEAR_PAIRS,
) -> tuple[list[Joined], int]:
    """The spans of `lefts` NEAR/distance `rights` (ONEAR when `ordered`),
    and how many pairs formed them: at most `budget`, or 1 if that is less.

    A left span pairs with a right span in the same field that does not
    overlap it and has at most `distance` words between them (when ordered,
    the right one after). Partners are found by bisecting the right side's
    word numbers.
    """
    if len(lefts) * len(rights) <= min(_FEW_PAIRS, budget):
        return _near_few(lefts, rights, distance, ordered, ctx)
    out: list[Joined] = []
    room = max(budget, 1)
    for f, ls, after in _sides(lefts, rights, ctx, distance):
        found: dict[tuple[int, int], Joined] = {}
        firsts = [r[0] for r in after]
        before = [] if ordered else sorted(after, key=itemgetter(1))
        lasts = [r[1] for r in before]
        for first, last, a in ls:
            # Right spans starting `distance` words or fewer after `a` ends.
            lo = bisect_left(firsts, last)
            hi = min(bisect_right(firsts, last + distance, lo), lo + room)
            room -= hi - lo
            start = a[1]
            for k in range(lo, hi):
                b = after[k][2]
                span = found.get((start, b[2]))
                if span is None:
                    found[start, b[2]] = (f, start, b[2], [a, b])
                else:
                    span[3].extend((a, b))
            if not ordered and room > 0:
                # Right spans ending `distance` words or fewer before `a`.
                lo = bisect_left(lasts, first - distance)
                hi = min(bisect_right(lasts, first, lo), lo + room)
                room -= hi - lo
                end = a[2]
                for k in range(lo, hi):
                    b = before[k][2]
                    span = found.get((b[1], end))
                    if span is None:
                        found[b[1], end] = (f, b[1], end, [b, a])
                    else:
                        span[3].extend((b, a))
            if room <= 0:
                break
        out.extend(found.values())
        if room <= 0:
            break
    return out, max(budget, 1) - room


def _near_few(
    lefts: Sequence[Pos], rights: Sequence[Pos], distance: int, ordered: bool, ctx: ArticleContext
) -> tuple[list[Joined], int]:
    """`near_spans` by trying each pair: the usual case, one or two
    occurrences a side, where indexing them would cost more."""
    found: dict[tuple[int, int, int], Joined] = {}
    streams = [field.stream for field in ctx.fields.fields]
    formed = 0
    for a in lefts:
        f = a[0]
        if f < 0 or a[1] < 0:
            continue
        for b in rights:
            if b[0] != f or b[1] < 0:
                continue
            if a[2] <= b[1]:
                first, second = a, b
            elif not ordered and b[2] <= a[1]:
                first, second = b, a
            else:
                continue
            # At most `distance` words between: split stops after one more.
            if len(streams[f][first[2] : second[1]].split(None, distance + 1)) > distance:
                continue
            formed += 1
            key = (f, first[1], second[2])
            span = found.get(key)
            if span is None:
                found[key] = (f, first[1], second[2], [first, second])
            else:
                span[3].extend((first, second))
    return list(found.values()), formed


def closest_gap(lefts: Sequence[Pos], rights: Sequence[Pos], ordered: bool, ctx: ArticleContext) -> int | None:
    """Fewest words between a left and a right span that could pair (no limit)."""
    best: int | None = None
    for _, ls, after in _sides(lefts, rights, ctx):
        firsts = [r[0] for r in after]
        lasts = sorted(r[1] for r in after)
        for first, last, _ in ls:
            k = bisect_left(firsts, last)
            if k < len(firsts) and (best is None or firsts[k] - last < best):
                best = firsts[k] - last
            if not ordered:
                k = bisect_right(lasts, first) - 1
                if k >= 0 and (best is None or first - lasts[k] < best):
                    best = first - lasts[k]
    return best


def settle(spans: list[Joined]) -> list[Occ]:
    """A NEAR's occurrences with their leaves, for callers outside NEAR.

    One occurrence per span. A leaf reached through several spans is listed
    with the first only (callers use the union of all leaves), so every
    span is walked once, however many pairs share it.
    """
    out: list[Occ] = []
    seen: set[int] = set()
    for f, start, end, parts in spans:
        leaves: list[Leaf] = []
        stack = [parts]
        while stack:
            for part in stack.pop():
                if id(part) in seen:
                    continue
                seen.add(id(part))
                inner = part[3]
                if isinstance(inner, list):
                    stack.append(inner)
                else:
                    leaves.extend(inner)
        out.append((f, start, end, tuple(leaves)))
    return out


CNode = CTerm | CRegex | CEntity | CSource | CNot | CAnd | COr | CNear


def leaves_of(occs: list[Occ]) -> list[Leaf]:
    """The distinct leaves of `occs`, in field then position order."""
    seen: set[Leaf] = set()
    for occ in occs:
        seen.update(occ[3])
    return sorted(seen, key=lambda leaf: (leaf[1], leaf[2], leaf[3], leaf[0]))
