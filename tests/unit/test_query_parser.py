"""The query language's grammar and every error message."""

from __future__ import annotations

import pytest

from monitor.core.query import QueryError, check_query, parse, render
from monitor.core.query.ast import And, EntityRef, Near, Not, Or, Regex, Source, Term


def test_precedence_not_near_and_or() -> None:
    assert render(parse("a b OR c")) == "((a AND b) OR c)"
    assert render(parse("a OR b c")) == "(a OR (b AND c))"
    assert render(parse("a NEAR/2 b c")) == "((a NEAR/2 b) AND c)"
    assert render(parse("a NEAR/2 b OR c")) == "((a NEAR/2 b) OR c)"
    assert render(parse("a NOT b")) == "(a AND NOT b)"
    assert render(parse("a -b")) == "(a AND NOT b)"
    assert render(parse("a AND NOT b OR c")) == "((a AND NOT b) OR c)"
    assert render(parse("(a OR b) ONEAR/0 c")) == "((a OR b) ONEAR/0 c)"


def test_lower_case_operators_are_words() -> None:
    node = parse("rock and roll or not near")
    assert isinstance(node, And)
    assert [leaf.words for leaf in node.children] == [("rock",), ("and",), ("roll",), ("or",), ("not",), ("near",)]


def test_terms() -> None:
    word = parse("Cártel")
    assert word == Term(("cartel",), "Cártel", column=1)
    prefix = parse("narco*")
    assert isinstance(prefix, Term) and prefix.prefix and prefix.words == ("narco",)
    phrase = parse('"Security  Agreement"')
    assert isinstance(phrase, Term) and phrase.words == ("security", "agreement")
    assert phrase.label == '"Security  Agreement"'
    case = parse('case:"New Mexico"')
    assert isinstance(case, Term) and case.case and case.raw == ("New", "Mexico")
    # A bare word with separators is the phrase of its words.
    assert parse("Mexico’s").words == ("mexico", "s")
    assert parse("price-fixing").words == ("price", "fixing")


def test_fields_sources_entities_regex() -> None:
    node = parse('title:(cartel OR "oil price") text:@gorka feed:"El País" tag:Mexico /x+y/', {"gorka"})
    assert isinstance(node, And)
    group, entity, feed, tag, regex = node.children
    assert isinstance(group, Or) and all(leaf.field == "title" for leaf in group.children)
    assert entity == EntityRef("gorka", "@gorka", "text", column=36)
    assert feed == Source("feed", "el pais", 'feed:"El País"', 43)
    assert tag == Source("tag", "mexico", "tag:Mexico", 58)
    assert isinstance(regex, Regex) and regex.pattern.search("XXY")


def test_regex_case_and_slashes() -> None:
    node = parse(r"/(?-i)US\b/")
    assert isinstance(node, Regex)
    assert node.pattern.search("US troops") and not node.pattern.search("us")
    assert parse(r"/a\/b/").pattern.search("A/B")


def test_near_distance_and_order() -> None:
    node = parse('"security agreement" ONEAR/12 (mexico OR @x)', {"x"})
    assert isinstance(node, Near) and node.distance == 12 and node.ordered
    assert isinstance(parse("a NEAR/0 b"), Near)


