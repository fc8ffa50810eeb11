"""Property tests: the engine agrees with the slow reference evaluator."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.matcher import ArticleText, EntitySpec, Matcher, WatchlistSpec
from monitor.core.query import QueryError, parse
from monitor.core.query.ast import Or, Term
from monitor.core.query.fields import FieldText
from monitor.core.text import is_word_char, tokenize
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
@given(st.lists(st.sampled_from([*VOCAB, "crimen organizado", "oil cartel", "US oil New OPEC security",
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
    | st.text(st.sampled_from("aZ \u02bc\u02b9\u02c6'\u0640\u0651\u05b8\u05e9\u0645\u0915\u093e\u094d\u00bd\u2044\u304b\u3099\U00011013\U00011038"),
              max_size=30)
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


# --- beyond Latin ------------------------------------------------------------------
# Letters of each script, and the combining marks that may follow a letter.
# Folding drops the marks of the first five (diacritics, harakat, niqqud, the
# tatweel) and keeps those of the others (vowel signs, virama, voicing).
SCRIPTS: dict[str, tuple[str, str]] = {
    "latin": ("abcdefghijklmnopqrstuvwxyzABC", "\u0301\u0300\u0308\u0327\u0303"),
    "greek": ("αβγδεζηθικλμνξοπρστυφχψωςΑΒΓΣ", "\u0301\u0308"),
    "cyrillic": ("абвгдежзийклмнопрстуфхцчшщыьэюяАБВЖ", "\u0301\u0308"),
    "hebrew": ("אבגדהוזחטיכךלמםנןסעפףצץקרשת", "\u05b0\u05b4\u05b5\u05b6\u05b7\u05b8\u05b9\u05bc\u05c1\u05c2"),
    "arabic": ("ءابتثجحخدذرزسشصضطظعغفقكلمنهوي", "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670\u0640"),
    "devanagari": ("कखगघचछजझटठडढणतथदधनपफबभमयरलवशसहअआइउए", "\u093e\u093f\u0940\u0941\u0942\u0947\u0948\u094b\u094c\u094d\u0902"),
    "kana": ("あいうかきくけこさしすたちつてとはひふへほアカサタハ", "\u3099\u309a"),
    "cjk": ("中国日本人大小山川東京北南西", ""),
    "brahmi": ("\U00011013\U00011014\U00011015\U00011016\U00011017", "\U00011038\U0001103a\U00011046"),  # past U+FFFF
}
DIACRITIC_SCRIPTS = ("latin", "greek", "cyrillic", "hebrew", "arabic")
MULTI_SEPARATORS = [" ", " ", " ", ", ", ". ", "\n", "-", "’", "ʼ", "'", "‘", "＇", " (", ") ", "、", "。",
                    "، ", "؟ ", "׃ ", "। ", " \t  —  ", "\u200d"]
ODD_WORDS = ["½", "¼", "x²", "1.2", "1 2", "ﷺ", "ﬁ", "Straße"]


@st.composite
def script_word(draw, script: str | None = None) -> str:
    """A word of one script: 1 to 5 letters, each with 0 to 2 of its marks."""
    name = script or draw(st.sampled_from(sorted(SCRIPTS)))
    letters, marks = SCRIPTS[name]
    out = []
    for _ in range(draw(st.integers(1, 5))):
        out.append(draw(st.sampled_from(letters)))
        if marks:
            out.extend(draw(st.lists(st.sampled_from(marks), max_size=2)))
    return "".join(out)


def strip_marks(word: str) -> str:
    return "".join(ch for ch in word if not (unicodedata.category(ch)[0] == "M" or ch == "\u0640"))


@st.composite
def multiscript_text(draw, words: list[str], max_words: int = 25) -> str:
    """Words from `words`, fresh words of any script and odd ones, between separators."""
    choice = st.sampled_from(words) if words else script_word()
    out = []
    for _ in range(draw(st.integers(0, max_words))):
        out.append(draw(choice | script_word() | st.sampled_from(ODD_WORDS)))
        out.append(draw(st.sampled_from(MULTI_SEPARATORS)))
    return "".join(out)


def _multi_leaf(words: list[str]) -> st.SearchStrategy[str]:
    word = st.sampled_from(words) | st.sampled_from(words).map(strip_marks).filter(bool) | script_word()
    return st.one_of(
        word,
        word.map(_prefix),
        st.tuples(word, word).map(lambda p: f'"{p[0]} {p[1]}"'),
        st.sampled_from(["½", "1.2", '"x²"']),
    )


def _multi_query(leaf: st.SearchStrategy[str], depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return scoped(leaf)
    sub = _multi_query(leaf, depth - 1)
    return st.one_of(
        scoped(leaf),
        st.tuples(sub, st.sampled_from(["NEAR", "ONEAR"]), st.integers(0, 4), sub).map(
            lambda t: f"({t[0]} {t[1]}/{t[2]} {t[3]})"
        ),
        st.tuples(sub, st.sampled_from([" OR ", " AND ", " ", " NOT "]), sub).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
    )


@st.composite
def multiscript_cases(draw) -> tuple[str, ArticleText]:
    """An article in several scripts and a query mostly made of its words."""
    pool = draw(st.lists(script_word(), min_size=1, max_size=8))
    article = ArticleText(draw(multiscript_text(pool, max_words=6)), draw(multiscript_text(pool)))
    query = draw(_multi_query(_multi_leaf(pool), 2))
    return query, article


@SETTINGS
@given(multiscript_cases())
def test_engine_agrees_with_reference_in_every_script(case: tuple[str, ArticleText]) -> None:
    query, article = case
    try:
        node = parse(query)
    except QueryError:  # only NOT terms left, or nothing to search
        return
    expected = reference_match(node, RefArticle(article.title, article.text))
    assert engine_match(query, article) == expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SCRIPTS)).flatmap(script_word), st.data())
def test_a_word_matches_itself_inside_any_text(word: str, data: st.DataObject) -> None:
    left = data.draw(multiscript_text([word]))
    right = data.draw(multiscript_text([word]))
    before, after = data.draw(st.sampled_from(MULTI_SEPARATORS)), data.draw(st.sampled_from(MULTI_SEPARATORS))
    text = left + before + word + after + right
    start = len(left + before)
    for query in (f'"{word}"', strip_marks(word) if word_script(word) in DIACRITIC_SCRIPTS else None):
        if query is None:
            continue
        matched, spans, _ = engine_match(query, ArticleText("", text))
        assert matched and ("text", start, start + len(word)) in spans, query
    if word_script(word) not in DIACRITIC_SCRIPTS and strip_marks(word) != word:
        assert words_of(strip_marks(word)) != words_of(word)  # the marks are letters here


def word_script(word: str) -> str:
    return next(name for name, (letters, _) in SCRIPTS.items() if word[0] in letters)


@settings(max_examples=300, deadline=None)
@given(st.lists(script_word(), max_size=6).flatmap(lambda pool: multiscript_text(pool, max_words=30)))
def test_folded_words_map_back_into_the_original(text: str) -> None:
    field = FieldText("text", text)
    tokens = tokenize(text)
    assert field.words == [t.word for t in tokens]
    assert field.starts == [t.start for t in tokens]
    assert field.ends == [t.end for t in tokens]
    for token in tokens:
        original = text[token.start : token.end]
        assert token.word in words_of(original)  # the span holds the word,
        assert token.start == 0 or not is_word_char(text[token.start - 1]) or not text[token.start - 1].isalnum()
        assert token.end == len(text) or not is_word_char(text[token.end])  # and all of it
