"""From syntax trees to one presearch automaton and evaluable nodes.

Owns presearch, in the manner of Lucene's Monitor: every term of every
watchlist gives a key of ONE pyahocorasick automaton over the article's
folded stream (" title | text ", see `fields`). A key is the term's folded
words between spaces — " cartel " for a word, " crimen organizado " for a
phrase, " narco" (no trailing space) for a prefix — so the leading space
anchors a key to the start of a word and the trailing space to its end. One
pass over an article finds every occurrence of every term.

The stream keeps the text's own separators (as spaces, one for one), so two
words may be 1 to `MAX_GAP` spaces apart (longer runs are squeezed, see
`fields`): a phrase is spelled in the automaton once per combination of
gaps, each spelling its own automaton id, all standing for the one key.
Phrases longer than `MAX_KEY_WORDS` are spelled by their first words and
checked with a regex.

Each watchlist also gets a *candidate set*: presearch keys such that any
match needs at least one of them (for AND, the cheapest child's set; for OR,
the union; NOT contributes nothing; feed:/tag: are keys looked up in small
dicts; a regex means "always a candidate"). Only watchlists whose candidate
keys occurred are evaluated, so the cost per article follows the article's
length and its number of candidates, not the number of terms.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found,unused-ignore]

from monitor.core.query.ast import (
    EntityRef,
    EntitySpec,
    Near,
    Node,
    Not,
    Or,
    QueryError,
    Regex,
    Source,
    Term,
)
from monitor.core.query.evaluate import (
    FIELD_INDEX,
    ArticleContext,
    CAnd,
    CEntity,
    CNear,
    CNode,
    CNot,
    COr,
    CRegex,
    CSource,
    CTerm,
    NearScope,
)
from monitor.core.query.fields import MAX_GAP, ArticleFields
from monitor.core.text import tokenize

# A candidate set: presearch keys (int key ids, or ("feed"|"tag", value)),
# ALWAYS for "evaluate every article", None for "can match with no positive
# term" (only NOT), which parse() already refuses at the top level.
Key = int | tuple[str, str]
ALWAYS = "always"
Candidates = frozenset[Key] | str | None

# Words so common that a set made of them is a poor presearch choice.
_COMMON = frozenset(
    """a an and are as at be by de del el en es for from has have he in is
    it la las los of on or por que se su that the this to un una was were with y""".split()
)


MAX_KEY_WORDS = 4


def presearch_key(words: Sequence[str], prefix: bool = False) -> str:
    """The key for consecutive folded `words`, single spaces between them."""
    return " " + " ".join(words) + ("" if prefix else " ")


def spellings(words: Sequence[str], prefix: bool) -> list[str]:
    """Every automaton string for `words`: 1 to MAX_GAP spaces between words."""
    out = [" " + words[0]]
    for word in words[1:]:
        out = [head + " " * gap + word for head in out for gap in range(1, MAX_GAP + 1)]
    return [text if prefix else text + " " for text in out]


def phrase_pattern(words: Sequence[str], prefix: bool) -> re.Pattern[str]:
    """Matches `words` from the start of the first, up to the end of the last."""
    body = " +".join(map(re.escape, words))
    return re.compile(body + ("[^ ]*" if prefix else "(?= )"))


def phrase_words(text: str) -> tuple[str, ...]:
    """The folded words of a literal keyword or entity name."""
    return tuple(token.word for token in tokenize(text))


@dataclass
class CompiledWatchlist:
    """One watchlist ready to evaluate."""

    name: str
    node: CNode
    candidates: Candidates
    tags: frozenset[str] = frozenset()


class KeyTable:
    """Presearch keys, their spellings and ids, shared by all watchlists.

    `keys[k]` is key k in single-spaced form; `spelled[k]` its spellings as
    (automaton id, distance from a match's last character back to the key's
    first word). `owner[s]` is the key spelling s stands for, and `shared[s]`
    lists all of them when there are several (phrases longer than
    MAX_KEY_WORDS sharing their first words).
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.keys: list[str] = []
        self.spelled: list[tuple[tuple[int, int], ...]] = []
        self.spelling_ids: dict[str, int] = {}
        self.owner: list[int] = []
        self.shared: dict[int, list[int]] = {}

    def add(self, words: Sequence[str], prefix: bool = False) -> int:
        key = presearch_key(words, prefix)
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.keys)
            self.keys.append(key)
            head = words[:MAX_KEY_WORDS]
            spelled: list[tuple[int, int]] = []
            for text in spellings(head, prefix and len(head) == len(words)):
                sid = self.spelling_ids.get(text)
                if sid is None:
                    sid = self.spelling_ids[text] = len(self.owner)
                    self.owner.append(found)
                else:
                    self.shared.setdefault(sid, [self.owner[sid]]).append(found)
                spelled.append((sid, len(text) - 2))
            self.spelled.append(tuple(spelled))
        return found

    def cost(self, key: Key) -> float:
        """How often a key is expected to occur (smaller is rarer)."""
        if not isinstance(key, int):
            return 5.0
        text = self.keys[key]
        words = text.split()
        base: float = 1.0 / len(text) ** 1.5
        if not text.endswith(" "):
            base *= 4.0
        if all(word in _COMMON for word in words):
            base *= 50.0
        return base / len(words)


