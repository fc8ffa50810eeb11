"""What each operator matches, false friends, results and explanations."""

from __future__ import annotations

import pytest

from monitor.core.matcher import (
    ArticleText,
    EntitySpec,
    Matcher,
    MatchResult,
    QueryError,
    Span,
    WatchlistSpec,
    explain_watchlist,
)
from monitor.core.query.explain import explain
from monitor.models import Snippet
from tests.snippets import starred

ENTITIES = {
    "gorka": EntitySpec("gorka", names=("Sebastian Gorka",), aliases=("Gorka",), context=("Trump", "White House")),
    "cjng": EntitySpec("cjng", names=("CJNG", "Cártel de Jalisco Nueva Generación"), aliases=("los Mencho",),
                       context=("Jalisco",)),
}


def matches(query: str, title: str = "", text: str = "", **kwargs) -> bool:
    article = ArticleText(title, text, **kwargs)
    return bool(Matcher([WatchlistSpec("w", query=query)], ENTITIES).match(article))


def one(spec: WatchlistSpec, article: ArticleText) -> MatchResult:
    results = Matcher([spec], ENTITIES).match(article)
    assert len(results) == 1
    return results[0]


# --- keyword lists keep their old behaviour ---------------------------------

KEYWORDS = ("cartel", "cartels", "cártel", "cárteles", "CJNG", "crimen organizado")


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("", "An oil cartel raised prices.", True),
        ("", "La Cartelera de cine", False),
        ("Los cárteles de México", "", True),
        ("", "El CRIMEN   organizado crece", True),
        ("", "crimen, organizado", True),
        ("", "crimen desorganizado", False),
        ("", "the cjng's leader", True),
        ("", "narcocartel", False),
    ],
)
def test_keyword_lists_match_whole_words(title: str, text: str, expected: bool) -> None:
    article = ArticleText(title, text)
    assert bool(Matcher([WatchlistSpec("k", KEYWORDS)]).match(article)) is expected


def test_keywords_are_literal_not_query_syntax() -> None:
    spec = WatchlistSpec("k", ("narco*", "NOT", "a OR b", "title:x"))
    assert not Matcher([spec]).match(ArticleText("", "narcotráfico and more"))
    assert Matcher([spec]).match(ArticleText("", "narco world"))
    assert Matcher([spec]).match(ArticleText("", "we do NOT care"))
    assert Matcher([spec]).match(ArticleText("", "A or B"))
    assert Matcher([spec]).match(ArticleText("", "the title: x"))


def test_keyword_result_fields() -> None:
    article = ArticleText("Cárteles y crimen", "Hubo un cartel. " * 3 + "Otro cártel más. " + "x " * 200)
    result = one(WatchlistSpec("k", KEYWORDS), article)
    assert result.terms == ("cárteles", "cartel")  # first spelling of cartel/cártel
    assert result.spans[0] == Span("title", 0, 8)
    assert Span("text", 8, 14) in result.spans
    assert result.snippet.startswith("Hubo un cartel.")
    assert starred(result.snippets[0]).startswith("Hubo un **cartel**. Hubo un **cartel**.")
    assert result.score == pytest.approx(2.0 + 1.0 + 2.0)  # title 2; text 1 * (1 + log2 4)


def test_title_only_match_snippet_is_the_title() -> None:
    result = one(WatchlistSpec("k", KEYWORDS), ArticleText("Un cartel", "Nothing here."))
    assert result.snippet == "Un cartel"
    assert result.snippets == (Snippet("Un cartel", ((3, 9),)),)


def test_watchlist_tags_still_limit_articles() -> None:
    spec = WatchlistSpec("k", ("cartel",), tags=frozenset({"mexico"}))
    assert not Matcher([spec]).match(ArticleText("", "cartel"))
    assert Matcher([spec]).match(ArticleText("", "cartel", tags=frozenset({"mexico"})))


