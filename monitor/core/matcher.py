"""Watchlist matching: article text in, matches out. Pure, no I/O (it only
logs a WARNING when a fallback regular expression runs out of time).

The public surface is `WatchlistSpec`, `EntitySpec`, `ArticleText`, `Span`,
`MatchResult` and `Matcher`; the service only ever calls
`Matcher(specs, entities).match(article)`. A watchlist matches when any of
its parts does: its `keywords` (each a literal word or phrase, never query
syntax), its `query` (see `monitor.core.query`), its `entities`.

Matching is done by `monitor.core.query`: one presearch automaton over all
watchlists' terms, then evaluation of the few candidate watchlists. See
`monitor.core.query.report` for what `terms`, `spans`, `score`, `snippet`
and `snippets` contain.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.core.query.ast import EntitySpec, Node, Or, QueryError, Term
from monitor.core.query.compile import KeyTable, Program, build_watchlist, phrase_words
from monitor.core.query.explain import ArticleLike, Explanation, explain_nodes
from monitor.core.query.fields import ArticleFields
from monitor.core.query.parser import parse
from monitor.core.query.patterns import RegexTimeout
from monitor.core.query.report import SNIPPET_WIDTH, TITLE_WEIGHT, hits_of, report, report_one
from monitor.models import Snippet

log = logging.getLogger(__name__)

__all__ = [
    "SNIPPET_WIDTH",
    "TITLE_WEIGHT",
    "ArticleText",
    "EntitySpec",
    "MatchResult",
    "Matcher",
    "QueryError",
    "Snippet",
    "Span",
    "WatchlistSpec",
    "explain_watchlist",
    "keyword_words",
]


@dataclass(frozen=True)
class WatchlistSpec:
    """What the matcher needs to know about one watchlist.

    `tags`, when given, limits the watchlist to articles carrying one of them.
    """

    name: str
    keywords: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    query: str | None = None
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArticleText:
    """The searchable fields of one article, and where it came from."""

    title: str
    text: str
    feed: str = ""
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Span:
    """Where a term matched: field ("title" or "text") and character offsets."""

    field: str
    start: int
    end: int


@dataclass(frozen=True)
class MatchResult:
    """One watchlist that matched one article, and why.

    `snippet` is plain text around the first match; `snippets` are the best
    few windows, each with its matches marked by offsets (`Snippet.marks`).
    """

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    score: float
    spans: tuple[Span, ...] = field(default=())
    snippets: tuple[Snippet, ...] = field(default=())
    # The text it matched in: "feed" (title and the feed's text) or "page"
    # (only the article page's full text has it).
    matched_in: str = "feed"


def keyword_words(keyword: str) -> tuple[str, ...]:
    """The folded words a keyword stands for (empty if it has none)."""
    return phrase_words(keyword)


def watchlist_parts(spec: WatchlistSpec, entities: Mapping[str, EntitySpec], regex_fallback: bool = True) -> list[Node]:
    """The trees whose OR is `spec`: keywords, query, entities.

    Raises QueryError for a bad query or an unknown entity name (and, without
    `regex_fallback`, for a regular expression RE2 cannot run).
    """
    from monitor.core.query.ast import EntityRef

    parts: list[Node] = []
    seen: set[tuple[str, ...]] = set()
    keywords: list[Node] = []
    for keyword in spec.keywords:
        words = phrase_words(keyword)
        # "cartel" and "cártel" fold alike: report the first spelling.
        if words and words not in seen:
            seen.add(words)
            keywords.append(Term(words, keyword))
    if keywords:
        parts.append(keywords[0] if len(keywords) == 1 else Or(tuple(keywords)))
    if spec.query is not None:
        parts.append(parse(spec.query, set(entities), regex_fallback=regex_fallback))
    for name in spec.entities:
        if name not in entities:
            known = ", ".join(sorted(entities)) or "none defined"
            raise QueryError(f"unknown entity {name!r} (known: {known})", 1)
        parts.append(EntityRef(name, "@" + name))
    return parts


@dataclass(frozen=True)
class MatcherSpec:
    """What a `Matcher` is compiled from, as plain (picklable, hashable)
    values: a parse worker compiles its own copy to match new entries
    (`core.feedplan.prepare`)."""

    watchlists: tuple[WatchlistSpec, ...]
    entities: tuple[tuple[str, EntitySpec], ...] = ()
    regex_fallback: bool = True

    def build(self) -> Matcher:
        return Matcher(self.watchlists, dict(self.entities), regex_fallback=self.regex_fallback)


@dataclass(frozen=True, eq=False)
class PackedSpec:
    """A `MatcherSpec` pickled once, as it travels with every parse job.

    Pickling the spec with each job cost the storing process 3.9 ms a feed
    at 10,000 terms (and the worker 5 ms more to unpickle it and find its
    matcher by hashing and comparing the whole spec); bytes travel for a
    copy. `digest` names the spec: a worker compiles each spec once and
    finds it again by these 16 bytes, unpickling `data` only the first time.
    """

    digest: bytes
    data: bytes

    @classmethod
    def of(cls, spec: MatcherSpec) -> PackedSpec:
        data = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(hashlib.blake2b(data, digest_size=16).digest(), data)

    def unpack(self) -> MatcherSpec:
        # Our own bytes, made by `of` in the process that sends the job.
        spec = pickle.loads(self.data)
        assert isinstance(spec, MatcherSpec)
        return spec


class Matcher:
    """Compiled watchlists; `match` evaluates one article against all of them.

    Raises QueryError (from `monitor.core.query`) for a watchlist whose query
    does not parse or names an unknown entity; the config layer should have
    checked each with `monitor.core.query.check_query` first. Queries from
    an untrusted visitor (the dashboard's "try it") are compiled with
    `regex_fallback=False`: their regular expressions must run on RE2.

    A regular expression on the fallback engine that runs out of time on an
    article is a skip, not a stall: the watchlist does not match that
    article, a WARNING is logged and `timeouts` counts it per (watchlist,
    pattern); the other watchlists are matched as usual.
    """

    def __init__(
        self,
        watchlists: Sequence[WatchlistSpec],
        entities: Mapping[str, EntitySpec] | None = None,
        *,
        regex_fallback: bool = True,
    ) -> None:
        self._watchlists = tuple(watchlists)
        self._entities = dict(entities or {})
        self.spec = MatcherSpec(self._watchlists, tuple(self._entities.items()), regex_fallback)
        table = KeyTable()
        compiled = [
            build_watchlist(
                spec.name, watchlist_parts(spec, self._entities, regex_fallback), self._entities, table, spec.tags
            )
            for spec in self._watchlists
        ]
        self._program = Program(compiled, table)
        self.timeouts: Counter[tuple[str, str]] = Counter()

    @property
    def watchlists(self) -> tuple[WatchlistSpec, ...]:
        return self._watchlists

    @property
    def term_count(self) -> int:
        """Distinct presearch keys (words, phrases, prefixes) compiled."""
        return len(self._program.keys)

    def match(self, article: ArticleText) -> list[MatchResult]:
        """Every watchlist that matches `article`, in configuration order."""
        fields = ArticleFields(article.title, article.text, article.feed, article.tags)
        candidates, ctx = self._program.presearch(fields)
        watchlists = self._program.watchlists
        tags = article.tags
        results: list[MatchResult] = []
        for index in candidates:
            watchlist = watchlists[index]
            if watchlist.tags and not (watchlist.tags & tags):
                continue
            try:
                occs = watchlist.node.occurrences(ctx)
            except RegexTimeout as exc:
                self.timeouts[(watchlist.name, exc.label)] += 1
                log.warning(
                    "watchlist %r: regular expression %s ran out of time (%g s) on the article %r from %r; "
                    "the watchlist does not match it",
                    watchlist.name,
                    exc.label,
                    exc.seconds,
                    article.title[:100],
                    article.feed,
                )
                continue
            if not occs:
                continue
            if len(occs) == 1 and len(occs[0][3]) == 1 and occs[0][0] >= 0 and fields.fields[occs[0][0]].exact:
                # One word or phrase found once (the common case): its stream
                # offsets are its character offsets.
                label, f, start, end, _ = occs[0][3][0]
                rep = report_one(f, start, end, label, fields)
            else:
                hits = hits_of([leaf for occ in occs for leaf in occ[3]], fields)
                if not hits:  # matched only through feed:/tag:/NOT: nothing to show
                    results.append(MatchResult(watchlist.name, (), _fallback_snippet(fields), 0.0))
                    continue
                rep = report(hits, fields)
            terms, spans, score, snippet, snippets = rep
            span_objects = (Span(*spans[0]),) if len(spans) == 1 else tuple([Span(*span) for span in spans])
            results.append(MatchResult(watchlist.name, terms, snippet, score, span_objects, snippets))
        return results


def explain_watchlist(
    spec: WatchlistSpec, article: ArticleLike, entities: Mapping[str, EntitySpec] | None = None
) -> Explanation:
    """Why `spec` matches `article` or not (keywords, query and entities)."""
    entities = entities or {}
    return explain_nodes(watchlist_parts(spec, entities), article, entities)


def _fallback_snippet(fields: ArticleFields) -> str:
    from monitor.core.text import snippet

    field_text = fields.text if fields.text.text else fields.title
    return snippet(field_text.text, 0, 0, SNIPPET_WIDTH)