class Compiler:
    """Turns syntax trees into compiled nodes, registering their keys.

    One Compiler per watchlist: its NEARs share one `NearScope`.
    """

    def __init__(self, entities: Mapping[str, EntitySpec], table: KeyTable) -> None:
        self.entities = entities
        self.table = table
        self.near_scope = NearScope()

    def term(
        self,
        words: Sequence[str],
        label: str,
        field: int | None = None,
        prefix: bool = False,
        raw: tuple[str, ...] | None = None,
    ) -> tuple[CTerm, Candidates]:
        key = self.table.add(words, prefix)
        pattern = phrase_pattern(words, prefix) if len(words) > MAX_KEY_WORDS else None
        term = CTerm(key, self.table.spelled[key], pattern, prefix and pattern is None, field, raw, label)
        return term, frozenset([key])

    def compile(self, node: Node) -> tuple[CNode, Candidates]:
        if isinstance(node, Term):
            raw = node.raw if node.case else None
            return self.term(node.words, node.label, FIELD_INDEX[node.field], node.prefix, raw)
        if isinstance(node, Regex):
            return CRegex(node.pattern, FIELD_INDEX[node.field], node.label), ALWAYS
        if isinstance(node, EntityRef):
            return self.entity(self.entities[node.name], node.label, FIELD_INDEX[node.field])
        if isinstance(node, Source):
            return CSource(node.kind, node.value, node.label), frozenset([(node.kind, node.value)])
        if isinstance(node, Not):
            child, _ = self.compile(node.child)
            return CNot(child), None
        if isinstance(node, Near):
            left, lc = self.compile(node.left)
            right, rc = self.compile(node.right)
            return CNear(left, right, node.distance, node.ordered, self.near_scope), self.cheapest([lc, rc])
        parts = [self.compile(child) for child in node.children]
        if isinstance(node, Or):
            return COr([p[0] for p in parts]), union([p[1] for p in parts])
        # AND: fail fast — rarest children first, NOTs and regexes last.
        parts.sort(key=lambda p: self.order(p[1], p[0]))
        return CAnd([p[0] for p in parts]), self.cheapest([p[1] for p in parts])

    def entity(self, spec: EntitySpec, label: str, field: int | None) -> tuple[CNode, Candidates]:
        names = self.literals(spec.names, label, field)
        aliases = self.literals(spec.aliases, label, field)
        context = [self.term(words, label)[0] for words in map(phrase_words, spec.context) if words]
        if not context:
            aliases = []
        keys = frozenset(term.key for term in names + aliases)
        return CEntity(names, aliases, context, label), keys

    def literals(self, texts: Sequence[str], label: str, field: int | None) -> list[CTerm]:
        out: list[CTerm] = []
        seen: set[tuple[str, ...]] = set()
        for text in texts:
            words = phrase_words(text)
            if words and words not in seen:
                seen.add(words)
                out.append(self.term(words, label, field)[0])
        return out

    def cheapest(self, sets: list[Candidates]) -> Candidates:
        usable = [s for s in sets if isinstance(s, frozenset)]
        if usable:
            return min(usable, key=lambda s: (sum(self.table.cost(k) for k in s), sorted(map(str, s))))
        return ALWAYS if ALWAYS in sets else None

    def order(self, cands: Candidates, node: CNode) -> tuple[int, float]:
        if isinstance(cands, frozenset):
            return 0, sum(self.table.cost(k) for k in cands)
        return (1, 0.0) if isinstance(node, CRegex) or cands == ALWAYS else (2, 0.0)


