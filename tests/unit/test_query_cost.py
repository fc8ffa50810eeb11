"""No query makes evaluation explode (issue 11, hardening).

`a NEAR/1 a NEAR/1 a …` over a run of `a`s took time exponential in the
number of terms (9 terms over 60 `a`s: 38 s) because every pair of
occurrences was a separate occurrence and nested NEARs multiplied them.
Costs here are CPU time, compared as ratios between two sizes of the same
case, never against the wall clock. A run is also stopped by a CPU-time
timer (ITIMER_PROF) once it has used a generous multiple of its baseline,
or HANG_GUARD seconds, so an exploding case fails instead of hanging the
test run. While such a timer is armed, Linux reports the process's CPU
time (`time.process_time`) in whole scheduler ticks (4 ms here), so the
runs are timed with `time.thread_time`: the matcher runs in this thread.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.matcher import ArticleText, Matcher, WatchlistSpec
from monitor.core.query import parse
from monitor.core.query.explain import explain
from tests.unit.reference_eval import RefArticle, reference_match

REPEATS = 5
HANG_GUARD = 30.0  # CPU seconds no run here comes near (before: hours)
RUNAWAY_FLOOR = 5.0  # CPU seconds: the least a runaway guard allows


class Runaway(Exception):
    """A run went on past its CPU-time allowance."""


@contextmanager
def cpu_allowance(seconds: float) -> Iterator[None]:
    """Raise Runaway in the body once the process has used `seconds` of CPU."""

    def stop(signum: int, frame: object) -> None:
        raise Runaway(f"still running after {seconds:.2f} CPU seconds")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def run_within(run: Callable[[], object], allowance: float = HANG_GUARD) -> float:
    """The CPU seconds one run of `run` takes; the test fails past `allowance`."""
    start = time.thread_time()
    failure = ""
    try:
        with cpu_allowance(allowance):
            run()
    except Runaway as exc:
        failure = str(exc)  # failed below, away from the interrupted frames
    if failure:
        pytest.fail(failure, pytrace=False)
    return time.thread_time() - start


def cpu_seconds(run: Callable[[], object], allowance: float = HANG_GUARD) -> float:
    """The least CPU time of up to REPEATS runs of `run` (fewer if they
    take over a second in all)."""
    times: list[float] = []
    while len(times) < REPEATS and sum(times) <= 1.0:
        times.append(run_within(run, allowance))
    return min(times)


def chain(term: str, count: int, op: str = "NEAR/1") -> str:
    return f" {op} ".join([term] * count)


def a_run(count: int) -> str:
    return " ".join(["a"] * count)


def matching(query: str, text: str) -> Callable[[], object]:
    matcher = Matcher([WatchlistSpec("w", query=query)])
    article = ArticleText("", text)

    def run() -> object:
        results = matcher.match(article)
        assert results, f"{query!r} should match"
        return results

    return run


def growth(small: Callable[[], object], large: Callable[[], object], limit: float) -> float:
    """CPU time of `large` over that of `small`; a `large` that runs away is
    stopped once the process has used 40 times `limit` times `small` (at
    least RUNAWAY_FLOOR seconds: the timer counts the whole process's CPU,
    other threads' included, so a tight guard fails on a busy machine)."""
    base = cpu_seconds(small)
    return cpu_seconds(large, min(HANG_GUARD, max(RUNAWAY_FLOOR, base * limit * 40))) / base


def test_near_chain_cost_grows_linearly_with_the_text() -> None:
    # 4 times the text: linear is 4 times the time, quadratic 16 (before:
    # quadratic in the text, and 38 s for the smaller case already).
    query = chain("a", 9)
    ratio = growth(matching(query, a_run(60)), matching(query, a_run(240)), 8)
    assert ratio < 8, f"240 a's cost {ratio:.1f} times 60 a's"


def test_near_chain_cost_grows_polynomially_with_the_terms() -> None:
    # Twice the terms: quadratic is 4 times the time (before: about 3.5
    # times per extra term, some 2,000 times in all).
    text = a_run(60)
    ratio = growth(matching(chain("a", 6), text), matching(chain("a", 12), text), 8)
    assert ratio < 8, f"12 terms cost {ratio:.1f} times 6 terms"


def _right_nested(term: str, count: int) -> str:
    return f"{term} NEAR/1 ({_right_nested(term, count - 1)})" if count > 1 else term


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda k: chain("a", k, "ONEAR/1"), id="ONEAR chain"),
        pytest.param(lambda k: chain("(a OR a* OR a)", k), id="OR under NEAR"),
        pytest.param(lambda k: chain("(a AND a*)", k), id="AND under NEAR"),
        pytest.param(lambda k: chain("a*", k, "NEAR/2"), id="prefixes"),
        pytest.param(lambda k: chain('"a a"', k), id="phrases"),
        pytest.param(lambda k: _right_nested("a", k), id="nested to the right"),
        pytest.param(lambda k: f"({chain('a', k // 2)}) NEAR/3 ({chain('a', k - k // 2, 'ONEAR/0')})",
                     id="NEAR of two chains"),
    ],
)
def test_other_nested_near_shapes_stay_polynomial(build: Callable[[int], str]) -> None:
    text = a_run(60)
    ratio = growth(matching(build(6), text), matching(build(12), text), 8)
    assert ratio < 8, f"12 terms cost {ratio:.1f} times 6 terms"


