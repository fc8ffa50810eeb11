"""Regular expressions cannot stall the daemon (issue 11.1).

`/regex/` terms run on RE2 (linear time, off the interpreter lock) with
Python's meaning; what RE2 cannot run comes only from a trusted author and
runs on the fallback engine, off the lock and stopped after a timeout; text
is capped. Timing is compared in CPU time or observed with bounded events,
never asserted against the wall clock.
"""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.query import QueryError, fallback_patterns, parse
from monitor.core.query import patterns as patterns_module
from monitor.core.query.ast import Regex
from monitor.core.query.patterns import MAX_TEXT_CHARS, FallbackPattern, Re2Pattern, compile_pattern
from monitor.core.query.re2syntax import Unsupported

# Exponential for backtracking engines, the `regex` module included.
HOSTILE_FALLBACK = r"/(\w+)\1(a|a)+$/"
HOSTILE_TITLE = "a" * 30 + "b"


def regex_of(query: str, **kwargs: bool) -> Regex:
    node = parse(query, **kwargs)
    assert isinstance(node, Regex)
    return node


def cpu_seconds(matcher: Matcher, article: ArticleText, repeat: int) -> float:
    start = time.thread_time()
    for _ in range(repeat):
        matcher.match(article)
    return time.thread_time() - start


# --- linear time ------------------------------------------------------------------------


def test_nested_quantifier_runs_in_linear_time() -> None:
    # On Python's re, 24 "a"s and a "b" took seconds and every extra "a" doubled it.
    matcher = Matcher([WatchlistSpec("w", query="/(a+)+$/")])
    assert regex_of("/(a+)+$/").pattern.engine == "re2"
    short = ArticleText("a" * 24 + "b", "")
    long = ArticleText("a" * 48 + "b", "")
    assert matcher.match(short) == [] and matcher.match(long) == []
    t24 = cpu_seconds(matcher, short, 200)
    t48 = cpu_seconds(matcher, long, 200)
    # Exponential would be 2**24 times slower; linear is about the same for so few characters.
    assert t48 < 3 * t24 + 0.05
    # And over long texts, twice the text costs about twice the time.
    t_50k = cpu_seconds(matcher, ArticleText("a" * 50_000 + "b", ""), 5)
    t_100k = cpu_seconds(matcher, ArticleText("a" * 100_000 + "b", ""), 5)
    assert t_100k < 4 * t_50k + 0.05


def test_the_try_it_probe_is_linear_too() -> None:
    matcher = Matcher([WatchlistSpec("w", query="/(.|.){1,16}QQZZ/")], regex_fallback=False)
    short = cpu_seconds(matcher, ArticleText("", "x" * 10_000), 5)
    long = cpu_seconds(matcher, ArticleText("", "x" * 20_000), 5)
    assert long < 4 * short + 0.05
    assert matcher.match(ArticleText("", "x" * 100 + "qqzz"))


# --- the same meaning as Python's re ------------------------------------------------------


def test_case_insensitive_by_default_and_case_sensitive_with_flag() -> None:
    assert regex_of(r"/secur\w+ agree/").pattern.spans("The SECURITY AGREEMENT") == [(4, 18)]
    us = regex_of(r"/(?-i)US\b/").pattern
    assert us.engine == "re2"
    assert us.spans("us troops, US troops, USA") == [(11, 13)]
    # Python's case rules, not RE2's: "İ" lowers to "i", "K" (Kelvin) to "k".
    assert regex_of("/istanbul/").pattern.spans("İSTANBUL") == [(0, 8)]
    assert regex_of("/kelvin/").pattern.spans("\u212aelvin") == [(0, 6)]


