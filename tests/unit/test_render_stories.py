"""Stories in messages: sources in alerts and digests, the escalation follow-up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.models import HitRecord, Source
from monitor.notify.render import Medium, render_alert, render_digest

T = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def hit(outlets: int) -> HitRecord:
    names = ["Wire", "Capital Post", "Latam <Daily>", "Borderwire", "News Hub", "Radio 6", "Radio 7", "Radio 8"]
    sources = tuple(
        Source(names[i], "t", f"https://o{i}.example/a", f"o{i}.example", T) for i in range(outlets)
    )
    return HitRecord(
        id=1, watchlist="security", title="U.S. and Mexico sign security framework", link="https://o0.example/a",
        feed="Wire", terms=("security",), snippet="…", score=1.0, published=T, found_at=T, story_id=7,
        sources=sources,
    )


@pytest.mark.parametrize("medium", list(Medium))
def test_an_alert_names_the_other_outlets_escaped_for_its_medium(medium: Medium) -> None:
    message = render_alert(hit(3), medium)
    assert "Also reported by" in message.body
    assert "Capital Post" in message.body
    if medium is Medium.EMAIL:
        assert "Latam &lt;Daily&gt;" in message.body and "<Daily>" not in message.body
    assert "Now reported by" not in message.title


def test_an_alert_without_copies_says_nothing_about_sources() -> None:
    assert "reported by" not in render_alert(hit(1), Medium.TEXT).body.lower()


def test_many_outlets_are_cut_to_five_and_counted() -> None:
    body = render_alert(hit(8), Medium.TEXT).body
    assert "Also reported by: Capital Post, Latam <Daily>, Borderwire, News Hub, Radio 6 and 2 more" in body


def test_the_escalation_says_how_many_outlets_now_report_it() -> None:
    message = render_alert(hit(6), Medium.SLACK, escalation=True)
    assert message.title.startswith("[security] Now reported by 6 outlets: U.S. and Mexico")
    assert "Now reported by 6 outlets" in message.body


@pytest.mark.parametrize("medium", [Medium.TEXT, Medium.EMAIL, Medium.MARKDOWN])
def test_a_digest_shows_one_story_with_its_sources(medium: Medium) -> None:
    body = render_digest("desk", [hit(4)], T, T, medium).body
    assert body.count("U.S. and Mexico sign security framework") == 1
    assert "lso reported by" in body and "Borderwire" in body