def test_deterministic_and_config_order() -> None:
    specs = [WatchlistSpec(f"w{i}", query=q) for i, q in enumerate(["b*", "a", "a OR b"])]
    article = ArticleText("a b", "b a bb")
    first = Matcher(specs).match(article)
    assert [r.watchlist for r in first] == ["w0", "w1", "w2"]
    assert Matcher(specs).match(article) == first


# --- operators ----------------------------------------------------------------


def test_word_folding_and_boundaries() -> None:
    assert matches("mexico", text="Noticias de MÉXICO hoy")
    assert matches("mexico", text="Mexico’s president")
    assert not matches("mexico", text="Mexicotown")
    assert matches("fixing", text="price-fixing cases")
    assert matches("strasse", text="Hauptstraße 5") is False  # one word "hauptstrasse"
    assert matches("strasse", text="Straße 5")


def test_phrase() -> None:
    assert matches('"security agreement"', text="a new Security — Agreement")
    assert not matches('"security agreement"', text="agreement on security")
    assert matches('"crimen organizado"', text="el crimen organizado")


def test_phrase_across_any_run_of_separators() -> None:
    # 1 to 3 separators are spelled in the automaton; longer runs are squeezed.
    for gap in (" ", ", ", " — ", ".”\n\n", " \t  —  ", "." + " " * 40):
        text = f"A new security{gap}agreement was signed"
        result = one(WatchlistSpec("w", query='"security agreement"'), ArticleText("", text))
        start = text.index("security")
        assert result.spans == (Span("text", start, text.index("agreement") + len("agreement")),)
        assert "**security" in starred(result.snippets[0])
        assert matches("security AND agreem*", text=text)
        assert matches("security NEAR/0 agreement", text=text)
        assert not matches("security NEAR/0 signed", text=text)


def test_offsets_after_squeezed_runs() -> None:
    text = "Intro.”\n\n   Then     the cartel,\n\n\n\n and      crimen organizado."
    result = one(WatchlistSpec("k", ("cartel", "crimen organizado")), ArticleText("T", text))
    assert [(s.start, s.end) for s in result.spans] == [
        (text.index("cartel"), text.index("cartel") + 6),
        (text.index("crimen"), text.index("organizado") + 10),
    ]


def test_long_phrases() -> None:
    phrase = "cartel de jalisco nueva generacion"
    text = "Leaders of the Cártel  de Jalisco,  Nueva — Generación met"
    assert matches(f'"{phrase}"', text=text)
    assert not matches(f'"{phrase} met again"', text=text)
    assert not matches(f'"{phrase}"', text="Cártel de Jalisco Nueva era")
    result = one(WatchlistSpec("k", (phrase, "cartel de jalisco nueva era")), ArticleText("", text))
    assert result.spans == (Span("text", text.index("Cártel"), text.index("Generación") + 10),)


def test_prefix() -> None:
    assert matches("narco*", text="el narcotráfico")
    assert matches("narco*", text="Los narcos")
    assert matches("narco*", text="un narco")
    assert not matches("narco*", text="antinarcotics")
    assert matches("mexico-s*", text="Mexico’s sovereignty")


def test_case_sensitive() -> None:
    assert matches("case:US", text="US troops arrived")
    assert not matches("case:US", text="let us see")
    assert not matches("case:US", text="Us and them")
    assert matches('case:"New Mexico"', text="in New Mexico today")
    assert not matches('case:"New Mexico"', text="a new Mexico")
    assert not matches("case:Mexico", text="México")  # accents count too


def test_boolean_operators() -> None:
    assert matches("cartel AND mexico", text="cartel in Mexico")
    assert not matches("cartel AND mexico", text="cartel in Colombia")
    assert matches("cartel mexico", text="Mexico cartel")
    assert matches("cartel OR mexico", text="Colombia cartel")
    assert matches("cartel NOT oil", text="drug cartel")
    assert not matches("cartel NOT oil", text="oil cartel")
    assert not matches("cartel -oil", text="oil cartel")
    assert matches("(cartel OR narco*) AND -(opec OR oil)", text="narcos")


