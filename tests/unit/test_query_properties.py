"""Property tests: the engine agrees with the slow reference evaluator."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.matcher import ArticleText, EntitySpec, Matcher, WatchlistSpec
from monitor.core.query import parse
from monitor.core.query.ast import Or, Term
from monitor.core.query.fields import FieldText
from monitor.core.text import tokenize
from tests.unit.reference_eval import RefArticle, reference_match, words_of

VOCAB = [
    "cartel", "Cártel", "carteles", "cartelera", "narco", "narcotráfico",
    "US", "us", "mexico", "México", "New", "oil", "OPEC",
    "security", "agreement", "AND", "NOT", "Gorka", "Sebastian", "Trump",
    "Straße", "½", "Mexico’s", "price-fixing", "s",
]
SEPARATORS = [" ", " ", " ", ", ", ". ", "\n", " — ", "-", "’", " (", ") ", "  ",
              ".”\n\n", " \t  —  "]  # runs of 4 and 7 separators: squeezed streams
ENTITIES = {
    "g": EntitySpec("g", names=("Sebastian Gorka",), aliases=("Gorka",), context=("Trump", "White House")),
    "c": EntitySpec("c", names=("CJNG", "cartel de jalisco"), aliases=(), context=()),
}
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def texts(draw, max_words: int = 40) -> str:
    words = draw(st.lists(st.sampled_from(VOCAB), max_size=max_words))
    out = []
    for word in words:
        out.append(word)
        out.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(out)


articles = st.builds(
    ArticleText,
    title=texts(max_words=8),
    text=texts(),
    feed=st.sampled_from(["", "Reuters", "El País"]),
    tags=st.frozensets(st.sampled_from(["mexico", "us", "energy"]), max_size=2),
)

PLAIN_WORDS = [w for w in VOCAB if w not in ("AND", "NOT") and words_of(w)]


def _prefix(word: str) -> str:
    folded = words_of(word)[-1]
    return folded[: max(1, len(folded) // 2)] + "*"


word_leaf = st.sampled_from(PLAIN_WORDS) | st.sampled_from(PLAIN_WORDS).map(_prefix)
phrase_leaf = st.tuples(st.sampled_from(PLAIN_WORDS), st.sampled_from(PLAIN_WORDS)).map(
    lambda p: f'"{p[0]} {p[1]}"'
)
case_leaf = st.sampled_from(["case:US", "case:us", 'case:"New Mexico"', "case:México", 'case:"OPEC"'])
positional_leaf = word_leaf | phrase_leaf | case_leaf | st.sampled_from(["@g", "@c"])
other_leaf = st.sampled_from(['/cart[eé]l/', '/(?-i)US\\b/', 'feed:"Reuters"', "tag:mexico", "/o{2}|pec/"])


def scoped(leaf: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", "", "title:", "text:"]), leaf).map(lambda p: p[0] + p[1])


def positional(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return scoped(positional_leaf)
    sub = positional(depth - 1)
    return st.one_of(
        scoped(positional_leaf),
        st.tuples(sub, st.sampled_from(["NEAR", "ONEAR"]), st.integers(0, 6), sub).map(
            lambda t: f"({t[0]} {t[1]}/{t[2]} {t[3]})"
        ),
        st.tuples(sub, st.sampled_from([" OR ", " OR ", " AND ", " "]), sub).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
    )


def queries(depth: int = 3) -> st.SearchStrategy[str]:
    if depth == 0:
        return positional(1) | other_leaf
    sub = queries(depth - 1)
    return st.one_of(
        positional(2),
        other_leaf,
        st.tuples(sub, st.sampled_from([" OR ", " OR ", " AND ", " ", " NOT ", " -"]), sub).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        ),
    )


def engine_match(query: str, article: ArticleText):
    matcher = Matcher([WatchlistSpec("w", query=query)], ENTITIES)
    results = matcher.match(article)
    if not results:
        return False, set(), set()
    result = results[0]
    return True, {(s.field, s.start, s.end) for s in result.spans}, set(result.terms)


@SETTINGS
@given(queries(), articles)
def test_engine_agrees_with_reference(query: str, article: ArticleText) -> None:
    node = parse(query, set(ENTITIES))
    expected = reference_match(node, RefArticle(article.title, article.text, article.feed, article.tags), ENTITIES)
    assert engine_match(query, article) == expected


@SETTINGS
@given(positional(2), positional(1), st.integers(0, 6), st.booleans(), texts(max_words=40))
def test_near_distances_agree(left: str, right: str, n: int, ordered: bool, text: str) -> None:
    query = f"({left}) {'ONEAR' if ordered else 'NEAR'}/{n} ({right})"
    node = parse(query, set(ENTITIES))
    article = ArticleText("", text)
    assert engine_match(query, article) == reference_match(node, RefArticle("", text), ENTITIES)


@SETTINGS
@given(st.lists(st.sampled_from(VOCAB + ["crimen organizado", "oil cartel", "US oil New OPEC security",
                                        "security agreement oil cartel US mexico"]), min_size=1, max_size=6), articles)
def test_keyword_lists_agree(keywords: list[str], article: ArticleText) -> None:
    terms = []
    seen = set()
    for keyword in keywords:
        words = words_of(keyword)
        if words and words not in seen:
            seen.add(words)
            terms.append(Term(words, keyword))
    node = Or(tuple(terms))
    expected = reference_match(node, RefArticle(article.title, article.text))
    results = Matcher([WatchlistSpec("k", tuple(keywords))]).match(article)
    got = (False, set(), set())
    if results:
        got = (True, {(s.field, s.start, s.end) for s in results[0].spans}, set(results[0].terms))
    assert got == expected


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=60)
    | texts()
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x4FF), max_size=60)
    | st.text(st.sampled_from("aZ \u00a0\u2019\u2014\u200d\u0130\u00df\u0301\u00b2\u03a3\u03c2\u0488é"), max_size=30)
)
def test_fast_folding_matches_tokenize(text: str) -> None:
    field = FieldText("text", text)
    tokens = tokenize(text)
    assert field.words == [t.word for t in tokens]
    assert field.starts == [t.start for t in tokens]
    assert field.ends == [t.end for t in tokens]


@settings(max_examples=200, deadline=None)
@given(queries())
def test_render_round_trips(query: str) -> None:
    from monitor.core.query import render

    node = parse(query, set(ENTITIES))
    again = parse(render(node), set(ENTITIES))
    assert render(again) == render(node)


@settings(max_examples=100, deadline=None)
@given(st.lists(queries(1), min_size=1, max_size=8), articles)
def test_many_watchlists_same_as_one_by_one(qs: list[str], article: ArticleText) -> None:
    together = Matcher([WatchlistSpec(f"w{i}", query=q) for i, q in enumerate(qs)], ENTITIES).match(article)
    alone = [r for i, q in enumerate(qs) for r in Matcher([WatchlistSpec(f"w{i}", query=q)], ENTITIES).match(article)]
    assert together == alone