def test_offsets_are_characters_of_the_original_text() -> None:
    pattern = regex_of(r"/\bCJNG-?\d+\b/").pattern
    text = "Según México: el CJNG-12 y «CJNG 7» — cjng3 sí"
    assert pattern.spans(text) == [m.span() for m in re.finditer(r"\bCJNG-?\d+\b", text, re.I)]
    assert [text[s:e] for s, e in pattern.spans(text)] == ["CJNG-12", "cjng3"]
    matcher = Matcher([WatchlistSpec("w", query=r"/m[eé]xico\b/")])
    (result,) = matcher.match(ArticleText("¿Qué pasa en México?", "Niño, méxico"))
    assert [(s.field, s.start, s.end) for s in result.spans] == [("title", 13, 19), ("text", 6, 12)]


def test_word_boundaries_and_classes_are_unicode_like_python() -> None:
    # RE2's own \b, \w, \d and \s are ASCII-only.
    alvaro = regex_of(r"/\bÁlvaro\b/").pattern
    assert alvaro.engine == "re2"
    assert alvaro.spans("Dijo Álvaro.") == [(5, 11)] and alvaro.spans("XÁlvaro") == []
    assert regex_of(r"/\bмосква\b/").pattern.spans("В Москве, Москва!") == [(10, 16)]
    assert regex_of(r"/\w+/").pattern.spans("año_2024 ٣") == [(0, 8), (9, 10)]
    assert regex_of(r"/\d+/").pattern.spans("٣٤ 12") == [(0, 2), (3, 5)]
    assert regex_of(r"/foo\s+bar/").pattern.spans("foo\u3000bar") == [(0, 7)]


ATOMS = ["a", "b", "é", "É", "ж", "_", "1", "٣", " ", "-", ".", r"\w", r"\W", r"\d", r"\D", r"\s", r"\S",
         "[a-cé]", "[^ab]", r"[\w-]", r"[^\W\d_]", r"\.", "ß", "K", "İ", "ſ", "(?-i:a)", "(?m:^)", "(?s:.)"]
ASSERTIONS = [r"\b", r"\B", "^", "$", r"\A", r"\Z"]
QUANTIFIERS = ["", "", "", "*", "+", "?", "{1,2}", "*?", "+?"]
CHARS = "abéÉжЖ_1٣ -.\nxßKİiſs"


