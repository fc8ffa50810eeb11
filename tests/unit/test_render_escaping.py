"""Untrusted feed text per medium: no HTML, no pings, no foreign links; cuts
never split a character."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.models import HitRecord
from monitor.notify.render import Limits, Medium, medium_for, render_alert, render_console, truncate
from monitor.notify.templating import chat_link, chat_safe, defang, http_url, md_safe, one_line, slack_safe
from tests.snippets import marked

ARTICLE = "http://news.example.test/real-article"


def make_hit(**changes: object) -> HitRecord:
    data: dict[str, object] = dict(
        id=1,
        watchlist="cartels",
        title="Cartel news",
        link=ARTICLE,
        feed="Example Feed",
        terms=("cartel",),
        snippet="the cartel said",
        score=1.5,
        published=datetime(2026, 11, 27, 14, 5, tzinfo=UTC),
        found_at=datetime(2026, 11, 27, 14, 6, tzinfo=UTC),
        snippets=(marked("the **cartel** said"),),
    )
    data.update(changes)
    return HitRecord(**data)  # type: ignore[arg-type]


class Anchors(HTMLParser):
    """Collects tags and hrefs of an HTML body."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))


def parse_html(body: str) -> Anchors:
    parser = Anchors()
    parser.feed(body)
    return parser


# -- mediums --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "medium"),
    [
        ("mailto://127.0.0.1:25/?to=a@b.example", Medium.EMAIL),
        ("mailtos://user:pass@smtp.example.org", Medium.EMAIL),
        ("sendgrid://key:from@example.org/to@example.org", Medium.EMAIL),
        ("slack://T1/B2/C3", Medium.SLACK),
        ("https://hooks.slack.com/services/T1/B2/C3", Medium.SLACK),
        ("discord://1234/token", Medium.MARKDOWN),
        ("https://discord.com/api/webhooks/1/x", Medium.MARKDOWN),
        ("mmosts://host/token", Medium.MARKDOWN),
        ("msteams://a/b/c", Medium.MARKDOWN),
        ("rocket://user:pass@host/#chan", Medium.MARKDOWN),
        ("json://host/path", Medium.TEXT),
        ("ntfy://topic", Medium.TEXT),
        ("tgram://123:abc/456", Medium.CHAT),
        ("matrixs://user:pass@matrix.example.org/#room", Medium.CHAT),
        ("mastodons://token@mastodon.example", Medium.CHAT),
        ("pover://user@token", Medium.TEXT),
        ("https://example.org/hook", Medium.TEXT),
    ],
)
def test_medium_by_scheme(url: str, medium: Medium) -> None:
    assert medium_for(url) is medium


# -- HTML -----------------------------------------------------------------------------------


def test_html_escapes_title_feed_snippet_and_terms() -> None:
    hit = make_hit(
        title='<script>alert("x")</script> <b>bold</b>',
        feed="Feed <img src=x onerror=alert(1)>",
        terms=("<i>cartel</i>",),
        snippets=(marked('a **cartel** "<iframe src=//evil>"'),),
    )
    body = render_alert(hit, Medium.EMAIL).body
    parsed = parse_html(body)
    assert not {"script", "b", "img", "i", "iframe"} & set(parsed.tags)
    assert "&lt;script&gt;" in body and "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "<mark>cartel</mark>" in body  # highlight added after escaping
    assert parsed.hrefs and set(parsed.hrefs) == {ARTICLE}


def test_html_quote_in_link_stays_inside_the_attribute() -> None:
    link = 'https://news.example.test/a?q="x" onmouseover="alert(1)'.replace(" ", "%20")
    body = render_alert(make_hit(link=link), Medium.EMAIL).body
    parsed = parse_html(body)
    assert set(parsed.hrefs) == {link}
    assert 'onmouseover="' not in body


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "data:text/html,<b>x</b>", "http://user:pw@evil.example/", "ftp://x.example/f", "http://a b.example/"]
)
def test_html_non_http_link_gets_no_href(link: str) -> None:
    body = render_alert(make_hit(link=link), Medium.EMAIL).body
    assert parse_html(body).hrefs == []
    assert "javascript:" not in body


# -- Slack ----------------------------------------------------------------------------------

EVIL = "<!channel> Cartel <@U123> <http://evil.example|click> <!here> & [x](http://evil.example) `code`"


def test_slack_neutralises_mentions_and_links() -> None:
    message = render_alert(make_hit(title=EVIL, feed="<!subteam^S1>", snippets=(marked(f"**cartel** {EVIL}"),)), Medium.SLACK)
    text = message.title + "\n" + message.body
    for control in ("<!", "<@", "<http", "http://evil", "](http://evil", "|click", "`"):
        assert control not in text, control
    assert re.findall(r"\]\((https?://[^)]+)\)", message.body) == [ARTICLE]
    assert "**cartel**" in message.body  # the highlight, as Slack bold


def test_slack_safe_is_idempotent_and_one_line() -> None:
    once = slack_safe("a\r\nb <@U1> http://x.example")
    assert once == slack_safe(once)
    assert "\n" not in once and "<" not in once and "hxxp://x[.]example" in once


# -- Discord-like markdown ---------------------------------------------------------------------


def test_markdown_neutralises_everyone_here_user_and_channel_mentions() -> None:
    title = "@everyone look <@123> <@&456> <#789> @here [phish](https://evil.example)"
    message = render_alert(make_hit(title=title, feed="@here feed"), Medium.MARKDOWN)
    text = message.title + "\n" + message.body
    assert not re.search("@(?!\u200b)", text)  # every @ is followed by a zero-width space
    assert not re.search(r"<[@#!]", text)
    assert re.findall(r"\]\((https?://[^)]+)\)", message.body) == [ARTICLE]
    assert "https://evil" not in text


