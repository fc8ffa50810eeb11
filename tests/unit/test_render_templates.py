"""Shipped and user templates: alerts, digests and summaries for every medium."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.models import HitRecord
from monitor.notify.render import (
    Limits,
    Medium,
    check_template,
    render_alert,
    render_digest,
    render_summary,
)
from tests.snippets import marked

T0 = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # 13:00 in Mexico City
START = T0 - timedelta(hours=6)
FORMATS = {Medium.EMAIL: "html", Medium.SLACK: "markdown", Medium.MARKDOWN: "markdown", Medium.CHAT: "text",
           Medium.TEXT: "text"}


def hit(n: int, watchlist: str = "cartels", minutes_ago: int = 0, score: float = 1.0, **changes: object) -> HitRecord:
    data: dict[str, object] = dict(
        id=n,
        watchlist=watchlist,
        title=f"Story {n} about {watchlist}",
        link=f"https://news.example.test/{watchlist}/{n}",
        feed="Example Feed",
        terms=(watchlist.rstrip("s"),),
        snippet=f"snippet {n}",
        score=score,
        published=T0 - timedelta(minutes=minutes_ago),
        found_at=T0 - timedelta(minutes=minutes_ago) + timedelta(minutes=1),
        snippets=(marked(f"the **{watchlist}** story {n}"),),
    )
    data.update(changes)
    return HitRecord(**data)  # type: ignore[arg-type]


def twelve_hits() -> list[HitRecord]:
    cartels = [hit(i, "cartels", minutes_ago=30 * i) for i in range(1, 10)]
    security = [hit(20 + i, "security", minutes_ago=25 * i) for i in range(1, 4)]
    return [*cartels[::2], *security, *cartels[1::2]]  # arrival order is not display order


# -- shipped templates ------------------------------------------------------------------------


@pytest.mark.parametrize("medium", list(Medium))
def test_every_kind_renders_for_every_medium(medium: Medium) -> None:
    hits = twelve_hits()
    messages = [
        render_alert(hits[0], medium),
        render_digest("desk", hits, START, T0, medium),
        render_summary("desk", hits, T0 - timedelta(hours=1), T0, medium),
    ]
    for message in messages:
        assert message.body.strip() and message.title
        assert message.body_format == FORMATS[medium]
        assert "\n" not in message.title and "\r" not in message.title
        assert "None" not in message.body and "Undefined" not in message.body


def test_alert_shows_time_in_utc_and_in_the_display_zone() -> None:
    body = render_alert(hit(1), Medium.TEXT, tz="America/Mexico_City").body
    assert "2026-11-27 13:00 CST (19:00 UTC)" in body
    assert "2026-11-27 19:00 UTC" in render_alert(hit(1), Medium.TEXT).body


def test_digest_header_title_and_grouping() -> None:
    message = render_digest("desk", twelve_hits(), START, T0, Medium.TEXT, tz="America/Mexico_City")
    assert message.title == "monitor digest: 12 hits (cartels 9, security 3)"
    assert "12 hits, 07:00–13:00 America/Mexico_City" in message.body
    cartels, security = message.body.split("== security (3) ==")
    assert "== cartels (9) ==" in cartels
    order = [int(n) for n in re.findall(r"- Story (\d+)", cartels)]
    assert order == list(range(1, 10))  # newest first
    assert [int(n) for n in re.findall(r"- Story (\d+)", security)] == [21, 22, 23]


def test_digest_email_lists_each_hit_linked() -> None:
    body = render_digest("desk", twelve_hits(), START, T0, Medium.EMAIL).body
    for n in (*range(1, 10), 21, 22, 23):
        watchlist = "security" if n > 20 else "cartels"
        assert f'<a href="https://news.example.test/{watchlist}/{n}">Story {n} about {watchlist}</a>' in body


@pytest.mark.parametrize("medium", list(Medium))
def test_digest_over_the_limit_drops_hits_and_says_how_many(medium: Medium) -> None:
    hits = [hit(i, "cartels" if i % 3 else "security", minutes_ago=i, title=f"Story {i} " + "é" * 80) for i in range(1, 61)]
    limit = 6000 if medium is Medium.EMAIL else 2000
    message = render_digest("desk", hits, START, T0, medium, limits=Limits(150, limit))
    assert len(message.body) <= limit
    left_out = sum(int(n) for n in re.findall(r"and (\d+) more", message.body))
    shown = len(set(re.findall(r"Story (\d+) ", message.body)))
    assert left_out > 0 and shown + left_out == 60
    assert message.title.startswith("monitor digest: 60 hits (cartels 40, security 20)")


def test_summary_counts_per_watchlist_and_lists_the_top_five_by_score() -> None:
    hits = [hit(i, "cartels", minutes_ago=i, score=float(i % 11)) for i in range(1, 38)]
    hits += [hit(100 + i, "security", minutes_ago=i, score=0.5) for i in range(1, 3)]
    message = render_summary("desk", hits, T0 - timedelta(hours=1), T0, Medium.SLACK)
    assert message.title == "monitor: 39 more hits in the last hour (cartels 37, security 2)"
    assert "**37 more hits for cartels** in the last hour" in message.body
    assert "**2 more hits for security** in the last hour" in message.body
    cartels = message.body.split("security")[0]
    linked = re.findall(r"\[Story (\d+) about cartels\]", cartels)
    assert len(linked) == 5 and {int(n) % 11 for n in linked} == {10, 9}


def test_summary_of_one_watchlist_names_it_in_the_title() -> None:
    hits = [hit(i, "cartels", minutes_ago=i) for i in range(1, 4)]
    message = render_summary("desk", hits, T0 - timedelta(hours=1), T0, Medium.TEXT)
    assert message.title == "[cartels] 3 more hits in the last hour"
    assert message.body.startswith("3 more hits for cartels in the last hour")


# -- user templates -------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_user_html_template_is_autoescaped(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.html.j2", "<p>{{ kind }}: {{ link(hit.link, hit.title) }} {{ hit.feed }}</p>")
    evil = hit(1, title="<script>x</script>", feed="<b>f</b>", link="javascript:alert(1)")
    message = render_alert(evil, Medium.EMAIL, template=path)
    assert message.body == "<p>alert: &lt;script&gt;x&lt;/script&gt; &lt;b&gt;f&lt;/b&gt;</p>"
    assert message.body_format == "html"


def test_user_markdown_template_fields_are_already_safe(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.md.j2", "{{ hit.title }} | {{ hit.title|md }} | {{ hit.feed|slack }}")
    message = render_alert(hit(1, title="@everyone <@1> http://evil.example"), Medium.MARKDOWN, template=path)
    assert not re.search("@(?!\u200b)", message.body)  # every @ is followed by a zero-width space
    assert "<" not in message.body and "http://evil" not in message.body and "evil.example" not in message.body
    assert message.body_format == "markdown"


def test_user_template_serves_every_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "all.txt.j2",
        "{% if kind == 'alert' %}ALERT {{ hit.title }}{% else %}{{ kind|upper }} {{ total }} {{ window }}"
        "{% for g in groups %} {{ g.watchlist }}={{ g.count }}{% endfor %}{% endif %}",
    )
    hits = twelve_hits()
    assert render_alert(hits[0], Medium.TEXT, template=path).body == "ALERT Story 1 about cartels"
    digest = render_digest("desk", hits, START, T0, Medium.TEXT, template=str(path))
    assert digest.body == "DIGEST 12 13:00–19:00 UTC cartels=9 security=3"


def test_broken_user_template_falls_back_to_the_shipped_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "bad.txt.j2", "{{ hit.tittle }}")
    with caplog.at_level(logging.WARNING):
        message = render_alert(hit(1), Medium.TEXT, template=path)
    assert message.body.startswith("Story 1 about cartels\nhttps://news.example.test/cartels/1")
    assert "tittle" in caplog.text


def test_check_template_reports_syntax_errors_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.html.j2", "<p>\n{{ hit.title }}\n{{ hit.link }\n</p>\n")
    assert check_template(path) == ["line 3: unexpected '}'"]


def test_check_template_reports_an_undefined_attribute_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.md.j2", "{% if kind == 'alert' %}\n**{{ hit.watchlist }}**\n{{ hit.tittle }}\n{% endif %}\n")
    assert check_template(path) == ["line 3: 'hit' has no attribute 'tittle' (in an alert)"]


def test_check_template_reports_an_undefined_name_in_every_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt.j2", "{{ kind }}\n{{ titel }}\n")
    assert check_template(path) == ["line 2: 'titel' is undefined"]


def test_check_template_sandbox_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "evil.txt.j2", "{{ hit.__class__.__init__.__globals__ }}")
    (problem,) = check_template(path)
    assert problem.startswith("line 1: ") and "unsafe" in problem
    assert check_template(tmp_path / "nope.j2") == [f"file not found: {tmp_path / 'nope.j2'}"]


def test_check_template_accepts_the_shipped_templates() -> None:
    folder = Path(__file__).parents[2] / "monitor" / "notify" / "templates"
    # spike.*.j2 are for spike alerts only (tests/unit/test_spikes.py renders them).
    names = sorted(p.name for p in folder.glob("*.j2") if not p.name.startswith("spike."))
    assert len(names) == 9
    for name in names:
        # Shipped templates are per kind; a user template serves all kinds, so
        # only the kind each file is for must render.
        problems = check_template(folder / name)
        kinds = [re.search(r"\(in (a|an) (\w+)( and a \w+)?\)$", p) for p in problems]
        assert all(k and name.split(".")[0] not in k.group(0) for k in kinds), (name, problems)


def test_a_template_for_alerts_only_leaves_digests_to_the_shipped_one(tmp_path: Path) -> None:
    path = write(tmp_path, "alerts.txt.j2", "{% if kind == 'alert' %}ALERT {{ hit.title }}{% endif %}")
    assert check_template(path) == []
    digest = render_digest("desk", twelve_hits(), START, T0, Medium.TEXT, template=path)
    assert digest.body.startswith("monitor digest for desk: 12 hits")
    assert check_template(write(tmp_path, "empty.txt.j2", "{# nothing #}")) == ["renders an empty message"]


def test_check_template_never_raises_on_undecodable_files(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt.j2"
    path.write_bytes(b"\xff\xfe\x00bad")
    problems = check_template(path)
    assert len(problems) == 1 and problems[0]