@st.composite
def python_patterns(draw: st.DrawFn, depth: int = 0) -> str:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(draw(st.sampled_from(ASSERTIONS)))
            continue
        if kind == 1 and depth < 2:
            out.append("(" + "|".join(draw(st.lists(python_patterns(depth + 1), min_size=1, max_size=3))) + ")")
        else:
            out.append(draw(st.sampled_from(ATOMS)))
        out[-1] += draw(st.sampled_from(QUANTIFIERS))
    return "".join(out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(python_patterns(), st.booleans(), st.lists(st.text(CHARS, max_size=14), min_size=1, max_size=4))
def test_re2_finds_what_python_re_finds(source: str, ignorecase: bool, texts: list[str]) -> None:
    try:
        pattern = Re2Pattern(source, ignorecase)
    except (Unsupported, re.error):
        assume(False)
        return
    flags = re.IGNORECASE if ignorecase else re.NOFLAG
    for text in texts:
        expected = [m.span() for m in re.finditer(source, text, flags) if m.end() > m.start()]
        assert pattern.spans(text) == expected, (source, text)


def test_what_re2_lacks_is_named() -> None:
    cases = {
        r"(\w+) \1": "backreference",
        r"cartel(?= de)": "look-ahead",
        r"(?<!narco)cartel": "negative look-behind",
        r"a++": "possessive",
        r"(?>a|ab)c": "atomic group",
        r"(a)?(?(1)b|c)": "conditional",
        r"a{2000}": "more than 1000 times",
        r"(a*)+b": "can match empty text",
        r"x\b.": r"\b",
    }
    for source, reason in cases.items():
        with pytest.raises(Unsupported) as caught:
            Re2Pattern(source, True)
        assert reason in caught.value.reason, source
        fallback = compile_pattern(source, True)
        assert isinstance(fallback, FallbackPattern) and reason in (fallback.fallback_reason or "")


# --- the fallback: trusted authors only, bounded ---------------------------------------


def test_untrusted_queries_must_be_re2() -> None:
    with pytest.raises(QueryError) as caught:
        parse(r"cartel /(\w+) \1/", regex_fallback=False)
    assert caught.value.column == 8
    assert "uses a backreference" in caught.value.message and "RE2" in caught.value.message
    with pytest.raises(QueryError):
        Matcher([WatchlistSpec("try", query=r"/a(?=b)/")], regex_fallback=False)
    assert regex_of(r"/(\w+) \1/").pattern.engine == "fallback"  # trusted: allowed
    assert regex_of(r"/(\w+) \1/").pattern.spans("the the end") == [(0, 7)]


def test_fallback_patterns_are_listed() -> None:
    found = fallback_patterns(r"cartel /(\w+) \1/ OR /\bCJNG\b/ OR /x(?=y)/")
    assert [(p.label, p.fallback_reason) for p in found] == [
        (r"/(\w+) \1/", "uses a backreference (\\1 or (?P=name))"),
        ("/x(?=y)/", "uses a look-ahead (?=…)"),
    ]


def test_fallback_timeout_skips_only_that_watchlist(caplog: pytest.LogCaptureFixture) -> None:
    matcher = Matcher([
        WatchlistSpec("hostile", query=HOSTILE_FALLBACK),
        WatchlistSpec("cartels", keywords=("cartel",)),
        WatchlistSpec("titles", query="/aaa+b/"),
    ])
    with caplog.at_level(logging.WARNING, logger="monitor.core.matcher"):
        results = matcher.match(ArticleText(HOSTILE_TITLE, "a cartel story"))
    assert [r.watchlist for r in results] == ["cartels", "titles"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'hostile'" in warnings[0] and HOSTILE_FALLBACK in warnings[0] and "ran out of time" in warnings[0]
    assert matcher.timeouts == {("hostile", HOSTILE_FALLBACK): 1}
    # A fallback pattern that finishes in time matches as usual.
    assert [r.watchlist for r in matcher.match(ArticleText("xyxyaa", "cartel"))] == ["hostile", "cartels"]


def test_a_hostile_fallback_pattern_does_not_stall_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Long enough that the other thread's work is done well before it ends.
    monkeypatch.setattr(patterns_module, "FALLBACK_TIMEOUT", 2.0)
    matcher = Matcher([WatchlistSpec("hostile", query=HOSTILE_FALLBACK)])
    article = ArticleText("a" * 40 + "b", "")
    started, finished = threading.Event(), threading.Event()
    results: list[object] = []

    def hostile() -> None:
        started.set()
        results.append(matcher.match(article))
        finished.set()

    thread = threading.Thread(target=hostile, daemon=True)
    thread.start()
    assert started.wait(10)
    # Plain Python work in this thread while the pattern runs: with a pattern
    # holding the interpreter lock, none of it could happen until it ended.
    done = 0
    while done < 200_000 and not finished.is_set():
        sum(range(20))
        done += 1
    assert done == 200_000 and not finished.is_set()
    assert finished.wait(30)
    thread.join()
    assert results == [[]]  # it ran out of time: no match
    assert matcher.timeouts[("hostile", HOSTILE_FALLBACK)] == 1


# --- text is capped --------------------------------------------------------------------


def test_a_regex_sees_only_the_first_characters_of_a_field() -> None:
    text = "a" * (MAX_TEXT_CHARS + 50) + "b"
    assert regex_of("/b/").pattern.spans(text) == []
    assert regex_of("/a$/").pattern.spans(text) == []  # the cut is not the end of the text
    assert regex_of("/a+/").pattern.spans(text) == [(0, MAX_TEXT_CHARS)]
    assert regex_of(r"/(\w)\1b/").pattern.spans(text) == []  # the fallback engine too
    assert regex_of(r"/(\w)\1/").pattern.spans("x" * 10) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