def test_not_forms() -> None:
    assert isinstance(parse("a -b").children[1], Not)
    assert isinstance(parse("a NOT (b OR c)").children[1], Not)


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ('(cartel OR "security agreement"', 32, "expected ')' after \"security agreement\""),
        ("(cartel OR mexico", 18, "expected ')' after \"mexico\""),
        ("a)", 2, "unexpected ')' with no matching '('"),
        ("()", 2, "empty parentheses"),
        ("a AND", 6, "expected a term after AND, found end of query"),
        ("a OR OR b", 6, "expected a term after OR, found 'OR'"),
        ("a NEAR b", 3, "expected NEAR/n with a number of words, e.g. NEAR/5"),
        ("a NEAR/x b", 3, "expected NEAR/n with a number of words, e.g. NEAR/5"),
        ("a ONEAR/ b", 3, "expected ONEAR/n with a number of words, e.g. ONEAR/5"),
        ("NOT a", 1, "query must contain at least one positive term"),
        ("-a -b", 1, "query must contain at least one positive term"),
        ("a OR NOT b", 1, "query must contain at least one positive term"),
        ('"abc', 1, "unterminated quote: missing closing '\"'"),
        ('a ""', 3, "empty phrase: it has no letters or digits"),
        ("/abc", 1, "unterminated regular expression: missing closing '/'"),
        ("a /(/", 3, "bad regular expression /(/: missing ), unterminated subpattern at position 0"),
        ("/a*/", 1, "regular expression /a*/ matches empty text"),
        ("x @foo", 3, "unknown entity @foo (known: @gorka)"),
        ("titel:x", 1, "unknown field 'titel:' (expected title:, text:, case:, feed: or tag:)"),
        ("title:text:x", 7, "text: inside title: can never match"),
        ("title:feed:x", 7, "feed: cannot be used inside title:"),
        ("case:", 6, "expected a word or a quoted phrase after case:"),
        ("case:US*", 6, "case: does not take a prefix ('*')"),
        ("na*rco", 1, "'*' is only allowed once, at the end of a word"),
        ("*", 1, "'*' is not a prefix: it has no letters or digits"),
        ("&", 1, "'&' is not a term: it has no letters or digits"),
        ("a NEAR/3 -b", 10, "NOT cannot be used inside NEAR/3"),
        ("a NEAR/3 (b -c)", 13, "NOT cannot be used inside NEAR/3"),
        ("/x/ NEAR/3 b", 1, "a regular expression cannot be used with NEAR/3"),
        ("tag:x ONEAR/1 b", 1, "tag: cannot be used with ONEAR/1"),
        ("a AND AND b", 7, "expected a term after AND, found 'AND'"),
        ("title:", 7, "expected a term after title:"),
        ("@", 1, "bad entity reference '@': expected @name"),
    ],
)
def test_errors(query: str, column: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        check_query(query, {"gorka"})
    assert (info.value.message, info.value.column) == (message, column)
    assert str(info.value) == f"column {column}: {message}"


def test_error_is_a_monitor_error_the_config_layer_can_prefix() -> None:
    from monitor.errors import MonitorError

    with pytest.raises(MonitorError) as info:
        check_query('(a OR "b c"')
    assert f"watchlists[2].query: {info.value}" == "watchlists[2].query: column 12: expected ')' after \"b c\""


def test_entities_unchecked_without_a_list() -> None:
    assert isinstance(parse("@anything"), EntityRef)
    with pytest.raises(QueryError):
        check_query("@anything")



def _chains(levels: int, length: int) -> str:
    """`levels` groups, each the previous one followed by `length` NEARs."""
    query = "a"
    for level in range(levels):
        query = "(" + query + "".join(f" NEAR/1 w{level}x{i}" for i in range(length)) + ")"
    return query


def _column_of(query: str, token: str, nth: int) -> int:
    at = -1
    for _ in range(nth):
        at = query.index(token, at + 1)
    return at + 1


@pytest.mark.parametrize(
    ("query", "token", "nth"),
    [
        ("(" * 200 + "a" + ")" * 200, "(", 51),  # as written: parentheses,
        ("NOT " * 300 + "a", "NOT", 51),  # NOT,
        ("a " + "-" * 300 + "b", "-", 51),  # -,
        ("title:" * 300 + "a", "title:", 51),  # fields,
        ("(a OR " * 60 + "b" + ")" * 60, "(", 51),
        (" NEAR/1 ".join(["a"] * 600), "NEAR", 50),  # in the tree: 50 NEARs and a word
        (_chains(25, 25), "NEAR", 50),  # 25 deep as written, 625 in the tree
    ],
    ids=["parentheses", "not", "minus", "fields", "or-groups", "near-chain", "near-chains-nested"],
)
def test_nesting_deeper_than_50_levels_is_a_located_error(query: str, token: str, nth: int) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert str(info.value) == f"column {_column_of(query, token, nth)}: nested too deeply (more than 50 levels)"


def test_nesting_of_50_levels_is_allowed_and_usable() -> None:
    from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec

    chained = _chains(7, 6)
    text = " ".join(f"a{i}" for i in range(50)) + " " + chained.replace("NEAR/1", "").replace("(", "").replace(")", "")
    for query in ("(" * 50 + "a0" + ")" * 50, " NEAR/3 ".join(f"a{i}" for i in range(50)), chained,
                  "a0 " + "NOT (" * 25 + "b" + ")" * 25):
        node = parse(query)
        assert render(parse(render(node))) == render(node)
        assert Matcher([WatchlistSpec("w", query=query)]).match(ArticleText("", text))