def test_false_friends() -> None:
    query = "cartel* NOT (OPEC OR oil)"
    assert matches(query, text="Los cárteles mexicanos")
    assert not matches(query, text="The OPEC cartel cut output")
    assert not matches(query, title="Oil cartel", text="prices rise")
    assert matches("mexico NOT \"new mexico\"", text="Mexico City")
    assert not matches("mexico NOT \"new mexico\"", text="Santa Fe, New Mexico")
    assert not matches("cartel", text="la cartelera del fin de semana")


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("cartel NEAR/2 mexico", "cartel in Mexico", True),
        ("cartel NEAR/0 mexico", "cartel in Mexico", False),
        ("cartel NEAR/1 mexico", "Mexico and its cartel", False),
        ("cartel NEAR/2 mexico", "Mexico and its cartel", True),
        ("cartel ONEAR/2 mexico", "Mexico and its cartel", False),
        ("cartel ONEAR/2 mexico", "cartel and Mexico", True),
        ('"security agreement" NEAR/3 (mexico OR "united states")', "security agreement with the United States", True),
        ('"security agreement" NEAR/1 (mexico OR "united states")', "security agreement with the United States", False),
        ("narco* NEAR/0 @cjng", "narcos CJNG", True),
        ("(a NEAR/0 b) NEAR/1 c", "a b x c", True),
        ("(a NEAR/0 b) NEAR/1 c", "a b x y c", False),
        ("mexico NEAR/5 mexico", "Mexico", False),  # two occurrences needed
        ("mexico NEAR/5 mexico", "Mexico and Mexico", True),
    ],
)
def test_near(query: str, text: str, expected: bool) -> None:
    assert matches(query, text=text) is expected


def test_near_stays_within_a_field() -> None:
    assert not matches("cartel NEAR/3 mexico", title="cartel", text="Mexico")


def test_regex() -> None:
    assert matches(r"/secur\w+ agree/", text="SECURITY AGREEMENT")
    assert not matches(r"/(?-i)US\b/", text="us troops")
    assert matches(r"/(?-i)US\b/", text="US troops")
    assert matches(r"title:/^breaking/", title="Breaking: news", text="")
    assert not matches(r"title:/^breaking/", title="news", text="breaking")


def test_regex_only_watchlist_is_always_a_candidate() -> None:
    matcher = Matcher([WatchlistSpec("r", query=r"/\d{4}-\d{2}/")])
    assert matcher.match(ArticleText("", "on 2024-05 things"))
    assert not matcher.match(ArticleText("", "nothing"))


def test_field_scopes() -> None:
    assert matches("title:cartel", title="Cartel news", text="x")
    assert not matches("title:cartel", title="News", text="cartel")
    assert matches("text:(cartel OR narco*)", title="x", text="narcos")
    assert not matches("text:(cartel OR narco*)", title="narcos", text="x")


def test_feed_and_tag() -> None:
    assert matches('cartel feed:"El País"', text="cartel", feed="El Pais")
    assert not matches('cartel feed:"El País"', text="cartel", feed="Reuters")
    assert matches("cartel tag:mexico", text="cartel", tags=frozenset({"Mexico"}))
    assert not matches("cartel tag:mexico", text="cartel", tags=frozenset({"us"}))
    assert matches('feed:"Reuters"', text="anything", feed="Reuters")


def test_entities_names_and_aliases_in_context() -> None:
    assert matches("@gorka", text="Sebastian Gorka said")
    assert not matches("@gorka", text="Gorka said")  # alias without context
    assert matches("@gorka", title="Trump aide", text="Gorka said")
    assert matches("@gorka", text="at the White House, Gorka said")
    assert matches("@cjng", text="el Cártel de Jalisco Nueva Generación")


