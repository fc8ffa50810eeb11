"""A slow, plainly written reference evaluator for watchlist queries.

It scans `monitor.core.text.tokenize` tokens directly — no automaton, no
presearch, no fast folding — so property tests can check the engine
against it. Semantics are those documented in `monitor.core.query.evaluate`.
Regular expressions run on Python's `re`, which the RE2 engine must agree with.
An occurrence is (field, first word, end word, leaves); a leaf is
(label, field name, char start, char end) in the original text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.core.query.ast import And, EntityRef, EntitySpec, Near, Node, Not, Or, Regex, Source, Term
from monitor.core.text import Token, fold, tokenize

FIELDS = ("title", "text")
TRUE = ("none", 0, 0, ())


class RefArticle:
    def __init__(self, title: str, text: str, feed: str = "", tags: frozenset[str] = frozenset()) -> None:
        self.values = {"title": title, "text": text}
        self.tokens = {"title": tokenize(title), "text": tokenize(text)}
        self.feed = feed
        self.tags = tags


def term_occurrences(article: RefArticle, words: tuple[str, ...], label: str, field: str | None,
                     prefix: bool = False, raw: tuple[str, ...] | None = None) -> list:
    out = []
    for name in FIELDS:
        if field is not None and field != name:
            continue
        tokens: list[Token] = article.tokens[name]
        value = article.values[name]
        for i in range(len(tokens) - len(words) + 1):
            ok = True
            for k, word in enumerate(words):
                token = tokens[i + k]
                last = k == len(words) - 1
                ok = token.word.startswith(word) if prefix and last else token.word == word
                if ok and raw is not None:
                    ok = value[token.start : token.end] == raw[k]
                if not ok:
                    break
            if ok:
                end = i + len(words)
                leaf = (label, name, tokens[i].start, tokens[end - 1].end)
                out.append((name, i, end, (leaf,)))
    return out


def words_of(text: str) -> tuple[str, ...]:
    return tuple(t.word for t in tokenize(text))


def evaluate(node: Node, article: RefArticle, entities: Mapping[str, EntitySpec]) -> list:
    """Occurrences of `node` in `article`; empty when it does not match."""
    if isinstance(node, Term):
        return term_occurrences(article, node.words, node.label, node.field, node.prefix,
                                node.raw if node.case else None)
    if isinstance(node, Regex):
        # Python's own re: the engine runs the pattern on RE2 and must agree.
        pattern = re.compile(node.pattern.source, re.IGNORECASE if node.pattern.ignorecase else re.NOFLAG)
        out = []
        for name in FIELDS:
            if node.field is None or node.field == name:
                for m in pattern.finditer(article.values[name]):
                    if m.end() > m.start():
                        out.append((name, -1, -1, ((node.label, name, m.start(), m.end()),)))
        return out
    if isinstance(node, EntityRef):
        spec = entities[node.name]
        out = []
        for text in spec.names:
            if words_of(text):
                out += term_occurrences(article, words_of(text), node.label, node.field)
        context = any(
            words_of(c) and term_occurrences(article, words_of(c), "", None) for c in spec.context
        )
        if context:
            for text in spec.aliases:
                if words_of(text):
                    out += term_occurrences(article, words_of(text), node.label, node.field)
        return out
    if isinstance(node, Source):
        if node.kind == "feed":
            ok = fold(article.feed) == node.value
        else:
            ok = node.value in {fold(tag) for tag in article.tags}
        return [TRUE] if ok else []
    if isinstance(node, Not):
        return [] if evaluate(node.child, article, entities) else [TRUE]
    if isinstance(node, And):
        out = []
        for child in node.children:
            found = evaluate(child, article, entities)
            if not found:
                return []
            out += found
        return out
    if isinstance(node, Or):
        out = []
        for child in node.children:
            out += evaluate(child, article, entities)
        return out
    assert isinstance(node, Near)
    # Every pair is tried, but pairs covering the same words are one
    # occurrence with the leaves of them all: listing each pair separately
    # made a chain of NEARs over a repeated word exponential.
    lefts = evaluate(node.left, article, entities)
    rights = evaluate(node.right, article, entities)
    spans: dict[tuple, set] = {}
    for a in lefts:
        for b in rights:
            if a[0] != b[0] or a[0] == "none":
                continue
            if a[2] <= b[1]:
                gap = b[1] - a[2]
            elif not node.ordered and b[2] <= a[1]:
                gap = a[1] - b[2]
            else:
                continue
            if gap <= node.distance:
                spans.setdefault((a[0], min(a[1], b[1]), max(a[2], b[2])), set()).update(a[3] + b[3])
    return [(f, start, end, tuple(leaves)) for (f, start, end), leaves in spans.items()]


def reference_match(node: Node, article: RefArticle, entities: Mapping[str, EntitySpec] | None = None):
    """(matched, set of (field, start, end) spans, set of term labels)."""
    occs = evaluate(node, article, entities or {})
    leaves = {leaf for occ in occs for leaf in occ[3]}
    return bool(occs), {(f, s, e) for _, f, s, e in leaves}, {label for label, *_ in leaves}
