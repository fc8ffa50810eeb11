"""Watchlist matching: article text in, matches out. Pure, no I/O.

The public surface is `WatchlistSpec`, `ArticleText`, `MatchResult` and
`Matcher`; the service only ever calls `Matcher(specs).match(article)`.
Keyword watchlists match whole words and phrases after folding (case and
accents ignored), in the title and in the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.core.text import Token, snippet, tokenize

SNIPPET_WIDTH = 200
TITLE_WEIGHT = 2.0


@dataclass(frozen=True)
class WatchlistSpec:
    """What the matcher needs to know about one watchlist."""

    name: str
    keywords: tuple[str, ...]
    tags: frozenset[str] = frozenset()


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
    """One watchlist that matched one article, and why."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    score: float
    spans: tuple[Span, ...] = field(default=())


@dataclass(frozen=True)
class _Phrase:
    term: str
    words: tuple[str, ...]


def keyword_words(keyword: str) -> tuple[str, ...]:
    """The folded words a keyword stands for (empty if it has none)."""
    return tuple(token.word for token in tokenize(keyword))


class Matcher:
    """Compiled watchlists; `match` evaluates one article against all of them."""

    def __init__(self, watchlists: Sequence[WatchlistSpec]) -> None:
        self._watchlists = tuple(watchlists)
        # first word -> [(watchlist index, phrase)], so one pass over the
        # article's words finds every candidate phrase.
        self._by_first: dict[str, list[tuple[int, _Phrase]]] = {}
        for index, spec in enumerate(self._watchlists):
            seen: set[tuple[str, ...]] = set()
            for keyword in spec.keywords:
                phrase_words = keyword_words(keyword)
                # "cartel" and "cártel" fold alike: count the first spelling.
                if phrase_words and phrase_words not in seen:
                    seen.add(phrase_words)
                    entry = (index, _Phrase(keyword, phrase_words))
                    self._by_first.setdefault(phrase_words[0], []).append(entry)

    @property
    def watchlists(self) -> tuple[WatchlistSpec, ...]:
        return self._watchlists

    def match(self, article: ArticleText) -> list[MatchResult]:
        """Every watchlist that matches `article`, in configuration order."""
        fields = {"title": article.title, "text": article.text}
        found: dict[int, list[tuple[str, Span]]] = {}
        for field_name, value in fields.items():
            tokens = tokenize(value)
            for i, token in enumerate(tokens):
                for index, phrase in self._by_first.get(token.word, ()):
                    if _phrase_at(tokens, i, phrase.words):
                        end = tokens[i + len(phrase.words) - 1].end
                        found.setdefault(index, []).append(
                            (phrase.term, Span(field_name, token.start, end))
                        )
        results = []
        for index in sorted(found):
            spec = self._watchlists[index]
            if spec.tags and not (spec.tags & article.tags):
                continue
            results.append(_result(spec.name, found[index], fields))
        return results


def _phrase_at(tokens: list[Token], i: int, phrase: tuple[str, ...]) -> bool:
    if i + len(phrase) > len(tokens):
        return False
    return all(tokens[i + k].word == word for k, word in enumerate(phrase))


def _result(name: str, hits: list[tuple[str, Span]], fields: dict[str, str]) -> MatchResult:
    terms: list[str] = []
    for term, _ in hits:
        if term not in terms:
            terms.append(term)
    score = sum(TITLE_WEIGHT if span.field == "title" else 1.0 for _, span in hits)
    # The snippet comes from the text when the text matched: it says more
    # than the title, which the alert shows anyway.
    text_spans = [span for _, span in hits if span.field == "text"]
    first = text_spans[0] if text_spans else hits[0][1]
    return MatchResult(
        watchlist=name,
        terms=tuple(terms),
        snippet=snippet(fields[first.field], first.start, first.end, SNIPPET_WIDTH),
        score=score,
        spans=tuple(span for _, span in hits),
    )