def test_a_near_with_very_many_pairs_is_bounded() -> None:
    # Every two of the words are within reach: 16 million pairs for 4,000
    # (quadratic before). The NEARs of a watchlist form at most
    # MAX_NEAR_PAIRS per article.
    query = "a NEAR/100000 a"
    ratio = growth(matching(query, a_run(1_000)), matching(query, a_run(4_000)), 8)
    assert ratio < 8, f"4,000 a's cost {ratio:.1f} times 1,000"


def test_a_watched_word_repeated_thousands_of_times_costs_linear_time() -> None:
    # No NEAR at all: choosing the snippets compared every hit with every
    # other (10,000 repeats of a keyword: 3 s), which any publisher can cause.
    def keyword_over(repeats: int) -> Callable[[], object]:
        matcher = Matcher([WatchlistSpec("w", ("mexico",))])
        article = ArticleText("", "Mexico, " * repeats)
        return lambda: matcher.match(article)

    ratio = growth(keyword_over(1_000), keyword_over(8_000), 16)
    assert ratio < 16, f"8,000 repeats cost {ratio:.1f} times 1,000 (linear: 8, quadratic: 64)"


def test_a_chain_matches_exactly_when_there_are_enough_words() -> None:
    # Each term of a chain needs a word of its own: 9 terms need 9 a's.
    query = chain("a", 9)
    matcher = Matcher([WatchlistSpec("w", query=query)])
    results: list[object] = []

    def run() -> None:
        results[:] = [
            matcher.match(ArticleText("", a_run(8))),
            matcher.match(ArticleText("", a_run(9))),
            matcher.match(ArticleText("", a_run(60) + ", b")),
            explain(query, ArticleText("", a_run(60))).matched,
            explain(query, ArticleText("", a_run(8))).matched,
        ]

    run_within(run)
    eight, nine, sixty, explained_sixty, explained_eight = results
    assert eight == [] and not explained_eight
    assert isinstance(nine, list) and len(nine[0].spans) == 9
    # Every a is in some chain of 9: all are highlighted, and nothing else.
    assert isinstance(sixty, list) and explained_sixty
    assert {(s.start, s.end) for s in sixty[0].spans} == {(i * 2, i * 2 + 1) for i in range(60)}


def test_a_long_chain_over_many_repeats_still_matches() -> None:
    # Far past MAX_NEAR_PAIRS; each NEAR still finds a pair where one exists.
    matcher = Matcher([WatchlistSpec("w", query=chain("a", 40))])
    results: list[object] = []
    run_within(lambda: results.extend([matcher.match(ArticleText("", a_run(n))) for n in (5_000, 39)]))
    assert results[0] and not results[1]


def test_explaining_a_near_reports_the_closest_pair() -> None:
    result = explain("a NEAR/1 b", ArticleText("", "a x y b z z z z a"))
    assert not result.matched
    assert result.lines[0] == "✗ NEAR/1 failed: closest pair 2 words apart"
    result = explain("(a NEAR/0 b) NEAR/3 c", ArticleText("", "c q a b w c"))
    assert result.matched
    assert result.lines[0] == "✓ NEAR/3 — closest pair 1 words apart"


# Texts of few words: NEAR sides of a few spans to many (words counted just
# between the spans, or over the whole field; pairs tried one by one or
# found by bisection), checked against the reference.
FEW_WORDS = ["a", "b", "a", "c", "a", "a-b", "b, c"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    (st.lists(st.sampled_from(FEW_WORDS), min_size=10, max_size=40)
     | st.lists(st.sampled_from(FEW_WORDS), min_size=60, max_size=140)).map(" ".join),
    st.recursive(
        st.sampled_from(["a", "b", "c", "a*", '"a b"', "(a OR c)"]),
        lambda sub: st.tuples(sub, st.sampled_from(["NEAR", "ONEAR"]), st.integers(0, 3), sub).map(
            lambda t: f"({t[0]} {t[1]}/{t[2]} {t[3]})"
        ),
        max_leaves=4,
    ),
)
def test_repetitive_texts_agree_with_the_reference(text: str, query: str) -> None:
    node = parse(query)
    results = Matcher([WatchlistSpec("w", query=query)]).match(ArticleText("", text))
    got = (bool(results), {(s.field, s.start, s.end) for s in results[0].spans} if results else set(),
           set(results[0].terms) if results else set())
    assert got == reference_match(node, RefArticle("", text))