def test_markdown_link_cannot_end_early_or_ping() -> None:
    link = "https://news.example.test/@user/a_(b)|c"
    body = render_alert(make_hit(link=link), Medium.MARKDOWN).body
    (found,) = re.findall(r"\]\((\S+)\)$", body.splitlines()[0])
    assert found == chat_link(link, "markdown") == "https://news.example.test/%40user/a_%28b%29%7Cc"


def test_md_safe_keeps_text_readable() -> None:
    assert md_safe("Cárteles & *DEA* @everyone") == "Cárteles ＆ ∗DEA∗ @\u200beveryone"


# -- every chat escaper ------------------------------------------------------------------------

_TOKENS = st.sampled_from(["a", "b", "-", ".", "。", "com", "рф", "@", "@@", "\u200b", "<", ">", "[", "]", "(", ")",
                           "[.]", "[.](", "*", "_", "~", "http", "https://", "://", " ", "\n", "x.y"])


@given(st.lists(_TOKENS, max_size=25).map("".join))
def test_chat_escapers_are_idempotent_and_leave_no_ping_or_domain(text: str) -> None:
    for esc in (slack_safe, md_safe, chat_safe):
        once = esc(text)
        assert esc(once) == once
        assert not re.search("@(?!\u200b)", once)
        # a host name: labels of letters, digits and inner hyphens
        assert not re.search(r"(?<![\w-])[^\W_](?:[\w-]*[^\W_])?[.。](com|рф)(?![\w-])", once)
        assert not re.search(r"https?://", once)
        assert "<" not in once and "[CQ" not in once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see evil.com.", "see evil[.]com."),
        ("www.gov.uk/x", "www[.]gov[.]uk/x"),
        ("пример.рф", "пример[.]рф"),
        ("evil。com", "evil[.]com"),
        ("https://a.example/p", "hxxps://a[.]example/p"),
        ("U.S. e.g. 3.5bn v2.0 a.b", "U.S. e.g. 3.5bn v2.0 a.b"),  # not host names
        ("Node.js", "Node[.]js"),  # over-matching on purpose: no TLD list to age
    ],
)
def test_defang(text: str, expected: str) -> None:
    assert defang(text) == expected
    assert defang(expected) == expected


def test_a_match_inside_a_domain_cannot_keep_it_whole() -> None:
    hit = make_hit(snippets=(marked("visit **cartel**.com now"),))
    for medium in (Medium.SLACK, Medium.MARKDOWN, Medium.CHAT):
        body = render_alert(hit, medium).body
        assert "cartel.com" not in body.replace("**", "")
        assert "[.]com" in body


# -- plain text -----------------------------------------------------------------------------


def test_text_title_and_fields_have_no_line_breaks_or_controls() -> None:
    hit = make_hit(title="Line one\r\nBcc: victim@example.org\x1b[31m\u202eevil", feed="F\x00eed")
    message = render_alert(hit, Medium.TEXT)
    assert "\n" not in message.title and "\r" not in message.title
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", message.title + message.body)
    assert message.body.splitlines()[0] == "Line one Bcc: victim@example.org[31mevil"
    assert "**" not in message.body  # text drops the highlight markers


def test_http_url_accepts_only_plain_http_links() -> None:
    assert http_url(" https://a.example/x?y=1 ") == "https://a.example/x?y=1"
    for bad in (None, "", "javascript:alert(1)", "https://u@a.example/", "http:///x", "http://a.example/\nx"):
        assert http_url(bad) is None


def test_console_line_is_one_line() -> None:
    line = render_console(make_hit(title="a\nb", link="javascript:x"))
    assert "\n" not in line and line.startswith("HIT [cartels] a b")


# -- truncation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("héllo wörld", 5, "héll…"),
        ("cafe\u0301 noir", 5, "caf…"),  # NFC-less accent kept with its letter
        ("ab👍🏽cd", 4, "ab…"),  # skin tone stays with its emoji
        ("ab👨\u200d👩\u200d👧cd", 6, "ab…"),  # family ZWJ sequence whole or not at all
        ("x🇲🇽🇺🇸y", 4, "x🇲🇽…"),  # flags (regional-indicator pairs) kept whole
        ("short", 10, "short"),
    ],
)
def test_truncate_never_splits_a_character(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


@given(st.text(max_size=80), st.integers(min_value=1, max_value=60))
def test_truncate_is_a_prefix_within_the_limit(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    assert cut == text or (cut.endswith("…") and text.startswith(cut[:-1].rstrip()))


def test_long_title_cut_with_ellipsis_at_an_emoji() -> None:
    title = "Á" * 140 + "👍🏽" * 40
    for medium in Medium:
        message = render_alert(make_hit(title=title), medium, limits=Limits(150, 100_000))
        assert len(message.title) <= 150 and message.title.endswith("…")
        assert "\U0001f44d…" not in message.title  # never a thumb without its skin tone
        assert one_line(message.title) == message.title


def test_body_fits_the_limit_by_cutting_fields_not_markup() -> None:
    hit = make_hit(title="T" * 400, snippets=(marked("**cartel** " + "é" * 2000),))
    for medium in Medium:
        limit = 1500 if medium is Medium.EMAIL else 500  # the HTML frame alone is ~900
        message = render_alert(hit, medium, limits=Limits(100, limit))
        assert len(message.body) <= limit, medium
        assert "é…" in message.body or "é" not in message.body  # the snippet was cut, with an ellipsis
        if medium is Medium.EMAIL:
            assert message.body.rstrip().endswith("</html>")
        if medium in (Medium.SLACK, Medium.MARKDOWN):
            assert re.findall(r"\]\((https?://[^)]+)\)", message.body) == [ARTICLE]
