"""Folding, word splitting and keyword watchlists (the foundation's matcher)."""

from __future__ import annotations

from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.text import snippet, tokenize, words

CARTELS = WatchlistSpec(
    "cartels", ("cartel", "cartels", "cártel", "cárteles", "CJNG", "crimen organizado")
)


def match(title: str, text: str = "", *specs: WatchlistSpec, tags: frozenset[str] = frozenset()):
    return Matcher(list(specs) or [CARTELS]).match(ArticleText(title, text, "feed", tags))


def test_words_fold_case_and_accents_and_split_on_punctuation() -> None:
    assert words("México’s CÁRTEL price-fixing l'État") == [
        "mexico", "s", "cartel", "price", "fixing", "l", "etat"
    ]


def test_tokens_keep_offsets_into_the_original() -> None:
    text = "Los CÁRTELES, hoy"
    token = tokenize(text)[1]
    assert (token.word, text[token.start : token.end]) == ("carteles", "CÁRTELES")


def test_decomposed_accents_stay_in_one_word() -> None:
    assert words("Me\u0301xico") == ["mexico"]


def test_whole_words_only() -> None:
    assert match("Cartelera de cine") == []
    assert match("The oil cartel agreed")[0].terms == ("cartel",)


def test_case_and_accent_insensitive_both_ways() -> None:
    (result,) = match("CÁRTEL del Golfo")
    assert result.terms == ("cartel",)
    (result,) = match("", "Lucha contra los carteles y el crimen   organizado")
    assert result.terms == ("cárteles", "crimen organizado")


def test_possessive_contains_the_word() -> None:
    spec = WatchlistSpec("mx", ("mexico",))
    assert match("Mexico's security plan", "", spec)[0].terms == ("mexico",)


def test_phrase_must_be_consecutive() -> None:
    assert match("crimen y organizado") == []


def test_title_and_text_both_searched_and_title_weighs_more() -> None:
    (in_title,) = match("CJNG leader arrested")
    (in_text,) = match("Leader arrested", "a CJNG cell")
    assert in_title.score > in_text.score
    assert in_text.snippet == "a CJNG cell"


def test_snippet_is_about_200_characters_around_the_first_match() -> None:
    text = "filler " * 100 + "the CJNG struck again " + "more " * 100
    (result,) = match("Title", text)
    assert "CJNG" in result.snippet
    assert 150 <= len(result.snippet) <= 260
    assert result.snippet.startswith("…") and result.snippet.endswith("…")


def test_tags_restrict_a_watchlist_to_tagged_feeds() -> None:
    spec = WatchlistSpec("mx", ("cartel",), frozenset({"mexico"}))
    assert match("cartel news", "", spec) == []
    assert match("cartel news", "", spec, tags=frozenset({"mexico", "en"}))[0].watchlist == "mx"


def test_several_watchlists_in_config_order() -> None:
    other = WatchlistSpec("security", ("security agreement", "acuerdo de seguridad"))
    results = match("Acuerdo de seguridad y cárteles", "", CARTELS, other)
    assert [r.watchlist for r in results] == ["cartels", "security"]


def test_snippet_helper_short_text_is_whole() -> None:
    assert snippet("short text", 0, 5) == "short text"


def query_matches(query: str, text: str) -> bool:
    return bool(Matcher([WatchlistSpec("q", query=query)]).match(ArticleText("", text)))


def test_arabic_harakat_and_tatweel_fold_like_accents() -> None:
    assert query_matches("محمد", "قال محمّد")  # shadda
    assert query_matches("مُحَمَّد", "قال محمد")  # fully vowelled query
    assert query_matches("محمد", "قال محـــمد")  # tatweel
    (token,) = tokenize("محمّد")
    assert (token.word, token.start, token.end) == ("محمد", 0, 5)  # the mark is inside the word


def test_hebrew_points_fold_like_accents() -> None:
    assert query_matches("שלום", "שָׁלוֹם עליכם")
    assert words("שָׁלוֹם") == ["שלום"]


def test_brahmic_vowel_signs_and_virama_are_letters_not_accents() -> None:
    assert not query_matches("हैलो", "हाल ही में")
    assert query_matches("हैलो", "उसने कहा हैलो दोस्त")
    assert words("हैलो") == ["हैलो"]
    assert words("क्ष") != words("कष")  # virama
    assert words("কী") != words("কি")  # Bengali vowel signs
    assert words("が") != words("か")  # kana voicing mark
    assert words("ｶﾞ") == words("ガ")  # half-width forms still fold


def test_every_apostrophe_splits_alike() -> None:
    for apostrophe in "'\u2019\u2018\uff07\u02bc":
        assert words(f"Mexico{apostrophe}s") == ["mexico", "s"], apostrophe
    assert query_matches("mexico", "Mexicoʼs president")
    (mexico, s) = tokenize("Mexicoʼs")
    assert (mexico.start, mexico.end, s.start, s.end) == (0, 6, 7, 8)


def test_a_vulgar_fraction_is_one_word() -> None:
    assert words("½") == words("1⁄2") == ["1⁄2"]  # with U+2044 FRACTION SLASH
    assert query_matches("1⁄2", "add ½ cup")
    assert words("1/2") == ["1", "2"]
    assert not query_matches("½", "a $1.2 million round")
    assert not query_matches("½", "chapters 1 2")
    assert query_matches("½", "add ½ cup")
    assert query_matches("½*", "add ½ cup")
    assert words("x² ③") == ["x2", "3"]  # other compatibility numbers fold to digits
    # A decimal point separates words like any other punctuation (docs/queries.md).
    assert words("1.2") == words("1 2") == ["1", "2"]