def test_watchlist_entities_are_ored_with_keywords_and_query() -> None:
    spec = WatchlistSpec("w", ("huachicol",), query="cartel NEAR/1 mexico", entities=("gorka", "cjng"))
    matcher = Matcher([spec], ENTITIES)
    assert matcher.match(ArticleText("", "CJNG attack"))
    assert matcher.match(ArticleText("", "huachicol"))
    assert matcher.match(ArticleText("", "cartel de Mexico"))
    assert not matcher.match(ArticleText("", "Gorka cartel"))
    result = one(spec, ArticleText("", "CJNG and Sebastian Gorka and huachicol"))
    assert result.terms == ("@cjng", "@gorka", "huachicol")


def test_unknown_entity_raises() -> None:
    with pytest.raises(QueryError, match="unknown entity 'nobody'"):
        Matcher([WatchlistSpec("w", entities=("nobody",))], ENTITIES)
    with pytest.raises(QueryError, match="unknown entity @nobody"):
        Matcher([WatchlistSpec("w", query="@nobody")], ENTITIES)


def test_query_result_reports_labels_spans_and_highlights() -> None:
    article = ArticleText(
        "Acuerdo de seguridad",
        "Mexico and the United States signed a security agreement on Tuesday. The narcos reacted.",
    )
    spec = WatchlistSpec("w", query='"security agreement" NEAR/5 (mexico OR "united states") narco*')
    result = one(spec, article)
    # Mexico is 6 words from "security agreement": not part of any pair.
    assert result.terms == ('"united states"', '"security agreement"', "narco*")
    text = article.text
    assert [text[s.start : s.end] for s in result.spans] == ["United States", "security agreement", "narcos"]
    assert tuple(map(starred, result.snippets)) == (
        "Mexico and the **United States** signed a **security agreement** on Tuesday. The **narcos** reacted.",
    )


def test_spanish_and_english_cases() -> None:
    assert matches("extradicion NEAR/3 guzman", text="La extradición de Ovidio Guzmán")
    assert matches('"ovidio guzman" OR "el raton"', text="Ovidio GUZMÁN LÓPEZ")
    assert matches("fentanyl* AND (china OR mexico)", text="Fentanyl precursors from China")
    assert not matches("fentanyl* AND (china OR mexico)", text="Fentanyl in Ohio")


# --- explanations ------------------------------------------------------------


def test_explain_why_not() -> None:
    article = ArticleText(
        "Talks", "Mexico said on Monday that after long talks a broad new bilateral security agreement was near."
    )
    result = explain('"security agreement" NEAR/5 mexico', article)
    assert not result.matched
    assert result.lines[0] == "✗ NEAR/5 failed: closest pair 11 words apart"
    result = explain('"trade agreement" OR case:MEXICO', article)
    assert '✗ no occurrence of "trade agreement"' in [line.strip() for line in result.lines]
    assert '✗ no occurrence of case:MEXICO with that exact case (other case: text "Mexico")' in [line.strip() for line in result.lines]


def test_explain_why_yes_highlights() -> None:
    result = explain("cartel* NOT oil", ArticleText("", "Los cárteles"))
    assert result.matched
    assert result.snippets == (Snippet("Los cárteles", ((4, 12),)),)
    assert "✓ NOT oil — it does not occur" in [line.strip() for line in result.lines]
    assert "  > Los cárteles\n        ^^^^^^^^" in str(result)


def test_explain_alias_without_context_and_sources() -> None:
    result = explain("@gorka OR feed:\"Reuters\"", ArticleText("", "Gorka spoke", feed="AP"), ENTITIES)
    assert '✗ no occurrence of @gorka: alias text "Gorka" found but no context phrase' in [line.strip() for line in result.lines]
    assert '✗ feed:"Reuters" — article has feed "ap"' in [line.strip() for line in result.lines]


def test_explain_watchlist() -> None:
    spec = WatchlistSpec("w", ("oil cartel",), query="narco*")
    result = explain_watchlist(spec, ArticleText("", "an oil cartel"), ENTITIES)
    assert result.matched
    assert result.lines[0] == "✓ OR — 1 of 2 parts matched"