def union(sets: list[Candidates]) -> Candidates:
    if any(s is None for s in sets):
        return None
    if any(s == ALWAYS for s in sets):
        return ALWAYS
    out: set[Key] = set()
    for s in sets:
        assert isinstance(s, frozenset)
        out |= s
    return frozenset(out)


class Program:
    """All watchlists of a Matcher: one automaton, candidate indexes."""

    def __init__(self, watchlists: list[CompiledWatchlist], table: KeyTable) -> None:
        self.watchlists = watchlists
        self.keys = table.keys
        self.automaton: ahocorasick.Automaton | None = None
        if table.keys:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
            for text, index in table.spelling_ids.items():
                automaton.add_word(text, index)
            automaton.make_automaton()
            self.automaton = automaton
        by_key: list[list[int]] = [[] for _ in table.keys]
        self.by_source: dict[tuple[str, str], list[int]] = {}
        self.always: list[int] = []
        for index, watchlist in enumerate(watchlists):
            cands = watchlist.candidates
            if cands == ALWAYS:
                self.always.append(index)
            elif isinstance(cands, frozenset):
                for cand in cands:
                    if isinstance(cand, int):
                        by_key[cand].append(index)
                    else:
                        self.by_source.setdefault(cand, []).append(index)
        # Per automaton id: the watchlists that its hits make candidates.
        watching = [tuple(w) if w else None for w in by_key]
        self.by_key: list[tuple[int, ...] | None] = [watching[key] for key in table.owner]
        for sid, keys in table.shared.items():
            watchers = sorted({w for key in keys for w in by_key[key]})
            self.by_key[sid] = tuple(watchers) if watchers else None

    def presearch(self, fields: ArticleFields) -> tuple[list[int], ArticleContext]:
        """Candidate watchlist indexes (ascending) and the article's hits.

        Hits are grouped by automaton id: where each spelling's matches end.
        """
        hits: defaultdict[int, list[int]] = defaultdict(list)
        if self.automaton is not None:
            for end, key in self.automaton.iter(fields.stream):
                hits[key].append(end)
        candidates: set[int] = set(self.always)
        by_key = self.by_key
        for key in hits:
            watchers = by_key[key]
            if watchers is not None:
                candidates.update(watchers)
        if self.by_source:
            feed, tags = fields.folded_source()
            candidates.update(self.by_source.get(("feed", feed), ()))
            for tag in tags:
                candidates.update(self.by_source.get(("tag", tag), ()))
        return sorted(candidates), ArticleContext(fields, hits)


def build_watchlist(
    name: str,
    parts: list[Node],
    entities: Mapping[str, EntitySpec],
    table: KeyTable,
    tags: frozenset[str] = frozenset(),
) -> CompiledWatchlist:
    """One compiled watchlist: the OR of `parts` (already checked trees)."""
    compiler = Compiler(entities, table)
    compiled = [compiler.compile(part) for part in parts]
    if not compiled:
        return CompiledWatchlist(name, COr([]), frozenset(), tags)
    if len(compiled) == 1:
        node, cands = compiled[0]
    else:
        node, cands = COr([c[0] for c in compiled]), union([c[1] for c in compiled])
    if cands is None:
        raise QueryError("query must contain at least one positive term", 1)
    return CompiledWatchlist(name, node, cands, tags)
