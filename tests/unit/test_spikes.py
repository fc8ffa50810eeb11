"""Spike detection, pure (monitor.core.spikes), and how a spike alert reads
(monitor.notify.spikes): the tail probability against an exact sum, the
baseline's properties (monotone in counts, no alert below min_stories), the
one-alert-per-surge state machine, and escaping of feed text per medium."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.spikes import (
    Observation,
    SpikeJob,
    SpikeRule,
    SurgeState,
    baseline,
    epoch_hour,
    hour_start,
    poisson_tail_log10,
    slots,
    step,
    tail_log10,
)
from monitor.notify.render import Medium
from monitor.notify.spikes import render_spike, usual_text

RULE = SpikeRule(window=3, min_stories=5, sensitivity=4.0, growth=2.0)
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def exact_tail(k: int, mu: float) -> float:
    """P(X ≥ k) summed term by term upwards (no cancellation), exact enough in floats."""
    return math.fsum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1)) for i in range(k, k + 400))


def test_poisson_tail_matches_the_exact_sum() -> None:
    for mu in (0.01, 0.25, 1.0, 3.7, 12.0):
        for k in range(0, 40):
            got = 10 ** poisson_tail_log10([k], [mu])[0]
            want = exact_tail(k, mu) if k > mu else 1.0
            if want > 1e-300:
                assert math.isclose(got, want, rel_tol=1e-6), (k, mu, got, want)


def exact_nb_tail(k: int, mu: float, r: float) -> float:
    p = r / (r + mu)
    return math.fsum(
        math.exp(math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1) + r * math.log(p) + i * math.log(1 - p))
        for i in range(k, k + 3000)
    )


def test_negative_binomial_tail_matches_the_exact_sum_and_tends_to_poisson() -> None:
    for mu in (0.05, 0.3, 2.0, 12.0, 60.0):
        for k in (1, 3, 5, 8, 14, 30, 80, 150):
            got = 10 ** tail_log10([k], [mu], shape=4.0)[0]
            want = exact_nb_tail(k, mu, 4.0) if k > mu else 1.0
            if want > 1e-300:
                assert math.isclose(got, want, rel_tol=1e-3) or (got >= want and got < want * 1.05), (k, mu, got, want)
    assert math.isclose(tail_log10([5], [0.25], shape=1e9)[0], poisson_tail_log10([5], [0.25])[0], rel_tol=1e-6)
    # Busy series: a doubling is ordinary news variation, a sparse series' 14 stories are not.
    assert -tail_log10([24], [12.0])[0] < 2 and -tail_log10([14], [0.25])[0] > 12


def test_tail_stays_finite_far_out() -> None:
    (score,) = -poisson_tail_log10([500], [0.1])
    assert 500 < score < 2000


def test_slots_know_weekends_and_hours() -> None:
    hours = np.array([epoch_hour(MONDAY + timedelta(hours=h)) for h in (0, 7, 24 * 5 + 7, 24 * 6 + 23)])
    assert list(slots(hours)) == [0, 7, 31, 47]


def test_flat_history_expects_its_rate_and_a_floor_for_an_empty_one() -> None:
    first = epoch_hour(MONDAY)
    flat = baseline(np.full((1, 28 * 24), 0.5), first, 3)
    assert math.isclose(flat.expected[0], 1.5, rel_tol=1e-9)
    assert math.isclose(flat.per_day[0], 12.0)
    empty = baseline(np.zeros((1, 28 * 24)), first, 3)
    assert math.isclose(empty.expected[0], 0.5 / 24 * 3)
    assert empty.per_day[0] == 0.0


def test_the_seasonal_profile_expects_busy_mornings() -> None:
    first = epoch_hour(MONDAY)
    hours = np.arange(first, first + 28 * 24)
    mornings = ((hours % 24 >= 7) & (hours % 24 < 10)).astype(float) * 6.0
    # Judge the window 07:00-10:00 of the 29th day, and 01:00-04:00.
    morning = baseline(mornings[None, : 28 * 24 + 7 - 24][:, :], first, 3)
    assert morning.expected[0] > 12
    night = baseline(mornings[None, : 28 * 24 + 1 - 24], first, 3)
    assert night.expected[0] < morning.expected[0] / 2


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=30, max_size=120),
    st.integers(0, 119),
    st.integers(1, 5),
    st.integers(1, 6),
    st.integers(0, 29),
)
def test_baseline_is_monotone_in_counts(counts: list[int], at: int, more: int, window: int, start: int) -> None:
    first = epoch_hour(MONDAY) + 5
    history = np.array([counts], dtype=float)
    raised = history.copy()
    raised[0, at % len(counts)] += more
    for begin in (None, [start]):
        low = baseline(history, first, window, start=begin).expected[0]
        high = baseline(raised, first, window, start=begin).expected[0]
        assert high >= low - 1e-12


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 30), st.floats(0.001, 20.0), st.integers(1, 10), st.floats(1.0, 12.0))
def test_never_an_alert_below_min_stories(stories: int, expected: float, min_stories: int, sensitivity: float) -> None:
    rule = SpikeRule(3, min_stories, sensitivity, 2.0)
    score = float(-tail_log10([stories], [expected])[0])
    seen = Observation(MONDAY, MONDAY, stories, expected, 1.0, score, stories)
    state, event = step(None, seen, rule)
    if stories < min_stories:
        assert state is None and event is None
    if event is not None:
        assert stories >= min_stories and score >= sensitivity


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.floats(0.01, 10.0))
def test_score_is_monotone_in_the_count(a: int, b: int, expected: float) -> None:
    low, high = sorted((a, b))
    scores = -tail_log10([low, high], [expected, expected])
    assert scores[1] >= scores[0]


def _seen(now: datetime, stories: int, surge: int, expected: float = 0.25) -> Observation:
    score = float(-tail_log10([stories], [expected])[0])
    return Observation(now, now - timedelta(hours=2), stories, expected, 2.0, score, surge)


def test_one_alert_per_surge_a_follow_up_at_the_growth_factor_and_an_end() -> None:
    t = MONDAY + timedelta(hours=9)
    state, event = step(None, _seen(t, 14, 14), RULE)
    assert event is not None and event.level == 0 and event.stories == 14 and state is not None
    # Still surging: the baseline that learns from it would rise, the frozen one does not.
    for h, (window, total) in enumerate([(15, 20), (12, 27)], 1):
        state, event = step(state, _seen(t + timedelta(hours=h), window, total, expected=5.0), RULE)
        assert event is None and state is not None
    state, event = step(state, _seen(t + timedelta(hours=3), 10, 28), RULE)
    assert event is not None and event.level == 1 and event.stories == 28 and event.start == state.start
    state, event = step(state, _seen(t + timedelta(hours=4), 2, 29), RULE)  # back to normal: 2 vs 0.25
    assert state is None and event is None


def test_a_restart_mid_surge_keeps_its_state() -> None:
    t = MONDAY + timedelta(hours=9)
    state, _ = step(None, _seen(t, 8, 8), RULE)
    assert state is not None
    copy = SurgeState(state.start, state.expected, state.per_day, state.stories, state.level, state.alerted_at)
    assert step(copy, _seen(t + timedelta(hours=1), 9, 9), RULE) == (copy, None)


def test_rhythm_only_poisson_noise_rarely_alerts() -> None:
    """Eight weeks of a strong daily rhythm with Poisson noise, judged every hour of the last four."""
    rng = np.random.default_rng(16)
    first = epoch_hour(MONDAY)
    hours = np.arange(first, first + 56 * 24)
    hod, weekend = hours % 24, ((hours // 24 + 3) % 7) >= 5
    rate = np.where((hod >= 7) & (hod < 12), 4.0, np.where((hod >= 12) & (hod < 20), 1.0, 0.05))
    rate = rate * np.where(weekend, 0.4, 1.0)
    counts = rng.poisson(rate).astype(float)
    alerts = 0
    state = None
    for tick in range(28 * 24, 56 * 24):
        history = counts[None, max(0, tick - 2 - 28 * 24) : tick - 2]
        b = baseline(history, first + max(0, tick - 2 - 28 * 24), 3)
        window = int(counts[tick - 2 : tick + 1].sum())
        score = float(-tail_log10([window], b.expected)[0])
        now = hour_start(first + tick)
        seen = Observation(now, hour_start(first + tick - 2), window, float(b.expected[0]), 1.0, score, window)
        state, event = step(state, seen, RULE)
        alerts += event is not None
    assert alerts <= 1


def _job(title: str, feed: str, link: str = "https://example.org/a", level: int = 0) -> SpikeJob:
    return SpikeJob(
        id=1, channel="desk", attempts=1, kind="watchlist", series="cartels", level=level,
        surge_start=MONDAY + timedelta(hours=7), window_start=MONDAY + timedelta(hours=7),
        window_end=MONDAY + timedelta(hours=9, minutes=40), stories=14, outlets=11, per_day=2.0,
        detail={"top_stories": [[title, link, 3]], "top_outlets": [[feed, 4]], "link": "https://desk.example/w",
                "window_hours": 3},
    )


def test_the_message_reads_as_the_issue_says() -> None:
    message = render_spike(_job("Arrests in Jalisco", "Diario"), Medium.TEXT)
    assert message.title == "[cartels] Spike: 14 stories from 11 outlets in 3 h (usual: 2 a day)"
    assert "Arrests in Jalisco (3 outlets)" in message.body and "Diario (4)" in message.body
    assert "https://desk.example/w" in message.body
    follow = render_spike(_job("x", "y", level=1), Medium.TEXT)
    assert follow.title == "[cartels] Spike grows: 14 stories from 11 outlets since 07:00 (usual: 2 a day)"


def test_feed_text_is_escaped_for_each_medium() -> None:
    job = _job("<script>alert(1)</script> @everyone <!channel> [x](https://evil.example)", "<b>Feed</b> @here",
               link="javascript:alert(1)")
    html = render_spike(job, Medium.EMAIL).body
    assert "<script>" not in html and "&lt;script&gt;" in html and "javascript:" not in html
    for medium in (Medium.SLACK, Medium.MARKDOWN, Medium.CHAT):
        body = render_spike(job, medium).body
        assert "<!channel>" not in body and "@everyone" not in body and "@here" not in body
        assert "](https://evil.example)" not in body and "javascript:" not in body


def test_usual_reads_per_day_or_week() -> None:
    assert [usual_text(x) for x in (2.2, 1.0, 0.3, 0.05)] == ["2 a day", "1 a day", "2 a week", "under 1 a week"]


def test_spike_threshold_is_the_smallest_spike_count() -> None:
    from monitor.web.spikechart import spike_threshold

    for mu in (0.05, 0.3, 2.0, 9.0):
        (k,) = spike_threshold([mu], 5, 4.0)
        assert k >= 5 and -tail_log10([k], [mu])[0] >= 4.0
        assert k == 5 or -tail_log10([k - 1], [mu])[0] < 4.0
