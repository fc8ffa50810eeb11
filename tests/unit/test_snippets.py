"""Snippets carry their highlights as offsets: feed text that looks like a
highlight (`**x**`, `__y__`, `<mark>`) is text, and only real matches are marked
— in the matcher, in storage, in the CLI's output and in the migration of old rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.query.explain import explain, snippet_lines
from monitor.models import Snippet
from monitor.records import highlight_fields
from monitor.store.schema import SnippetsJSON
from tests.snippets import starred

FAKES = "**boss** __under__ <mark>fake</mark>"

MIGRATION = Path(__file__).resolve().parents[2] / "monitor/store/migrations/versions/0004_snippet_marks.py"


def migration() -> object:
    spec = importlib.util.spec_from_file_location("snippet_marks", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def matched(snippet: Snippet) -> list[str]:
    return [text for text, is_match in snippet.parts() if is_match]


# -- the matcher ------------------------------------------------------------------------------


def test_feed_text_that_looks_like_a_highlight_stays_text() -> None:
    article = ArticleText(f"Cartel {FAKES}", f"The {FAKES} said the cartel ** won")
    (result,) = Matcher([WatchlistSpec("w", keywords=("cartel",))]).match(article)
    assert [s.text for s in result.snippets] == [f"The {FAKES} said the cartel ** won", f"Cartel {FAKES}"]
    assert [matched(s) for s in result.snippets] == [["cartel"], ["Cartel"]]
    assert result.snippet == f"The {FAKES} said the cartel ** won"


def test_one_match_with_markers_in_the_window() -> None:
    (result,) = Matcher([WatchlistSpec("w", query="fentanyl")]).match(ArticleText("", "a **b** fentanyl c"))
    assert result.snippets == (Snippet("a **b** fentanyl c", ((8, 16),)),)
    assert result.snippet == "a **b** fentanyl c"


def test_explain_marks_only_the_match() -> None:
    result = explain("cartel", ArticleText("", "**cartel** <mark>x</mark>"))
    assert result.snippets == (Snippet("**cartel** <mark>x</mark>", ((2, 8),)),)


_SPACE = st.sampled_from([" ", "  ", "\n", "\t \n", "\u00a0", " \u2028 "])


@given(st.lists(st.tuples(st.sampled_from(["cartel", "x", "**", "<mark>", "__y__", "word"]), _SPACE), min_size=1, max_size=30))
def test_marks_follow_the_collapsed_whitespace(words: list[tuple[str, str]]) -> None:
    text = "".join(word + space for word, space in words) + "cartel"
    (result,) = Matcher([WatchlistSpec("w", keywords=("cartel",))]).match(ArticleText("", text))
    for snippet in result.snippets:
        assert snippet.text == " ".join(snippet.text.split())
        assert matched(snippet) and set(matched(snippet)) == {"cartel"}
        assert snippet.text.replace("…", "") in " ".join(text.split())


# -- the value ----------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.text(min_size=1, max_size=5), st.booleans()), max_size=8))
def test_parts_and_from_parts_agree(parts: list[tuple[str, bool]]) -> None:
    snippet = Snippet.from_parts(parts)
    assert "".join(text for text, _ in snippet.parts()) == snippet.text == "".join(text for text, _ in parts)
    assert Snippet.from_parts(snippet.parts()) == snippet
    assert "".join(text for text, is_match in snippet.parts() if is_match) == "".join(t for t, m in parts if m)


@pytest.mark.parametrize("marks", [((0, 0),), ((2, 9),), ((3, 4), (2, 3)), ((-1, 2),)])
def test_marks_must_fit_the_text(marks: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        Snippet("abcdef", marks)


def test_json_fields_are_plain_text_and_parts() -> None:
    fields = highlight_fields((Snippet("the **x** cartel", ((10, 16),)),))
    assert fields == {
        "highlights": ["the **x** cartel"],
        "highlight_parts": [[{"text": "the **x** ", "match": False}, {"text": "cartel", "match": True}]],
    }


# -- the terminal ---------------------------------------------------------------------------------


def test_snippet_lines_underline_matches_by_columns() -> None:
    snippet = Snippet("**a** 中文 cafe\u0301 cartel \x1b[31m end", ((6, 8), (9, 14), (15, 21)))
    text, carets = snippet_lines(snippet, "  > ")
    assert text == "  > **a** 中文 cafe\u0301 cartel \ufffd[31m end"  # no escape sequence reaches the terminal
    assert carets == "    " + " " * 6 + "^^^^" + " " + "^^^^" + " " + "^^^^^^"


def test_snippet_lines_without_matches_is_one_line() -> None:
    assert snippet_lines(Snippet("**x**")) == ["**x**"]


# -- storage and migration ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_stored_form_round_trips_and_reads_old_strings_as_text(dialect: object) -> None:
    column = SnippetsJSON()
    snippets = (Snippet("a **b** cartel", ((8, 14),)), Snippet("plain"))
    stored = column.process_bind_param(snippets, dialect)  # type: ignore[arg-type]
    assert stored == [{"text": "a **b** cartel", "marks": [[8, 14]]}, {"text": "plain", "marks": []}]
    assert column.process_result_value(stored, dialect) == snippets  # type: ignore[arg-type]
    # A string (never migrated) or marks that do not fit: shown as text, nothing highlighted.
    odd = ["the **cartel**", {"text": "ab", "marks": [[1, 9]]}, {"text": "ab", "marks": "x"}]
    assert column.process_result_value(odd, dialect) == (  # type: ignore[arg-type]
        Snippet("the **cartel**"), Snippet("ab"), Snippet("ab"))


@pytest.mark.parametrize(
    ("old", "text", "marks"),
    [
        ("the **cartel** said", "the cartel said", [[4, 10]]),
        ("**a****b** c", "ab c", [[0, 2]]),
        ("x ** y", "x ** y", []),
        ("**a** and ** b", "a and ** b", [[0, 1]]),
        ("", "", []),
    ],
)
def test_migration_reads_old_markers_best_effort(old: str, text: str, marks: list[list[int]]) -> None:
    module = migration()
    assert module.marked_to_snippet(old) == {"text": text, "marks": marks}  # type: ignore[attr-defined]
    if old.count("**") % 2 == 0 and "****" not in old:
        assert module.snippet_to_marked({"text": text, "marks": marks}) == old  # type: ignore[attr-defined]


def test_report_of_many_hits_shows_each_mark_once() -> None:
    article = ArticleText("", "Mexico and the United States signed a security agreement. **narcos**")
    (result,) = Matcher([WatchlistSpec("w", query='"united states" OR narco*')]).match(article)
    assert [starred(s) for s in result.snippets] == [
        "Mexico and the **United States** signed a security agreement. ****narcos****"
    ]
    assert matched(result.snippets[0]) == ["United States", "narcos"]
